// A message's content id in its sealed segment entry (AppendedMessage.contentId): read back by
// every read path, absent (no key) for messages appended without one, the old eight-element entry
// format unchanged for those, dropped by a delete for everyone, and in no file after a delete.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { open } from '../../main/vault/aead.ts';
import { VaultCorrupt } from '../../main/vault/errors.ts';
import { segmentAd } from '../../main/vault/messages/read.ts';
import { decodeSegment } from '../../main/vault/records.ts';
import { decryptVaultDb, key, observeSubkeys } from './deletion-scan.ts';
import { msg, testVaults } from './helpers.ts';

const vaults = testVaults();
observeSubkeys();
afterEach(() => vaults.cleanup());

/** Every entry of every segment of the locked vault at `dir`, opened with the observed subkey. */
function segmentEntries(dir: string): unknown[][] {
  const db = new Database(join(dir, 'vault.db'), { readonly: true });
  try {
    const rows = db.prepare<[], { id: number; conversation_id: string; sealed: Buffer }>('SELECT id, conversation_id, sealed FROM message_segments').all();
    return rows.flatMap((r) => JSON.parse(open(key('messages'), r.sealed, segmentAd(r.id, r.conversation_id)).toString('utf8')) as unknown[][]);
  } finally {
    db.close();
  }
}

describe('message content ids in the sealed entry', () => {
  it('are read back by get, page, bulk read and change feed; a message without one has no key', async () => {
    const { vault } = await vaults.fresh();
    const [withId, without] = vault.appendMessages([msg('conv-a', 'hello', { contentId: 'c'.repeat(32) }), msg('conv-a', 'no id')]);
    expect(withId!.contentId).toBe('c'.repeat(32));
    expect('contentId' in without!).toBe(false);
    expect(vault.getMessage(withId!.id)?.contentId).toBe('c'.repeat(32));
    expect('contentId' in vault.getMessage(without!.id)!).toBe(false);
    expect(vault.pageMessages('conv-a', { limit: 10 }).map((m) => m.contentId)).toEqual(['c'.repeat(32), undefined]);
    expect([...vault.iterateMessages('conv-a')].map((m) => m.contentId)).toEqual(['c'.repeat(32), undefined]);
    expect(vault.changesSince(0, 10).upserts.map((m) => m.contentId)).toEqual(['c'.repeat(32), undefined]);
    // Appending the same id again returns the stored message, content id included.
    expect(vault.appendMessages([{ ...msg('conv-a', 'again'), id: withId!.id }])[0]?.contentId).toBe('c'.repeat(32));
  });

  it('an entry without one keeps the eight-element format earlier builds wrote and read', async () => {
    const { vault, dir } = await vaults.fresh();
    vault.appendMessages([msg('conv-a', 'plain'), msg('conv-a', 'with', { contentId: 'abc' })]);
    vault.lock();
    const entries = segmentEntries(dir);
    expect(entries.map((e) => e.length).sort()).toEqual([8, 9]);
    expect(entries.find((e) => e.length === 9)?.[8]).toBe('abc');
  });

  it('a delete for everyone drops it; a delete leaves it in no file', async () => {
    const { vault, dir } = await vaults.fresh();
    const cid = 'cid-zanzibarquokka'; // a distinctive word the scanner looks for
    const [a, b] = vault.appendMessages([msg('conv-a', 'first', { contentId: cid }), msg('conv-b', '', { contentId: 'cid-plorkzingvex' })]);
    expect(vault.redactMessages('conv-a', [a!.id])).toEqual([a!.id]);
    expect('contentId' in vault.getMessage(a!.id)!).toBe(false);
    // Blank text with a content id is not yet a tombstone: the content id goes.
    expect(vault.redactMessages('conv-b', [b!.id])).toEqual([b!.id]);
    expect(vault.redactMessages('conv-b', [b!.id])).toEqual([]);
    vault.lock();
    expect((await decryptVaultDb(dir)).found).toEqual([]);

    const reopened = await vaults.reopen(dir);
    const [c] = reopened.appendMessages([msg('conv-c', 'third', { contentId: 'cid-umbrafizzlewomp' })]);
    reopened.lock();
    expect((await decryptVaultDb(dir)).found).toEqual(['umbrafizzlewomp']);
    const again = await vaults.reopen(dir);
    again.deleteMessages('conv-c', [c!.id]);
    again.lock();
    expect((await decryptVaultDb(dir)).found).toEqual([]);
  });

  it('a malformed one is refused on the way in (TypeError) and on the way out (VaultCorrupt)', async () => {
    const { vault } = await vaults.fresh();
    expect(() => vault.appendMessages([msg('conv-a', 'x', { contentId: 'has space' })])).toThrow(TypeError);
    expect(() => vault.appendMessages([msg('conv-a', 'x', { contentId: 7 as unknown as string })])).toThrow(TypeError);
    const entry = ['m1', 1, 'in', 'contact-1', 1, 2, 'text', 'received'];
    expect(decodeSegment(Buffer.from(JSON.stringify([entry, [...entry.slice(0, 1), 2, ...entry.slice(2), 'cid']])))).toHaveLength(2);
    for (const bad of [7, '', 'a b', null]) expect(() => decodeSegment(Buffer.from(JSON.stringify([[...entry, bad]])))).toThrow(VaultCorrupt);
    expect(() => decodeSegment(Buffer.from(JSON.stringify([[...entry, 'cid', 'extra']])))).toThrow(VaultCorrupt);
  });
});
