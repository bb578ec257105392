// Backup signatures: who wrote a backup, not only who can read it. A forger who knows only the
// age recipient (the public `age1…` string) writes a stream and encrypts it with the real `age`
// tool; it must not merge into a profile without the user's confirmation, and never brings
// verified marks. The test vector in docs/backup-format.md is checked here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { Decrypter } from 'age-encryption';
import { join } from 'node:path';
import { IdentityKeyPair, PrivateKey } from '@signalapp/libsignal-client';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import { BackupError, exportBackup, importBackup, inspectBackup, openBackup, UNVERIFIED_IMPORTS } from '../../main/backup/index.ts';
import { SIGNATURE_CONTEXT, signedMessage, signerFingerprint, StreamHash, verifySignature } from '../../main/backup/signature.ts';
import { readRecords, splitLines } from '../../main/backup/stream.ts';
import { ScryptIdentity } from '../../main/backup/scrypt.ts';
import { ageEncryptToFile, ageKeygen, ageRun, hashTree, makeTempDir, sampleBackupLines, type AgeKeyPair } from './helpers.ts';

// The vector (docs/backup-format.md, "Signature"): private key 32 x 0x01, this stream.
const VECTOR_PRIVATE = '01'.repeat(32);
const VECTOR_SIGNER = 'BaTgkpK2UcJ4uXcsVp9fqbsT2Qa0araMnfncK0QJ+KIJ';
const VECTOR_LINES = [
  `{"type":"header","format":"ephemera-backup","version":2,"created":1763900000000,"counts":{"contacts":1,"conversations":1,"messages":1,"secrets":0},"includesIdentity":false,"signer":"${VECTOR_SIGNER}"}`,
  '{"type":"contact","id":"c1","handle":"alice","displayName":"Alice","identityKey":"BQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","verifiedKey":"BQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","identityChanged":false,"createdAt":1763800000000}',
  '{"type":"conversation","id":"v1","kind":"direct","contactId":"c1","title":"Alice","lastActivity":1763890000000,"unread":0}',
  '{"type":"message","id":"m1","conversationId":"v1","direction":"in","sender":"c1","sentAt":1763890000000,"receivedAt":1763890000500,"text":"hi","state":"read"}',
  '{"type":"end","counts":{"contacts":1,"conversations":1,"messages":1,"secrets":0}}',
  '{"type":"signature","signature":"4FNlCYTq8Ln5DenZGmfxQnwgOg19fJGcoddM2Q2w7sOgvzwiyA/pf9T3IX9eLJzlwPAGDtv71R/jo4h7MznVCQ=="}',
];
const VECTOR_HASH = '9856339597d9b0488fd96de57585b44175faaff51e251dcd81973e527d11035c';
const VECTOR_MESSAGE = '657068656d6572612d6261636b75702f7632207369676e61747572650a9856339597d9b0488fd96de57585b44175faaff51e251dcd81973e527d11035c';

const joined = (lines: readonly string[]): string => lines.map((l) => `${l}\n`).join('');

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (e) {
    return e instanceof BackupError ? e.code : `untyped: ${String(e)}`;
  }
}

/** Every record of a plaintext stream, read the way import reads it (bytes cut into pieces, hashed as they pass). */
function readBytes(text: string, cut = 7): ReturnType<typeof readRecords> extends Generator<infer R> ? R[] : never {
  const bytes = Buffer.from(text, 'utf8');
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += cut) pieces.push(bytes.subarray(at, at + cut));
  const hash = new StreamHash();
  return [...readRecords(splitLines(pieces, hash), hash)];
}

describe('backup signature: the test vector', () => {
  it('is the documented one, and verifies', () => {
    const key = PrivateKey.deserialize(new Uint8Array(Buffer.from(VECTOR_PRIVATE, 'hex')));
    expect(Buffer.from(key.getPublicKey().serialize()).toString('base64')).toBe(VECTOR_SIGNER);
    const hash = new StreamHash();
    for (const l of VECTOR_LINES) hash.addLine(l);
    expect(Buffer.from(hash.beforeLastLine()).toString('hex')).toBe(VECTOR_HASH);
    expect(Buffer.from(signedMessage(hash.beforeLastLine())).toString('hex')).toBe(VECTOR_MESSAGE);
    expect(SIGNATURE_CONTEXT).toBe('ephemera-backup/v2 signature\n');
    const signature = Buffer.from((JSON.parse(VECTOR_LINES.at(-1)!) as { signature: string }).signature, 'base64');
    expect(verifySignature(key.getPublicKey().serialize(), hash.beforeLastLine(), signature)).toBe(true);
    // XEdDSA is randomized: a fresh signature differs and verifies too.
    const fresh = key.sign(signedMessage(hash.beforeLastLine()));
    expect(Buffer.from(fresh).equals(signature)).toBe(false);
    expect(verifySignature(key.getPublicKey().serialize(), hash.beforeLastLine(), fresh)).toBe(true);
    // The whole stream reads, by bytes in any cut and by lines, and names its signer.
    for (const cut of [1, 5, 64, 100_000]) {
      const records = readBytes(joined(VECTOR_LINES), cut);
      expect(records.at(-1)).toEqual({ kind: 'signed', signer: new Uint8Array(Buffer.from(VECTOR_SIGNER, 'base64')) });
    }
    expect([...readRecords(VECTOR_LINES)].at(-1)?.kind).toBe('signed');
  });

  it('is printed in docs/backup-format.md exactly', () => {
    const doc = readFileSync(new URL('../../docs/backup-format.md', import.meta.url), 'utf8');
    for (const s of [VECTOR_PRIVATE, VECTOR_HASH, VECTOR_MESSAGE, ...VECTOR_LINES]) expect(doc).toContain(s);
  });

  it('breaks when any line changes, even in a way that keeps its meaning', () => {
    for (let i = 0; i < VECTOR_LINES.length - 1; i++) {
      // One more space after the opening brace: the same JSON value, different bytes.
      const changed = VECTOR_LINES.map((l, k) => (k === i ? `{ ${l.slice(1)}` : l));
      expect(codeOf(() => readBytes(joined(changed))), `line ${i + 1}`).toBe('BAD_SIGNATURE');
    }
    const flip = (s: string): string => s.replace('"signature":"4', '"signature":"5');
    expect(codeOf(() => readBytes(joined([...VECTOR_LINES.slice(0, -1), flip(VECTOR_LINES.at(-1)!)])))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => readBytes(joined(VECTOR_LINES.slice(0, -1))))).toBe('BAD_SIGNATURE');
    // Another key named as the signer, with the same signature.
    const other = Buffer.from(IdentityKeyPair.generate().publicKey.serialize()).toString('base64');
    expect(codeOf(() => readBytes(joined([VECTOR_LINES[0]!.replace(VECTOR_SIGNER, other), ...VECTOR_LINES.slice(1)])))).toBe('BAD_SIGNATURE');
    // Structure: a second signature, data after it, a signature before the end line, one in an unsigned stream.
    expect(codeOf(() => readBytes(joined([...VECTOR_LINES, VECTOR_LINES.at(-1)!])))).toBe('MALFORMED');
    expect(codeOf(() => readBytes(joined([...VECTOR_LINES, VECTOR_LINES[3]!])))).toBe('MALFORMED');
    expect(codeOf(() => readBytes(joined([...VECTOR_LINES.slice(0, 4), VECTOR_LINES[5]!, VECTOR_LINES[4]!])))).toBe('MALFORMED');
    const unsigned = VECTOR_LINES[0]!.replace(`,"signer":"${VECTOR_SIGNER}"`, '');
    expect(codeOf(() => readBytes(joined([unsigned, ...VECTOR_LINES.slice(1)])))).toBe('MALFORMED');
  });
});

describe('importing backups by who signed them', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let keys: AgeKeyPair;
  let victim: Vault;
  let victimDir: string;
  const ownIdentity = IdentityKeyPair.generate();
  const forgerIdentity = IdentityKeyPair.generate();
  const bobKey = IdentityKeyPair.generate().publicKey.serialize();
  const attackerKey = IdentityKeyPair.generate().publicKey.serialize();

  const newVault = async (name: string, identity?: IdentityKeyPair): Promise<Vault> => {
    const { vault } = await Vault.create(join(tmp.dir, name), 'vault password 123', { kdf: TEST_KDF });
    if (identity) vault.setAccountSecret('e2e-identity-key-pair', identity.serialize());
    return vault;
  };

  beforeAll(async () => {
    tmp = makeTempDir('ephemera-signature-');
    keys = ageKeygen(tmp.dir);
    victimDir = join(tmp.dir, 'victim');
    victim = await newVault('victim', ownIdentity);
    victim.upsertContact({ id: 'c-bob', handle: 'bob', displayName: 'Bob', identityKey: bobKey, verifiedKey: bobKey, identityChanged: false, createdAt: 1 });
    victim.upsertConversation({ id: 'v-bob', kind: 'direct', contactId: 'c-bob', title: 'Bob', lastActivity: 1, unread: 0 });
    victim.appendMessages([{ id: 'real-1', conversationId: 'v-bob', direction: 'in', sender: 'c-bob', sentAt: 1, text: 'a real message', state: 'read' }]);
  });
  afterAll(() => {
    victim.lock();
    tmp.cleanup();
  });

  /** Imports `file` into the victim expecting a refusal with `code`, and proves nothing changed. */
  async function expectRefused(file: string, code: string, options: { trustUnsigned?: boolean } = {}): Promise<BackupError> {
    const before = hashTree(victimDir);
    const err = await importBackup(victim, file, { keys: { identities: [keys.identity] }, ...options }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).code).toBe(code);
    expect(hashTree(victimDir)).toEqual(before);
    return err as BackupError;
  }

  it('a forged unsigned stream (made with only the recipient, by the age tool) is refused, then imported without verified marks on confirmation', async () => {
    // The forger's stream: version 1, a contact marked verified, invented messages.
    const forged = join(tmp.dir, 'forged-unsigned.age');
    ageEncryptToFile(joined(sampleBackupLines(2)), keys.recipient, forged);
    const err = await expectRefused(forged, 'UNTRUSTED');
    expect(err.message).toContain('not signed');
    expect((await inspectBackup(victim, forged, { keys: { identities: [keys.identity] } })).signer).toEqual({ status: 'unsigned' });

    const r = await importBackup(victim, forged, { keys: { identities: [keys.identity] }, trustUnsigned: true });
    expect(r.signer).toEqual({ status: 'unsigned' });
    expect(r.added.messages).toBe(4);
    const alice = victim.getContact('c-alice')!;
    expect(alice.verifiedKey).toBeUndefined();
    // Nor its identity key: it would be the key first contact trusts for the handle (pinned by the forger).
    expect(alice.identityKey).toBeUndefined();
    // What the profile had is kept as it was.
    expect(Buffer.from(victim.getContact('c-bob')!.verifiedKey!)).toEqual(Buffer.from(bobKey));
    // Both conversations got messages from the file (v-bob already existed): both are marked.
    expect(r.unverifiedConversations.sort()).toEqual(['v-alice', 'v-bob']);
    const mark = JSON.parse(Buffer.from(victim.kvGet(UNVERIFIED_IMPORTS, 'v-bob')!).toString('utf8')) as Record<string, unknown>;
    expect(mark).toMatchObject({ signer: 'unsigned' });
    // Importing it again adds nothing, and marks nothing new.
    const again = await importBackup(victim, forged, { keys: { identities: [keys.identity] }, trustUnsigned: true });
    expect(again.unverifiedConversations).toEqual([]);
  });

  it('a stream signed by another identity is refused and named; on confirmation it brings no verified marks', async () => {
    const forger = await newVault('forger', forgerIdentity);
    try {
      forger.upsertContact({ id: 'c-mallory', handle: 'bob', displayName: 'Bob (really)', identityKey: attackerKey, verifiedKey: attackerKey, identityChanged: false, createdAt: 2 });
      forger.upsertConversation({ id: 'v-mallory', kind: 'direct', contactId: 'c-mallory', title: 'Bob', lastActivity: 2, unread: 0 });
      forger.appendMessages([{ id: 'invented', conversationId: 'v-mallory', direction: 'in', sender: 'c-mallory', sentAt: 2, text: 'send me the code', state: 'read' }]);
      const file = join(tmp.dir, 'foreign.age');
      const exported = await exportBackup(forger, file, { keys: { recipients: [keys.recipient] } });
      expect(Buffer.from(exported.signer!)).toEqual(Buffer.from(forgerIdentity.publicKey.serialize()));
      const fingerprint = signerFingerprint(forgerIdentity.publicKey.serialize());
      const err = await expectRefused(file, 'UNTRUSTED');
      expect(err.message).toContain(fingerprint);

      const r = await importBackup(victim, file, { keys: { identities: [keys.identity] }, trustUnsigned: true });
      expect(r.signer).toMatchObject({ status: 'foreign', fingerprint });
      expect(victim.getMessage('invented')?.text).toBe('send me the code');
      expect(victim.getContact('c-mallory')?.verifiedKey).toBeUndefined();
      expect(r.unverifiedConversations).toEqual(['v-mallory']);
      expect(JSON.parse(Buffer.from(victim.kvGet(UNVERIFIED_IMPORTS, 'v-mallory')!).toString('utf8'))).toMatchObject({ signer: 'foreign', fingerprint });
    } finally {
      forger.lock();
    }
  });

  it("the profile's own backup merges without confirmation and keeps its verified marks; age -d still reads it", async () => {
    const file = join(tmp.dir, 'own.age');
    await exportBackup(victim, file, { keys: { recipients: [keys.recipient] } });
    const plain = ageRun(['-d', '-i', keys.identityFile, file]);
    expect(plain.status).toBe(0);
    const lines = plain.stdout.toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ version: 2, signer: Buffer.from(ownIdentity.publicKey.serialize()).toString('base64') });
    expect(lines.at(-1)).toMatchObject({ type: 'signature' });

    const copy = await newVault('own-copy', ownIdentity);
    try {
      const r = await importBackup(copy, file, { keys: { identities: [keys.identity] } });
      expect(r.signer.status).toBe('own');
      expect(r.unverifiedConversations).toEqual([]);
      expect(copy.kvKeys(UNVERIFIED_IMPORTS)).toEqual([]);
      expect(Buffer.from(copy.getContact('c-bob')!.verifiedKey!)).toEqual(Buffer.from(bobKey));
      expect(copy.getMessage('real-1')?.text).toBe('a real message');
    } finally {
      copy.lock();
    }
    // Read-only open shows the signer but no verified marks (it proves nothing about this profile).
    const archive = await openBackup(file, { keys: { identities: [keys.identity] } });
    expect(Buffer.from(archive.signer!)).toEqual(Buffer.from(ownIdentity.publicKey.serialize()));
    expect(archive.contacts.every((c) => c.verifiedKey === undefined)).toBe(true);
  });

  it('an own backup rewritten in place while it is imported (same age header, other chunks) is refused and changes nothing', async () => {
    // Whoever knows the passphrase can keep the genuine header and nonce and write new chunks
    // under the same file key: every chunk of the new file authenticates. Import reads the file
    // once: the genuine first megabyte (header, signer: this profile) is read when the swap
    // happens, the rest comes from the rewritten file, which completes the stream as well as a
    // forger can (a forged message, an end line whose counts match, the genuine signature line).
    // Only the signature, checked last, tells: the transaction the import applied it in rolls back.
    const pass = 'correct horse battery staple 42';
    const source = await newVault('swap-source', ownIdentity);
    const file = join(tmp.dir, 'own-swapped.age');
    try {
      source.upsertContact({ id: 'c-bob', handle: 'bob', displayName: 'Bob', identityKey: bobKey, verifiedKey: bobKey, identityChanged: false, createdAt: 1 });
      source.upsertConversation({ id: 'v-bob', kind: 'direct', contactId: 'c-bob', title: 'Bob', lastActivity: 1, unread: 0 });
      // About 1.4 MB of lines: more than the first read (16 chunks of 64 KiB).
      const batch = Array.from({ length: 3000 }, (_, n) => ({ id: `swap-${n}`, conversationId: 'v-bob', direction: 'in' as const, sender: 'c-bob', sentAt: 10 + n, text: `${n} ${'x'.repeat(440)}`, state: 'read' as const }));
      source.appendMessages(batch);
      await exportBackup(source, file, { keys: { passphrase: pass, workFactor: 10 } });
    } finally {
      source.lock();
    }
    const bytes = readFileSync(file);
    const headerEnd = bytes.indexOf(0x0a, bytes.indexOf('\n---') + 1) + 1;
    const decrypter = new Decrypter();
    decrypter.addIdentity(new ScryptIdentity(pass));
    const fileKey = await decrypter.decryptHeader(bytes.subarray(0, headerEnd));
    const nonce = bytes.subarray(headerEnd, headerEnd + 16);
    const payloadKey = Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
    const chunk = 64 * 1024;
    const kept = 16;
    const chunkNonce = (counter: number, last: boolean): Buffer => {
      const n = Buffer.alloc(12);
      n.writeUIntBE(counter, 5, 6);
      n[11] = last ? 1 : 0;
      return n;
    };
    // The genuine plaintext, chunk by chunk, to write a continuation of its first `kept` chunks.
    const payload = bytes.subarray(headerEnd + 16);
    const plainChunks: Buffer[] = [];
    for (let i = 0, at = 0; at < payload.length; i++, at += chunk + 16) {
      const ct = payload.subarray(at, Math.min(payload.length, at + chunk + 16));
      const d = createDecipheriv('chacha20-poly1305', payloadKey, chunkNonce(i, at + chunk + 16 >= payload.length), { authTagLength: 16 });
      d.setAuthTag(ct.subarray(ct.length - 16));
      plainChunks.push(Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]));
    }
    expect(plainChunks.length).toBeGreaterThan(kept);
    const plain = Buffer.concat(plainChunks).toString('utf8');
    const cut = Buffer.concat(plainChunks.slice(0, kept)).toString('utf8').length;
    const lineEnd = plain.indexOf('\n', cut) + 1;
    const head = plain.slice(0, lineEnd);
    const lines = plain.trimEnd().split('\n');
    const signatureLine = lines.at(-1)!;
    expect(signatureLine).toContain('"type":"signature"');
    const messagesKept = head.split('\n').filter((l) => l.includes('"type":"message"')).length;
    const counts = { contacts: 1, conversations: 1, messages: messagesKept + 1, secrets: 0 };
    const rest = [
      plain.slice(cut, lineEnd),
      `${JSON.stringify({ type: 'message', id: 'swapped-1', conversationId: 'v-bob', direction: 'in', sender: 'c-bob', sentAt: 2, receivedAt: 2, text: 'forged', state: 'read' })}\n`,
      `${JSON.stringify({ type: 'end', counts })}\n`,
      `${signatureLine}\n`,
    ].join('');
    const cipher = createCipheriv('chacha20-poly1305', payloadKey, chunkNonce(kept, true), { authTagLength: 16 });
    const forgedTail = Buffer.concat([cipher.update(rest, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    const forged = Buffer.concat([bytes.subarray(0, headerEnd + 16 + kept * (chunk + 16)), forgedTail]);

    const before = hashTree(victimDir);
    const messagesBefore = victim.countMessages();
    let swapped = false;
    const err = await importBackup(victim, file, {
      keys: { passphrase: pass },
      onProgress: (p) => {
        if (p.phase === 'apply' && !swapped) {
          swapped = true;
          writeFileSync(file, forged);
        }
      },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(swapped).toBe(true);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).code).toBe('BAD_SIGNATURE');
    expect(victim.getMessage('swapped-1')).toBeUndefined();
    expect(victim.getMessage('swap-0')).toBeUndefined();
    expect(victim.countMessages()).toBe(messagesBefore);
    expect(hashTree(victimDir)).toEqual(before);
  });

  it('an own backup edited with only the recipient: a changed line is refused; a stripped signature needs confirmation', async () => {
    const file = join(tmp.dir, 'own-2.age');
    await exportBackup(victim, file, { keys: { recipients: [keys.recipient] } });
    const lines = ageRun(['-d', '-i', keys.identityFile, file]).stdout.toString('utf8').trimEnd().split('\n');
    const write = (name: string, ls: string[]): string => {
      const p = join(tmp.dir, name);
      ageEncryptToFile(joined(ls), keys.recipient, p);
      return p;
    };
    const message = lines.findIndex((l) => l.includes('"a real message"'));
    expect(message).toBeGreaterThan(0);
    const edited = lines.map((l, i) => (i === message ? l.replace('a real message', 'a fake message') : l));
    await expectRefused(write('edited.age', edited), 'BAD_SIGNATURE');
    // Even with the confirmation for unsigned backups: a broken signature is damage, not a question.
    await expectRefused(write('edited-2.age', edited), 'BAD_SIGNATURE', { trustUnsigned: true });
    // Dropping the signer and the signature makes it unsigned: it then needs the confirmation.
    const header = JSON.parse(edited[0]!) as Record<string, unknown>;
    delete header.signer;
    const stripped = [JSON.stringify(header), ...edited.slice(1, -1)];
    await expectRefused(write('stripped.age', stripped), 'UNTRUSTED');
    const toV1 = (l: string): string => {
      const v = JSON.parse(l) as Record<string, unknown>;
      if (v.type !== 'contact') return l;
      const { verifiedKey, ...rest } = v;
      return JSON.stringify({ ...rest, verified: verifiedKey !== undefined });
    };
    const downgraded = [JSON.stringify({ ...header, version: 1 }), ...stripped.slice(1).map(toV1)];
    await expectRefused(write('downgraded.age', downgraded), 'UNTRUSTED');
  });
});
