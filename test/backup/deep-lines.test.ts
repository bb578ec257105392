// A crafted file must not hold the main thread in one JSON.parse, nor between cancels (review R1):
// a line nested deeper than the format needs is refused before it is parsed, and reading yields
// by bytes as well as by records, so a few huge lines do not keep a Cancel waiting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { BackupError, importBackup, verifyBackup } from '../../main/backup/index.ts';
import { MAX_JSON_DEPTH } from '../../main/backup/format.ts';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import { ageEncryptToFile, ageKeygen, hashTree, makeTempDir, type AgeKeyPair } from './helpers.ts';

const joined = (lines: readonly string[]): string => lines.map((l) => `${l}\n`).join('');
const header = (version: number, counts: Record<string, number>): string => JSON.stringify({ type: 'header', format: 'ephemera-backup', version, created: 1, counts, includesIdentity: false });

describe('crafted lines that would hold the main thread', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let keys: AgeKeyPair;
  const write = (name: string, lines: readonly string[]): string => {
    const p = join(tmp.dir, name);
    ageEncryptToFile(joined(lines), keys.recipient, p);
    return p;
  };
  const outcome = (p: Promise<unknown>): Promise<unknown> => p.then((v) => v, (e: unknown) => e);

  beforeAll(() => {
    tmp = makeTempDir('ephemera-deep-lines-');
    keys = ageKeygen(tmp.dir);
  });
  afterAll(() => tmp.cleanup());

  it('a line nested deeper than the format allows is refused before it is parsed, and an import of it changes nothing', async () => {
    const counts = { contacts: 1, conversations: 0, messages: 0, secrets: 0 };
    const depth = 1_000_000;
    const deep = `{"type":"contact","id":"c-1","x":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const file = write('deep.age', [header(1, counts), deep, JSON.stringify({ type: 'end', counts })]);
    const err = await outcome(verifyBackup(file, { keys: { identities: [keys.identity] } }));
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).code).toBe('MALFORMED');
    expect((err as BackupError).message).toContain(`line 2 nests deeper than ${MAX_JSON_DEPTH} levels`);

    const { vault } = await Vault.create(join(tmp.dir, 'p'), 'vault password 123', { kdf: TEST_KDF });
    try {
      vault.kvForget('test-checkpoint', 'none');
      const before = hashTree(join(tmp.dir, 'p'));
      const e2 = await outcome(importBackup(vault, file, { keys: { identities: [keys.identity] }, trustUnsigned: true }));
      expect((e2 as BackupError).code).toBe('MALFORMED');
      expect((e2 as BackupError).message).toContain('nests deeper than');
      expect(hashTree(join(tmp.dir, 'p'))).toEqual(before);
    } finally {
      vault.lock();
    }
  });

  it('nesting within the bound, and brackets inside strings, still read', async () => {
    const counts = { contacts: 0, conversations: 1, messages: 1, secrets: 0 };
    const file = write('brackets.age', [
      header(1, counts),
      JSON.stringify({ type: 'conversation', id: 'v-1', kind: 'direct', contactId: 'c-1', title: 'T', lastActivity: 1, unread: 0 }),
      JSON.stringify({ type: 'message', id: 'm-1', conversationId: 'v-1', direction: 'in', sender: 'c-1', sentAt: 1, receivedAt: 1, text: `${'[{'.repeat(5000)} "\\" ${'}]'.repeat(5000)}`, state: 'read' }),
      JSON.stringify({ type: 'end', counts }),
    ]);
    const r = await verifyBackup(file, { keys: { identities: [keys.identity] } });
    expect(r.counts.messages).toBe(1);
  });

  it('a cancel is honoured between a few huge lines, not only every 1,024 records', async () => {
    // Twelve group lines of 2 MiB each: valid, few, large.
    const groups = Array.from({ length: 12 }, (_, i) => JSON.stringify({ type: 'group', id: i.toString(16).padStart(32, '0'), name: `g${i}`, log: { pad: 'x'.repeat(2 << 20) } }));
    const counts = { contacts: 0, conversations: 0, messages: 0, secrets: 0, groups: groups.length };
    const file = write('huge-lines.age', [header(4, counts), ...groups, JSON.stringify({ type: 'end', counts })]);
    expect((await verifyBackup(file, { keys: { identities: [keys.identity] } })).counts.groups).toBe(12);
    const abort = new AbortController();
    const err = await outcome(
      verifyBackup(file, {
        keys: { identities: [keys.identity] },
        signal: abort.signal,
        // Cancelled as soon as the header is read: the next turn of the event loop must notice.
        onProgress: () => abort.abort(),
      }),
    );
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).code).toBe('CANCELLED');
  });
});
