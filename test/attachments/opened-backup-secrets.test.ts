// What an opened backup keeps in memory to read its files again (issue #15): the plaintext of one
// small file kept for the window's preview reads is zeroed when another file replaces it, when
// the backup is closed and when the profile locks (the test holds the very buffer through the
// module's test hook); and the archive keeps the age file key (zeroed at close), never the
// passphrase, yet reads its files again with it. Real Messengers on real vaults, real age files.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityKeyPair } from '@signalapp/libsignal-client';
import { openMessenger, type Messenger } from '../../main/messenger.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { ATTACHMENT_CHUNKS, chunkKey, writeRecord, linkAttachment } from '../../main/messenger/attachment-store.ts';
import { previewTestHook } from '../../main/messenger/backup-attachment-read.ts';
import { openBackup, readArchivedAttachment } from '../../main/backup/index.ts';

const PASSWORD = 'opened backup secrets password 1234';
const PASSPHRASE = 'velvet quarry lantern 41 gently';
const FILES = { att_a: randomBytes(3 * 65_536 + 7), att_b: randomBytes(65_536 + 99) } as const;

let dir: string;
let backupFile: string;
let reader: Messenger;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ephemera-opened-secrets-'));
  const p = join(dir, 'alice');
  const { vault } = await Vault.create(p, PASSWORD, { kdf: TEST_KDF });
  vault.setAccountSecret('e2e-identity-key-pair', IdentityKeyPair.generate().serialize());
  vault.upsertContact({ id: 'c-b', handle: 'bob', displayName: 'Bob', identityChanged: false, createdAt: 1 });
  vault.upsertConversation({ id: 'v-b', kind: 'direct', contactId: 'c-b', title: 'Bob', lastActivity: 2, unread: 0 });
  for (const [i, [id, content]] of Object.entries(FILES).entries()) {
    const messageId = `m-${id}`;
    vault.appendMessages([{ id: messageId, conversationId: 'v-b', direction: 'in', sender: 'c-b', sentAt: i + 1, receivedAt: i + 1, text: id, state: 'received' }]);
    vault.transaction(() => {
      writeRecord(vault, { id, messageId, name: `${id}.png`, type: 'image/png', size: content.length, blob: randomBytes(16).toString('base64url'), key: randomBytes(32).toString('base64url'), digest: randomBytes(32).toString('base64url'), downloaded: true });
      linkAttachment(vault, messageId, id);
      for (let c = 0; c * 65_536 < content.length; c++) vault.kvSet(ATTACHMENT_CHUNKS, chunkKey(id, c), content.subarray(c * 65_536, (c + 1) * 65_536));
    });
  }
  vault.lock();
  const alice = await openMessenger({ profileDir: p, kdf: TEST_KDF, backupWorkFactor: 10 });
  await alice.unlock({ password: PASSWORD });
  backupFile = join(dir, 'backup.age');
  await alice.backupExport({ jobId: 'x', path: backupFile, protection: { kind: 'passphrase', passphrase: PASSPHRASE }, includeIdentity: false });
  await alice.close();

  const rp = join(dir, 'reader');
  (await Vault.create(rp, PASSWORD, { kdf: TEST_KDF })).vault.lock();
  reader = await openMessenger({ profileDir: rp, kdf: TEST_KDF, backupWorkFactor: 10 });
  await reader.unlock({ password: PASSWORD });
});

afterAll(async () => {
  previewTestHook.kept = undefined;
  await reader.close();
  rmSync(dir, { recursive: true, force: true });
});

const zeroed = (b: Buffer): boolean => b.every((x) => x === 0);

describe('an opened backup\'s kept plaintext and keys', () => {
  it('zeroes the preview plaintext when replaced, when the backup is closed and when the profile locks', async () => {
    const kept: Buffer[] = [];
    previewTestHook.kept = (b) => kept.push(b);
    const key = { kind: 'passphrase' as const, passphrase: PASSPHRASE };
    const read = async (backupId: string, attachmentId: keyof typeof FILES, offset: number, length: number): Promise<Buffer> => {
      const r = await reader.attachmentRead({ backupId, attachmentId, offset, length });
      return Buffer.from(r.bytes, 'base64');
    };

    const { backupId } = await reader.backupOpen({ jobId: 'o1', path: backupFile, key });
    expect((await read(backupId, 'att_a', 0, 1000)).equals(FILES.att_a.subarray(0, 1000))).toBe(true);
    expect(kept).toHaveLength(1);
    expect(kept[0]!.equals(FILES.att_a)).toBe(true);
    // A second read of the same file comes from the kept buffer (no new one), as a copy of it.
    expect((await read(backupId, 'att_a', 65_000, 200_000)).equals(FILES.att_a.subarray(65_000, 265_000))).toBe(true);
    expect(kept).toHaveLength(1);

    // Another file replaces it: the first is zeroed.
    expect((await read(backupId, 'att_b', 10, 100)).equals(FILES.att_b.subarray(10, 110))).toBe(true);
    expect(kept).toHaveLength(2);
    expect(zeroed(kept[0]!)).toBe(true);
    expect(kept[1]!.equals(FILES.att_b)).toBe(true);

    // Closed: zeroed, and the backup is gone.
    await reader.backupClose({ backupId });
    expect(zeroed(kept[1]!)).toBe(true);
    await expect(reader.attachmentRead({ backupId, attachmentId: 'att_b', offset: 0, length: 10 })).rejects.toMatchObject({ code: 'UNKNOWN_BACKUP' });

    // Locked with a backup open: zeroed too.
    const again = await reader.backupOpen({ jobId: 'o2', path: backupFile, key });
    expect((await read(again.backupId, 'att_a', 0, 10)).equals(FILES.att_a.subarray(0, 10))).toBe(true);
    expect(kept).toHaveLength(3);
    expect(kept[2]!.equals(FILES.att_a)).toBe(true);
    await reader.lock();
    expect(zeroed(kept[2]!)).toBe(true);
    await reader.unlock({ password: PASSWORD });
    await expect(reader.attachmentRead({ backupId: again.backupId, attachmentId: 'att_a', offset: 0, length: 10 })).rejects.toMatchObject({ code: 'UNKNOWN_BACKUP' });
  });

  it('keeps the age file key, not the passphrase, reads files again with it, and zeroes it at close', async () => {
    const archive = await openBackup(backupFile, { keys: { passphrase: PASSPHRASE } });
    const source = archive.source!;
    expect(Object.keys(source.options.keys)).toEqual(['fileKey']);
    expect(JSON.stringify(source)).not.toContain(PASSPHRASE);
    const keys = source.options.keys as { fileKey: Uint8Array };
    expect(keys.fileKey).toHaveLength(16);
    expect(zeroed(Buffer.from(keys.fileKey))).toBe(false);

    const got: Buffer[] = [];
    await readArchivedAttachment(source, archive.attachmentById('att_b')!, (_i, data) => void got.push(Buffer.from(data)));
    expect(Buffer.concat(got).equals(FILES.att_b)).toBe(true);

    // A wrong file key (as after a swap of the file for another backup) opens nothing.
    const wrong = { ...source, options: { ...source.options, keys: { fileKey: randomBytes(16) } } };
    await expect(readArchivedAttachment(wrong, archive.attachmentById('att_b')!, () => undefined)).rejects.toMatchObject({ code: 'CORRUPT' });

    archive.close();
    expect(zeroed(Buffer.from(keys.fileKey))).toBe(true);
    expect(archive.source).toBeUndefined();
  });
});
