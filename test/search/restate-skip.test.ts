// A message the vault's change feed carries again after a state change (queued -> sent ->
// delivered: each a new seq) is not indexed again when what the index holds for it is the same
// (conversation, sent time, indexed text): search/recently-indexed.ts. What still is indexed
// again: a version whose indexed text differs (a file name that appeared since), and anything
// whose earlier insert was rolled back. Real vault on disk; FTS inserts counted on
// better-sqlite3's Statement.
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SearchIndex } from '../../main/search/index-db.ts';
import { SearchService } from '../../main/search/service.ts';
import { sqliteOptions } from '../../main/vault/sqlite-binding.ts';
import { msg, testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => {
  vi.restoreAllMocks();
  return vaults.cleanup();
});

/** Counts rows inserted into the FTS tables (one per message indexed). */
function countFtsInserts(): { readonly n: number } {
  const probe = new Database(':memory:', sqliteOptions());
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as { run: (...args: unknown[]) => unknown };
  probe.close();
  const spy = vi.spyOn(proto, 'run');
  return {
    get n() {
      return spy.mock.contexts.filter((s) => (s as { source: string }).source.startsWith('INSERT INTO fts(')).length;
    },
  };
}

describe('state changes in the search feed', () => {
  it('index a sent text once, not at each state change', async () => {
    const { vault } = await vaults.fresh();
    const search = await SearchService.open(vault);
    const inserts = countFtsInserts();
    const [m] = vault.appendMessages([msg('conv-a', 'a quorvathian greeting', { direction: 'out', sender: 'self', state: 'queued' })]);
    search.catchUp();
    vault.updateMessageState(m!.id, 'sent');
    search.catchUp();
    vault.updateMessageState(m!.id, 'delivered');
    search.catchUp();
    expect(inserts.n).toBe(1); // before: 3
    expect(search.search({ text: 'quorvathian' }).map((h) => h.id)).toEqual([m!.id]);
    expect(search.size).toBe(1);
    search.close();
  });

  it('a state change after the indexed text changed (a file name that appeared) indexes it again', async () => {
    const { vault } = await vaults.fresh();
    const names = new Map<string, string>();
    const search = await SearchService.open(vault, { extraText: (m) => names.get(m.id) });
    const [m] = vault.appendMessages([msg('conv-a', 'see the attached', { direction: 'out', sender: 'self', state: 'queued' })]);
    search.catchUp();
    expect(search.search({ text: 'zephyrplan' })).toEqual([]);
    names.set(m!.id, 'zephyrplan.pdf');
    vault.updateMessageState(m!.id, 'sent');
    search.catchUp();
    expect(search.search({ text: 'zephyrplan' }).map((h) => h.id)).toEqual([m!.id]);
    expect(search.search({ text: 'attached' }).map((h) => h.id)).toEqual([m!.id]);
    search.close();
  });

  it('an insert rolled back is not taken as held: the same message is indexed when it comes again', () => {
    const index = SearchIndex.create();
    const m = { id: 'aa'.repeat(16), conversationId: 'conv-a', sentAt: 1000, text: 'kestrelmoon' };
    // The second message fails (no text to tokenize) after the first was inserted: all rolled back.
    expect(() => index.upsert([m, { ...m, id: 'bb'.repeat(16), text: undefined as unknown as string }])).toThrow();
    expect(index.has(m.id)).toBe(false);
    // A later transaction that commits does not make the rolled-back insert count as held.
    index.upsert([{ ...m, id: 'cc'.repeat(16), text: 'other' }]);
    index.upsert([m]);
    expect(index.has(m.id)).toBe(true);
    // Removed, then the same version again: indexed again.
    index.remove([m.id]);
    expect(index.has(m.id)).toBe(false);
    index.upsert([m]);
    expect(index.has(m.id)).toBe(true);
    expect(index.size).toBe(2);
    index.close();
  });
});
