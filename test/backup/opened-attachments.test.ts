// Files of an opened backup before any import (issue #15): through the contract, saveAttachment
// and attachmentRead with the opened backupId give the file's bytes straight from the age file
// (byte for byte, in pieces at any offset, several 64 KiB chunks); a file whose bytes were left
// out is NOT_AVAILABLE, an unknown one UNKNOWN_MESSAGE; a backup swapped on disk after it was
// opened is refused and leaves no file at the target. The real CLI saves one with
// `open-backup FILE save-attachment ATTACHMENT_ID PATH`. Real Messengers on real vaults, real age.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityKeyPair } from '@signalapp/libsignal-client';
import { openMessenger, type Messenger } from '../../main/messenger.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { ATTACHMENT_CHUNKS, MESSAGE_ATTACHMENTS, chunkKey, writeRecord } from '../../main/messenger/attachment-store.ts';
import { runCli } from '../cli/run.ts';

const PASSWORD = 'opened attachments password 1234';
const PASSPHRASE = { kind: 'passphrase' as const, passphrase: 'amber kettle harbour 73 slowly' };
const CONTENT = randomBytes(5 * 65_536 + 123);
const OTHER = randomBytes(5 * 65_536 + 123);

let dir: string;
let alice: Messenger;
let reader: Messenger;

async function profile(name: string, content: Buffer | undefined): Promise<Messenger> {
  const p = join(dir, name);
  const { vault } = await Vault.create(p, PASSWORD, { kdf: TEST_KDF });
  vault.setAccountSecret('e2e-identity-key-pair', IdentityKeyPair.generate().serialize());
  if (content) {
    vault.upsertContact({ id: 'c-b', handle: 'bob', displayName: 'Bob', identityChanged: false, createdAt: 1 });
    vault.upsertConversation({ id: 'v-b', kind: 'direct', contactId: 'c-b', title: 'Bob', lastActivity: 2, unread: 0 });
    vault.appendMessages([{ id: 'm-photo', conversationId: 'v-b', direction: 'in', sender: 'c-b', sentAt: 1, receivedAt: 1, text: 'the photo', state: 'received' }]);
    vault.transaction(() => {
      writeRecord(vault, { id: 'att_photo', messageId: 'm-photo', name: 'photo.png', type: 'image/png', size: content.length, blob: randomBytes(16).toString('base64url'), key: randomBytes(32).toString('base64url'), digest: randomBytes(32).toString('base64url'), downloaded: true });
      vault.kvSet(MESSAGE_ATTACHMENTS, 'm-photo', Buffer.from('att_photo'));
      for (let i = 0; i * 65_536 < content.length; i++) vault.kvSet(ATTACHMENT_CHUNKS, chunkKey('att_photo', i), content.subarray(i * 65_536, (i + 1) * 65_536));
    });
  }
  vault.lock();
  const m = await openMessenger({ profileDir: p, kdf: TEST_KDF, backupWorkFactor: 10 });
  await m.unlock({ password: PASSWORD });
  return m;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ephemera-opened-attachments-'));
  alice = await profile('alice', CONTENT);
  reader = await profile('reader', undefined);
});

afterAll(async () => {
  await alice.close();
  await reader.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('files of an opened backup', () => {
  it('are saved and read from the backup file before any import; left-out, unknown and swapped ones are refused', async () => {
    const full = join(dir, 'full.age');
    const small = join(dir, 'small.age');
    await alice.backupExport({ jobId: 'x-full', path: full, protection: PASSPHRASE, includeIdentity: false });
    await alice.backupExport({ jobId: 'x-small', path: small, protection: PASSPHRASE, includeIdentity: false, includeAttachments: false });

    const { backupId } = await reader.backupOpen({ jobId: 'o-full', path: full, key: PASSPHRASE });
    const out = join(dir, 'photo.out');
    expect(await reader.saveAttachment({ backupId, attachmentId: 'att_photo', path: out })).toEqual({ bytes: CONTENT.length });
    expect(readFileSync(out).equals(CONTENT)).toBe(true);
    // The profile that opened it has no such attachment of its own.
    await expect(reader.saveAttachment({ attachmentId: 'att_photo', path: join(dir, 'nope.out') })).rejects.toMatchObject({ code: 'UNKNOWN_MESSAGE' });

    // Pieces at any offset (a preview's reads), across chunk boundaries.
    for (const [offset, length] of [[0, 1000], [65_500, 200_000], [5 * 65_536, 256 * 1024]] as const) {
      const r = await reader.attachmentRead({ backupId, attachmentId: 'att_photo', offset, length });
      expect(r.size).toBe(CONTENT.length);
      expect(Buffer.from(r.bytes, 'base64').equals(CONTENT.subarray(offset, offset + length))).toBe(true);
    }
    await expect(reader.attachmentRead({ backupId, attachmentId: 'att_missing', offset: 0, length: 10 })).rejects.toMatchObject({ code: 'UNKNOWN_MESSAGE' });
    await expect(reader.saveAttachment({ backupId: 'b-not-open', attachmentId: 'att_photo', path: join(dir, 'x.out') })).rejects.toMatchObject({ code: 'UNKNOWN_BACKUP' });

    const opened = await reader.backupOpen({ jobId: 'o-small', path: small, key: PASSPHRASE });
    await expect(reader.saveAttachment({ backupId: opened.backupId, attachmentId: 'att_photo', path: join(dir, 'small.out') })).rejects.toMatchObject({ code: 'NOT_AVAILABLE' });
    expect(existsSync(join(dir, 'small.out'))).toBe(false);

    // Another backup (same passphrase, same ids, other bytes) copied over the opened file: refused, nothing written.
    const bob = await profile('bob', OTHER);
    const swapped = join(dir, 'swapped.age');
    await bob.backupExport({ jobId: 'x-bob', path: swapped, protection: PASSPHRASE, includeIdentity: false });
    await bob.close();
    const copy = join(dir, 'copy.age');
    copyFileSync(full, copy);
    const again = await reader.backupOpen({ jobId: 'o-copy', path: copy, key: PASSPHRASE });
    copyFileSync(swapped, copy);
    await expect(reader.saveAttachment({ backupId: again.backupId, attachmentId: 'att_photo', path: join(dir, 'swapped.out') })).rejects.toMatchObject({ code: 'BACKUP_CORRUPT' });
    expect(readdirSync(dir).filter((f) => f.startsWith('swapped.out'))).toEqual([]);
  });

  it('the CLI saves one with open-backup FILE save-attachment ATTACHMENT_ID PATH', async () => {
    const file = join(dir, 'cli.age');
    await alice.backupExport({ jobId: 'x-cli', path: file, protection: { kind: 'passphrase', passphrase: 'cli backup passphrase 5' }, includeIdentity: false });
    const out = join(dir, 'cli-photo.out');
    const r = await runCli(['--json', 'open-backup', file, 'save-attachment', 'att_photo', out], { EPHEMERA_KDF: 'test', EPHEMERA_BACKUP_PASSPHRASE: 'cli backup passphrase 5' });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ attachmentId: 'att_photo', bytes: CONTENT.length });
    expect(readFileSync(out).equals(CONTENT)).toBe(true);
    const bad = await runCli(['open-backup', file, 'save-attachment', 'att_photo'], { EPHEMERA_KDF: 'test', EPHEMERA_BACKUP_PASSPHRASE: 'cli backup passphrase 5' });
    expect(bad.code).not.toBe(0);
  });
});
