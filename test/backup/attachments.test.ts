// Attachments in backups (docs/backup-format.md "Attachments"): files of every chunk-edge size
// go through export and import between real vaults, and through the real `age -d`, whose output
// is parsed by the documented layout alone; left out on request; a version-2 file made before
// attachments existed still imports; a damaged attachment section changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IdentityKeyPair } from '@signalapp/libsignal-client';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import { BackupError, exportBackup, importBackup, openBackup, verifyBackup } from '../../main/backup/index.ts';
import { ATTACHMENT_CHUNKS, MESSAGE_ATTACHMENTS, chunkKey, readRecord, recordOf, writeRecord } from '../../main/messenger/attachment-store.ts';
import { attachmentSink, attachmentSource } from '../../main/messenger/backup-attachments.ts';
import { saveAttachment } from '../../main/messenger/attachments.ts';
import { markImportedTombstones } from '../../main/messenger/backup-records.ts';
import { ageEncryptToFile, ageKeygen, ageRun, hashTree, makeTempDir, type AgeKeyPair } from './helpers.ts';

const PASS = 'attachment backup passphrase ✓';
const WF = 10;
const CHUNK = 64 * 1024;
const IDENTITY = IdentityKeyPair.generate().serialize();
const b64url = (n: number): string => randomBytes(n).toString('base64url');

interface File {
  messageId: string;
  attachmentId: string;
  name: string;
  bytes: Buffer;
}

/** Sizes at every chunk edge, and one of several chunks. */
const SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 12_345];

async function newVault(dir: string): Promise<Vault> {
  const vault = (await Vault.create(dir, 'vault password 123', { kdf: TEST_KDF })).vault;
  vault.setAccountSecret('e2e-identity-key-pair', IDENTITY);
  return vault;
}

/** Stores a file the way the messenger does (attachment-store.ts): record, link, 64 KiB sealed chunks. */
function storeFile(vault: Vault, f: File, downloaded = true): void {
  vault.transaction(() => {
    writeRecord(vault, { id: f.attachmentId, messageId: f.messageId, name: f.name, type: 'application/octet-stream', size: f.bytes.length, blob: b64url(16), key: b64url(32), digest: b64url(32), downloaded });
    vault.kvSet(MESSAGE_ATTACHMENTS, f.messageId, Buffer.from(f.attachmentId));
    if (downloaded) for (let i = 0; i * CHUNK < f.bytes.length; i++) vault.kvSet(ATTACHMENT_CHUNKS, chunkKey(f.attachmentId, i), f.bytes.subarray(i * CHUNK, (i + 1) * CHUNK));
  });
}

function fill(vault: Vault): File[] {
  vault.upsertContact({ id: 'c-bob', handle: 'bob', displayName: 'Bob', identityChanged: false, createdAt: 1000 });
  vault.upsertConversation({ id: 'v-bob', kind: 'direct', contactId: 'c-bob', title: 'Bob', lastActivity: 9000, unread: 0 });
  const files = SIZES.map((size, i) => ({ messageId: `m-file-${i}`, attachmentId: `att_${i}_${b64url(8)}`, name: `holiday-${size}.bin`, bytes: randomBytes(size) }));
  vault.appendMessages([
    { id: 'm-text', conversationId: 'v-bob', direction: 'in', sender: 'c-bob', sentAt: 1, receivedAt: 2, text: 'before the files', state: 'received' },
    ...files.map((f, i) => ({ id: f.messageId, conversationId: 'v-bob', direction: 'out' as const, sender: 'self', sentAt: 10 + i, receivedAt: 10 + i, text: i === 1 ? 'a caption' : '', state: 'sent' as const })),
    { id: 'm-later', conversationId: 'v-bob', direction: 'in', sender: 'c-bob', sentAt: 99, receivedAt: 99, text: 'not downloaded yet', state: 'received' },
  ]);
  for (const f of files) storeFile(vault, f);
  // A received file never downloaded: its line says so, and no bytes follow.
  storeFile(vault, { messageId: 'm-later', attachmentId: 'att_later', name: 'big-video.mp4', bytes: Buffer.alloc(5 * CHUNK) }, false);
  return files;
}

async function saved(vault: Vault, dir: string, attachmentId: string): Promise<Buffer> {
  const out = join(dir, `${attachmentId}.out`);
  await saveAttachment(vault, undefined, attachmentId, out);
  return readFileSync(out);
}

describe('backups with attachments', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let keys: AgeKeyPair;
  let source: Vault;
  let files: File[];
  let withFiles: string;
  let idFile: string;
  beforeAll(async () => {
    tmp = makeTempDir();
    keys = ageKeygen(tmp.dir);
    source = await newVault(join(tmp.dir, 'source'));
    files = fill(source);
    withFiles = join(tmp.dir, 'with-files.age');
    idFile = join(tmp.dir, 'with-files-id.age');
    const r = await exportBackup(source, withFiles, { keys: { passphrase: PASS, workFactor: WF }, attachments: attachmentSource(source) });
    expect(r.counts).toEqual({ contacts: 1, conversations: 1, messages: 8, secrets: 0, attachments: 7 });
    await exportBackup(source, idFile, { keys: { recipients: [keys.recipient] }, attachments: attachmentSource(source) });
  });
  afterAll(() => {
    source.lock();
    tmp.cleanup();
  });

  it('export then import restores every file byte for byte; a second import adds nothing', async () => {
    const target = await newVault(join(tmp.dir, 'target'));
    try {
      const first = await importBackup(target, withFiles, { keys: { passphrase: PASS }, attachments: attachmentSink(target), markTombstones: markImportedTombstones(target) });
      expect(first.added).toMatchObject({ messages: 8, attachments: 7 });
      expect(first.header.version).toBe(3);
      for (const f of files) {
        expect(recordOf(target, f.messageId)).toMatchObject({ id: f.attachmentId, name: f.name, size: f.bytes.length, downloaded: true });
        expect((await saved(target, tmp.dir, f.attachmentId)).equals(f.bytes)).toBe(true);
      }
      // Not downloaded at export: restored as not downloaded (fetched from the relay on demand), no bytes.
      expect(readRecord(target, 'att_later')).toMatchObject({ messageId: 'm-later', downloaded: false, size: 5 * CHUNK });
      expect(target.kvGet(ATTACHMENT_CHUNKS, chunkKey('att_later', 0))).toBeUndefined();
      expect(readRecord(target, 'att_later')?.blob).toBe(readRecord(source, 'att_later')?.blob);

      const again = await importBackup(target, withFiles, { keys: { passphrase: PASS }, attachments: attachmentSink(target) });
      expect(again.added.messages).toBe(0);
      expect(again.added.attachments).toBeUndefined();
      expect((await saved(target, tmp.dir, files[5]!.attachmentId)).equals(files[5]!.bytes)).toBe(true);
    } finally {
      target.lock();
    }
  });

  it('age -d output is one JSON object per line, and the documented layout rebuilds every file', () => {
    const r = ageRun(['-d', '-i', keys.identityFile, idFile]);
    expect(r.status, r.stderr).toBe(0);
    const text = r.stdout.toString('utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ type: 'header', version: 3, counts: { attachments: 7 } });
    const types = lines.map((l) => String(l.type));
    // The attachment section comes after every message and before the end line.
    expect(types.lastIndexOf('message')).toBeLessThan(types.indexOf('attachment'));
    expect(types.lastIndexOf('attachment-chunk')).toBeLessThan(types.indexOf('end'));
    // Rebuild by the documented rule: an attachment line, then its chunk lines in index order.
    const rebuilt = new Map<string, Buffer[]>();
    let current = '';
    for (const l of lines) {
      if (l.type === 'attachment') {
        current = String(l.id);
        rebuilt.set(current, []);
        expect(Object.keys(l).sort()).toEqual(['blob', 'contentType', 'digest', 'id', 'included', 'key', 'messageId', 'name', 'size', 'type']);
      } else if (l.type === 'attachment-chunk') {
        expect(l.attachment).toBe(current);
        expect(l.index).toBe(rebuilt.get(current)!.length);
        rebuilt.get(current)!.push(Buffer.from(String(l.data), 'base64'));
      }
    }
    for (const f of files) expect(Buffer.concat(rebuilt.get(f.attachmentId) ?? [Buffer.alloc(1)]).equals(f.bytes)).toBe(true);
    expect(rebuilt.get('att_later')).toEqual([]);
    expect(lines.find((l) => l.id === 'att_later')).toMatchObject({ included: false });
    expect(lines.at(-2)).toEqual({ type: 'end', counts: { contacts: 1, conversations: 1, messages: 8, secrets: 0, attachments: 7 } });
  });

  it('left out on request: the lines say what the files were, no bytes follow, import restores them as not downloaded', async () => {
    const small = join(tmp.dir, 'without-files.age');
    await exportBackup(source, small, { keys: { recipients: [keys.recipient] }, attachments: attachmentSource(source), includeAttachmentBytes: false });
    const r = ageRun(['-d', '-i', keys.identityFile, small]);
    const lines = r.stdout.toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.type === 'attachment-chunk')).toEqual([]);
    expect(lines.filter((l) => l.type === 'attachment').map((l) => l.included)).toEqual(Array(7).fill(false));
    const target = await newVault(join(tmp.dir, 'target-small'));
    try {
      const res = await importBackup(target, small, { keys: { identities: [keys.identity] }, attachments: attachmentSink(target) });
      expect(res.added).toMatchObject({ messages: 8, attachments: 7 });
      expect(recordOf(target, files[5]!.messageId)).toMatchObject({ name: files[5]!.name, downloaded: false });
      await expect(saveAttachment(target, undefined, files[5]!.attachmentId, join(tmp.dir, 'nope'))).rejects.toMatchObject({ code: 'RELAY_UNREACHABLE' });
    } finally {
      target.lock();
    }
  });

  it('open-backup lists each message\'s file and finds it by name, keeping no bytes', async () => {
    const archive = await openBackup(withFiles, { keys: { passphrase: PASS } });
    expect(archive.attachmentOf(files[2]!.messageId)).toMatchObject({ id: files[2]!.attachmentId, name: files[2]!.name, size: CHUNK - 1, downloaded: true });
    expect(archive.attachmentOf('m-text')).toBeUndefined();
    expect(archive.search(`holiday-${CHUNK + 1}`).map((h) => h.message.id)).toEqual([files[4]!.messageId]);
  });

  it('a profile without attachments still writes version 2, as before', async () => {
    const plain = await newVault(join(tmp.dir, 'plain'));
    try {
      plain.appendMessages([{ id: 'm1', conversationId: 'v1', direction: 'in', sender: 'c1', sentAt: 1, receivedAt: 1, text: 'hi', state: 'received' }]);
      const file = join(tmp.dir, 'plain.age');
      const r = await exportBackup(plain, file, { keys: { recipients: [keys.recipient] }, attachments: attachmentSource(plain) });
      expect(r.counts).toEqual({ contacts: 0, conversations: 0, messages: 1, secrets: 0 });
      const lines = ageRun(['-d', '-i', keys.identityFile, file]).stdout.toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines[0]).toMatchObject({ version: 2, counts: { contacts: 0, conversations: 0, messages: 1, secrets: 0 } });
      expect(Object.keys(lines[0]!.counts as object)).not.toContain('attachments');
    } finally {
      plain.lock();
    }
  });

  it('a version-2 backup made before attachments existed still imports (fixture)', async () => {
    const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
    const identity = Buffer.from(readFileSync(join(fixtures, 'v2-before-attachments.identity.txt'), 'utf8').trim(), 'base64');
    const target = (await Vault.create(join(tmp.dir, 'old'), 'vault password 123', { kdf: TEST_KDF })).vault;
    try {
      target.setAccountSecret('e2e-identity-key-pair', new Uint8Array(identity));
      const r = await importBackup(target, join(fixtures, 'v2-before-attachments.age'), { keys: { passphrase: 'fixture passphrase, version 2' }, attachments: attachmentSink(target) });
      expect(r.header.version).toBe(2);
      expect(r.signer.status).toBe('own');
      expect(r.added).toEqual({ contacts: 1, conversations: 1, messages: 2, secrets: 0 });
      expect(target.getMessage('m-1')?.text).toBe('old backup, hello');
      expect(target.kvKeys(MESSAGE_ATTACHMENTS)).toEqual([]);
    } finally {
      target.lock();
    }
  });

  describe('a damaged attachment section is refused whole, the profile unchanged', () => {
    const header = (version: number, attachments?: number): string =>
      JSON.stringify({ type: 'header', format: 'ephemera-backup', version, created: 1, counts: { contacts: 0, conversations: 0, messages: 1, secrets: 0, ...(attachments !== undefined ? { attachments } : {}) }, includesIdentity: false });
    const message = JSON.stringify({ type: 'message', id: 'm1', conversationId: 'v1', direction: 'in', sender: 'c1', sentAt: 1, receivedAt: 1, text: '', state: 'received' });
    const att = (size: number, included = true): string =>
      JSON.stringify({ type: 'attachment', id: 'a1', messageId: 'm1', name: 'x.bin', contentType: '', size, blob: b64url(16), key: b64url(32), digest: b64url(32), included });
    const chunk = (index: number, bytes: number): string => JSON.stringify({ type: 'attachment-chunk', attachment: 'a1', index, data: Buffer.alloc(bytes, 7).toString('base64') });
    const end = (attachments?: number): string => JSON.stringify({ type: 'end', counts: { contacts: 0, conversations: 0, messages: 1, secrets: 0, ...(attachments !== undefined ? { attachments } : {}) } });
    const cases: Array<[string, string[], RegExp]> = [
      ['attachment lines in a version-2 file', [header(2), message, att(1), chunk(0, 1), end(1)], /version-2/],
      ['a missing chunk', [header(3, 1), message, att(CHUNK + 1), chunk(0, CHUNK), end(1)], /ends after 1 of its 2 chunks/],
      ['chunks out of order', [header(3, 1), message, att(CHUNK + 1), chunk(1, 1), chunk(0, CHUNK), end(1)], /chunk 1 where chunk 0/],
      ['a chunk of the wrong size', [header(3, 1), message, att(CHUNK + 1), chunk(0, CHUNK - 1), chunk(1, 2), end(1)], /holds 65535 bytes/],
      ['a chunk of a file left out', [header(3, 1), message, att(1, false), chunk(0, 1), end(1)], /does not follow/],
      ['an end line that miscounts files', [header(3, 1), message, att(1), chunk(0, 1), end(0)], /counts/],
    ];
    for (const [what, lines, pattern] of cases) {
      it(what, async () => {
        const file = join(tmp.dir, `bad-${what.replace(/\W+/g, '-')}.age`);
        ageEncryptToFile(`${lines.join('\n')}\n`, keys.recipient, file);
        const err = await verifyBackup(file, { keys: { identities: [keys.identity] } }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(BackupError);
        expect((err as BackupError).code).toBe('MALFORMED');
        expect((err as BackupError).message).toMatch(pattern);
        const dir = join(tmp.dir, `bad-target-${what.replace(/\W+/g, '-')}`);
        const target = await newVault(dir);
        try {
          target.appendMessages([{ id: 'm1', conversationId: 'v1', direction: 'in', sender: 'c1', sentAt: 1, receivedAt: 1, text: '', state: 'received' }]);
          const before = hashTree(dir);
          await expect(importBackup(target, file, { keys: { identities: [keys.identity] }, trustUnsigned: true, attachments: attachmentSink(target) })).rejects.toMatchObject({ code: 'MALFORMED' });
          expect(hashTree(dir)).toEqual(before);
        } finally {
          target.lock();
        }
      });
    }
  });
});
