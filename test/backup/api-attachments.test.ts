// Attachments in backups through the contract (shared/api.ts), as the app uses it: backupExport
// carries the files unless includeAttachments is false; backupOpen lists an opened backup's files
// by attachmentsOf with its backupId (not the profile's); backupImport into another profile
// restores them byte for byte. Real Messengers on real vaults.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityKeyPair } from '@signalapp/libsignal-client';
import { openMessenger, type Messenger } from '../../main/messenger.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { ATTACHMENT_CHUNKS, chunkKey, writeRecord, linkAttachment } from '../../main/messenger/attachment-store.ts';

const PASSWORD = 'api attachments password 1234';
const PASSPHRASE = { kind: 'passphrase' as const, passphrase: 'violet tram ladder 58 quietly' };
const CONTENT = randomBytes(2 * 65_536 + 5);
const IDENTITY = IdentityKeyPair.generate().serialize();

let dir: string;
let alice: Messenger;
let other: Messenger;

async function profile(name: string, fill: (v: Vault) => void): Promise<Messenger> {
  const p = join(dir, name);
  const { vault } = await Vault.create(p, PASSWORD, { kdf: TEST_KDF });
  vault.setAccountSecret('e2e-identity-key-pair', IDENTITY);
  fill(vault);
  vault.lock();
  const m = await openMessenger({ profileDir: p, kdf: TEST_KDF });
  await m.unlock({ password: PASSWORD });
  return m;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ephemera-api-attachments-'));
  alice = await profile('alice', (vault) => {
    vault.upsertContact({ id: 'c-b', handle: 'bob', displayName: 'Bob', identityChanged: false, createdAt: 1 });
    vault.upsertConversation({ id: 'v-b', kind: 'direct', contactId: 'c-b', title: 'Bob', lastActivity: 2, unread: 0 });
    vault.appendMessages([{ id: 'm-file', conversationId: 'v-b', direction: 'in', sender: 'c-b', sentAt: 1, receivedAt: 1, text: 'the plan', state: 'received' }]);
    vault.transaction(() => {
      writeRecord(vault, { id: 'att_plan', messageId: 'm-file', name: 'plan.pdf', type: 'application/pdf', size: CONTENT.length, blob: randomBytes(16).toString('base64url'), key: randomBytes(32).toString('base64url'), digest: randomBytes(32).toString('base64url'), downloaded: true });
      linkAttachment(vault, 'm-file', 'att_plan');
      for (let i = 0; i * 65_536 < CONTENT.length; i++) vault.kvSet(ATTACHMENT_CHUNKS, chunkKey('att_plan', i), CONTENT.subarray(i * 65_536, (i + 1) * 65_536));
    });
  });
  other = await profile('other', () => undefined);
});

afterAll(async () => {
  await alice.close();
  await other.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('attachments in backups through the contract', () => {
  it('exports with or without the bytes, lists an opened backup\'s files by its id, imports them', async () => {
    const full = join(dir, 'full.age');
    const small = join(dir, 'small.age');
    await alice.backupExport({ jobId: 'job-full', path: full, protection: PASSPHRASE, includeIdentity: false });
    await alice.backupExport({ jobId: 'job-small', path: small, protection: PASSPHRASE, includeIdentity: false, includeAttachments: false });
    expect(statSync(full).size - statSync(small).size).toBeGreaterThan(CONTENT.length);

    const opened = await other.backupOpen({ jobId: 'job-open', path: full, key: PASSPHRASE });
    expect(await other.attachmentsOf({ messageIds: ['m-file'], backupId: opened.backupId })).toEqual([
      { id: 'att_plan', messageId: 'm-file', name: 'plan.pdf', size: CONTENT.length, type: 'application/pdf', downloaded: true },
    ]);
    // Not the profile's: it has no such message.
    expect(await other.attachmentsOf({ messageIds: ['m-file'] })).toEqual([]);
    const openedSmall = await other.backupOpen({ jobId: 'job-open-small', path: small, key: PASSPHRASE });
    expect(await other.attachmentsOf({ messageIds: ['m-file'], backupId: openedSmall.backupId })).toMatchObject([{ id: 'att_plan', downloaded: false }]);
    await expect(other.attachmentsOf({ messageIds: ['m-file'], backupId: 'b-not-open' })).rejects.toMatchObject({ code: 'UNKNOWN_BACKUP' });

    await other.backupImport({ jobId: 'job-import', path: full, key: PASSPHRASE });
    expect(await other.attachmentsOf({ messageIds: ['m-file'] })).toMatchObject([{ id: 'att_plan', name: 'plan.pdf', downloaded: true }]);
    const out = join(dir, 'plan.out');
    await other.saveAttachment({ attachmentId: 'att_plan', path: out });
    expect(readFileSync(out).equals(CONTENT)).toBe(true);
  });
});
