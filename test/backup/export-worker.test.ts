// Export's worker thread (main/backup/worker-export.ts) writes the same file as export on one
// thread: its own copy of the message line encoder must stay byte-identical to format.ts's.
// Real vaults, the real age tool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import type { NewMessage } from '../../main/vault/api.ts';
import { exportBackup, importBackup } from '../../main/backup/index.ts';
import { openAgeFile } from '../../main/backup/age-file.ts';
import { ageKeygen, ageRun, makeTempDir, type AgeKeyPair } from './helpers.ts';

/** The whole plaintext of an age file. */
async function plaintextOf(file: string, identity: string): Promise<Buffer> {
  const opened = await openAgeFile(file, { identities: [identity] });
  try {
    return Buffer.concat([...opened.chunks()]);
  } finally {
    opened.close();
  }
}

// Texts that JSON escapes (quotes, backslashes, control characters, lone surrogates) or that
// are multi-byte in UTF-8, and long ones that cross the 1 MiB batch and 64 KiB chunk edges.
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u2028', '\ud800', '\udfff', 'é', '東', '😀', 'a'), maxLength: 60 }),
  fc.integer({ min: 5_000, max: 16_000 }).map((n) => '東"'.repeat(n)),
);
const times = fc.oneof(fc.integer({ min: 0, max: 8_640_000_000_000_000 }), fc.constant(0), fc.constant(1_700_000_000_123));

describe('export on a worker thread', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let keys: AgeKeyPair;
  beforeAll(() => {
    tmp = makeTempDir();
    keys = ageKeygen(tmp.dir);
  });
  afterAll(() => tmp.cleanup());

  it('writes exactly the plaintext export on one thread writes, for any messages and tombstones', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ text, sentAt: times, receivedAt: times, out: fc.boolean(), state: fc.constantFrom('queued', 'sent', 'delivered', 'read', 'received', 'failed' as const), tomb: fc.boolean() }), { minLength: 1, maxLength: 40 }),
        async (rows) => {
          const dir = join(tmp.dir, `p${run++}`);
          const vault = (await Vault.create(dir, 'vault password 123', { kdf: TEST_KDF })).vault;
          try {
            vault.upsertContact({ id: 'c-a', handle: 'alice', displayName: 'A', identityChanged: false, createdAt: 1 });
            vault.upsertConversation({ id: 'v-a', kind: 'direct', contactId: 'c-a', title: 'A', lastActivity: 1, unread: 0 });
            const batch: NewMessage[] = rows.map((r, i) => ({ id: `m-${i}`, conversationId: 'v-a', direction: r.out ? 'out' : 'in', sender: r.out ? 'self' : 'c-a', sentAt: r.sentAt, receivedAt: r.receivedAt, text: r.text, state: r.state }));
            vault.appendMessages(batch);
            const tombs = new Set(rows.flatMap((r, i) => (r.tomb ? [`m-${i}`] : [])));
            const messageStatus = Object.assign((id: string) => (tombs.has(id) ? ('deleted' as const) : undefined), { tombstones: tombs.size });
            const common = { keys: { recipients: [keys.recipient] }, now: () => 1234, signingKey: null, messageStatus };
            await exportBackup(vault, join(dir, 'main.age'), { ...common, thread: 'main' });
            await exportBackup(vault, join(dir, 'worker.age'), { ...common, thread: 'worker' });
            const [one, two] = [await plaintextOf(join(dir, 'main.age'), keys.identity), await plaintextOf(join(dir, 'worker.age'), keys.identity)];
            expect(two.equals(one)).toBe(true);
          } finally {
            vault.lock();
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a signed export of 30,000 messages: age -d opens it and import takes it back whole', async () => {
    const dir = join(tmp.dir, 'big');
    const vault = (await Vault.create(dir, 'vault password 123', { kdf: TEST_KDF })).vault;
    const copy = (await Vault.create(join(tmp.dir, 'big-copy'), 'vault password 123', { kdf: TEST_KDF })).vault;
    try {
      const { IdentityKeyPair } = await import('@signalapp/libsignal-client');
      vault.setAccountSecret('e2e-identity-key-pair', IdentityKeyPair.generate().serialize());
      vault.upsertContact({ id: 'c-a', handle: 'alice', displayName: 'A', identityChanged: false, createdAt: 1 });
      vault.upsertConversation({ id: 'v-a', kind: 'direct', contactId: 'c-a', title: 'A', lastActivity: 1, unread: 0 });
      for (let b = 0; b < 30_000; b += 5000) {
        vault.appendMessages(Array.from({ length: 5000 }, (_, k) => ({ id: `m-${b + k}`, conversationId: 'v-a', direction: 'in' as const, sender: 'c-a', sentAt: b + k, receivedAt: b + k, text: `message ${b + k} café 東京`, state: 'received' as const })));
      }
      const file = join(dir, 'signed.age');
      const done: number[] = [];
      await exportBackup(vault, file, { keys: { recipients: [keys.recipient] }, thread: 'worker', onProgress: (p) => done.push(p.done) });
      expect(done.at(-1)).toBe(30_000);
      const r = ageRun(['-d', '-i', keys.identityFile, file]);
      expect(r.status).toBe(0);
      const lines = r.stdout.toString('utf8').trimEnd().split('\n');
      expect(lines).toHaveLength(30_000 + 5);
      expect(JSON.parse(lines.at(-1) ?? '')).toMatchObject({ type: 'signature' });
      // The signature verifies (import checks it, and this profile has no identity: it asks to trust it).
      const imported = await importBackup(copy, file, { keys: { identities: [keys.identity] }, trustUnsigned: true });
      expect(imported.signer.status).toBe('foreign');
      expect(imported.added.messages).toBe(30_000);
    } finally {
      vault.lock();
      copy.lock();
    }
  });

  it('cancelled while the worker writes: no file is left, partial or final', async () => {
    const dir = join(tmp.dir, 'cancel');
    const vault = (await Vault.create(dir, 'vault password 123', { kdf: TEST_KDF })).vault;
    try {
      vault.upsertContact({ id: 'c-a', handle: 'alice', displayName: 'A', identityChanged: false, createdAt: 1 });
      vault.upsertConversation({ id: 'v-a', kind: 'direct', contactId: 'c-a', title: 'A', lastActivity: 1, unread: 0 });
      vault.appendMessages(Array.from({ length: 20_000 }, (_, k) => ({ id: `m-${k}`, conversationId: 'v-a', direction: 'in' as const, sender: 'c-a', sentAt: k, receivedAt: k, text: `message ${k}`, state: 'received' as const })));
      const out = join(tmp.dir, 'cancel-out');
      const { mkdirSync } = await import('node:fs');
      mkdirSync(out);
      const ac = new AbortController();
      const p = exportBackup(vault, join(out, 'x.age'), {
        keys: { recipients: [keys.recipient] },
        thread: 'worker',
        signal: ac.signal,
        onProgress: (pr) => {
          if (pr.done >= 8192) ac.abort();
        },
      });
      await expect(p).rejects.toMatchObject({ code: 'CANCELLED' });
      expect(readdirSync(out)).toEqual([]);
    } finally {
      vault.lock();
    }
  });
});
