// Appends inside a receive batch (messages/batch-segments.ts, issue 18): the batch's texts of one
// conversation share one segment, sealed and inserted once just before the batch's COMMIT; reads
// in the same turn see them (from memory); a failed step leaves no entry; a deletion or a
// delete-for-everyone inside the batch leaves the text in no file; a redaction undone with its
// step leaves the segment as it was.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { decryptVaultDb, observeSubkeys, profileFiles, wordsIn, WORDS } from './deletion-scan.ts';
import { msg, tempProfile } from './helpers.ts';

const PASSWORD = 'pw-batch-segments';
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
observeSubkeys();

async function fresh(): Promise<{ dir: string; vault: Vault }> {
  const profile = tempProfile();
  cleanups.push(profile.cleanup);
  const { vault } = await Vault.create(profile.dir, PASSWORD, { kdf: TEST_KDF });
  cleanups.unshift(() => vault.lock());
  return { dir: profile.dir, vault };
}

/** Rows of message_segments, read with the vault locked. */
function segmentCount(dir: string): number {
  const db = new Database(join(dir, 'vault.db'), { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM message_segments').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Appends each message in its own batched step, as the receive path does per envelope. */
function receiveEach(vault: Vault, texts: readonly { conv: string; text: string }[]): string[] {
  return texts.map(({ conv, text }) => {
    const m = msg(conv, text);
    vault.batchedTransaction(() => vault.appendMessages([m]));
    return m.id;
  });
}

describe('appends of a receive batch', () => {
  it('share one segment per conversation, sealed at the commit; reads in the same turn see them', async () => {
    const { dir, vault } = await fresh();
    const items = Array.from({ length: 30 }, (_, i) => ({ conv: i % 3 === 0 ? 'conv-b' : 'conv-a', text: `text ${i}` }));
    const ids = receiveEach(vault, items);
    // Before the commit: the change feed (the search indexer), a page, and a stream that opens
    // segments (readChunk: not answered from recent appends) all see every message.
    expect(vault.changesSince(0, 100).upserts.map((m) => m.id)).toEqual(ids);
    expect(vault.pageMessages('conv-a', { limit: 100 }).map((m) => m.text)).toEqual(items.filter((x) => x.conv === 'conv-a').map((x) => x.text));
    expect([...vault.iterateMessages('conv-b')].map((m) => m.text)).toEqual(items.filter((x) => x.conv === 'conv-b').map((x) => x.text));
    vault.commitBatch();
    vault.lock();
    // One sealed segment per conversation (was one per text: 30).
    expect(segmentCount(dir)).toBe(2);
    const again = await Vault.unlock(dir, PASSWORD);
    try {
      expect([...again.iterateMessages('conv-a')].map((m) => m.text)).toEqual(items.filter((x) => x.conv === 'conv-a').map((x) => x.text));
      expect(ids.map((id) => again.getMessage(id)?.text)).toEqual(items.map((x) => x.text));
    } finally {
      again.lock();
    }
  });

  it('a failed step leaves no entry; the next batch starts a new segment', async () => {
    const { dir, vault } = await fresh();
    const [first] = receiveEach(vault, [{ conv: 'c', text: 'kept one' }]);
    const lost = msg('c', `lost ${WORDS[0]}`);
    expect(() =>
      vault.batchedTransaction(() => {
        vault.appendMessages([lost]);
        throw new Error('this envelope failed');
      }),
    ).toThrow('this envelope failed');
    const [second] = receiveEach(vault, [{ conv: 'c', text: 'kept two' }]);
    vault.commitBatch();
    const [third] = receiveEach(vault, [{ conv: 'c', text: 'next batch' }]);
    vault.commitBatch();
    expect(vault.getMessage(lost.id)).toBeUndefined();
    expect([...vault.iterateMessages('c')].map((m) => m.id)).toEqual([first, second, third]);
    vault.lock();
    expect(segmentCount(dir)).toBe(2);
    expect(decryptVaultDb(dir).found).toEqual([]);
  });

  it('a nested transaction undone inside a step that goes on leaves its text in no file', async () => {
    const { dir, vault } = await fresh();
    const kept = msg('c', 'kept');
    const lost = msg('c', `lost ${WORDS[0]}`);
    const after = msg('c', 'after');
    vault.batchedTransaction(() => {
      vault.appendMessages([kept]);
      expect(() =>
        vault.transaction(() => {
          vault.appendMessages([lost]);
          throw new Error('inner');
        }),
      ).toThrow('inner');
      vault.appendMessages([after]);
    });
    vault.commitBatch();
    expect(vault.getMessage(lost.id)).toBeUndefined();
    expect([...vault.iterateMessages('c')].map((m) => m.text)).toEqual(['kept', 'after']);
    vault.lock();
    expect(decryptVaultDb(dir).found).toEqual([]);
    const again = await Vault.unlock(dir, PASSWORD);
    try {
      expect([...again.iterateMessages('c')].map((m) => m.text)).toEqual(['kept', 'after']);
    } finally {
      again.lock();
    }
  });

  it('a delete or delete-for-everyone of a message still waiting for the commit leaves its text in no file', async () => {
    const { dir, vault } = await fresh();
    const [keep, redacted, deleted, alone] = receiveEach(vault, [
      { conv: 'c', text: 'stays' },
      { conv: 'c', text: `redacted ${WORDS[0]}` },
      { conv: 'c', text: `deleted ${WORDS[1]}` },
      { conv: 'd', text: `alone ${WORDS[2]}` },
    ]);
    // A received delete for everyone is a batched step too; a deletion of the only message of a
    // segment empties and removes it.
    vault.batchedTransaction(() => vault.redactMessages('c', [redacted!]));
    vault.batchedTransaction(() => vault.deleteMessages('d', [alone!]));
    vault.batchedTransaction(() => vault.deleteMessages('c', [deleted!]));
    vault.commitBatch();
    expect(vault.getMessage(keep!)?.text).toBe('stays');
    expect(vault.getMessage(redacted!)?.text).toBe('');
    expect(vault.getMessage(deleted!)).toBeUndefined();
    expect(vault.getMessage(alone!)).toBeUndefined();
    vault.lock();
    const scan = decryptVaultDb(dir);
    expect(scan.found).toEqual([]);
    expect(scan.segmentsOpened).toBe(1);
    for (const [name, bytes] of profileFiles(dir)) expect([name, wordsIn(bytes)]).toEqual([name, []]);
  });

  it('a redaction undone with its step leaves the waiting segment as it was, written at the commit', async () => {
    const { dir, vault } = await fresh();
    const [a, b] = receiveEach(vault, [
      { conv: 'c', text: 'first' },
      { conv: 'c', text: 'second' },
    ]);
    expect(() =>
      vault.batchedTransaction(() => {
        vault.redactMessages('c', [a!]);
        throw new Error('the delete for everyone failed');
      }),
    ).toThrow('the delete for everyone failed');
    vault.commitBatch();
    vault.lock();
    const again = await Vault.unlock(dir, PASSWORD);
    try {
      expect([a, b].map((id) => again.getMessage(id!)?.text)).toEqual(['first', 'second']);
    } finally {
      again.lock();
    }
  });
});
