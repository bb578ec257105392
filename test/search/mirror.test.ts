// The search index's mirror (main/search/mirror.ts, issue #14): the stepped snapshot after a
// deletion is serialized by the copy in the worker thread, not on the main thread, and that
// copy holds exactly what the main index holds (documents, words, meta), whatever mix of
// upserts, deletions and purges came before; deleted words never reach its image.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SearchIndex } from '../../main/search/index-db.ts';
import { IndexMirror } from '../../main/search/mirror.ts';
import { SearchService } from '../../main/search/service.ts';
import { fill, observeSubkeys, snapshotImage, WORDS, wordsIn } from '../vault/deletion-scan.ts';
import { msg, testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
observeSubkeys();
afterEach(() => {
  vi.restoreAllMocks();
  return vaults.cleanup();
});

/** Every indexed message id and every word of the prefix list, from an image. */
function contentOf(image: Uint8Array): { ids: string[]; words: string[]; seq: number } {
  const index = SearchIndex.restore(image);
  try {
    const words = index.expandPrefix('', 1_000_000) ?? [];
    const ids: string[] = [];
    for (const w of words) for (const h of index.search({ match: `"${w}"`, order: 'newest', limit: 1000 })) ids.push(h.id);
    return { ids: [...new Set(ids)].sort(), words, seq: index.seq };
  } finally {
    index.close();
  }
}

describe('the search index mirror', () => {
  it("makes the stepped snapshot's image in its worker: the main index is never serialized, and the deleted words are not in it", async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    const search = await SearchService.open(vault);
    const serialize = vi.spyOn(SearchIndex.prototype, 'serialize');
    vault.deleteMessages('conv-a', secretIds);
    const phases: string[] = [];
    await search.catchUpInSteps((phase) => phases.push(phase));
    expect(phases).toContain('snapshot');
    expect(serialize).not.toHaveBeenCalled();
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);
    search.close();
    vault.lock();
    const again = await SearchService.open(await vaults.reopen(dir));
    expect(again.openedFrom).toBe('snapshot');
    expect(again.search({ text: WORDS[0] })).toEqual([]);
    expect(again.search({ text: WORDS[2] })).toHaveLength(1);
    again.discard();
  });

  it('an index restored from its snapshot starts no mirror until a stepped snapshot needs one; that mirror, started from the file, holds every write made before and during its start', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    (await SearchService.open(vault)).close();
    vault.lock();
    const start = vi.spyOn(IndexMirror, 'start');
    const reopened = await vaults.reopen(dir);
    const search = await SearchService.open(reopened, { snapshotEvery: 1_000_000 });
    expect(search.openedFrom).toBe('snapshot');
    const before = msg('conv-b', 'written before the mirror quokkaone');
    reopened.appendMessages([before]);
    search.catchUp();
    expect(start).not.toHaveBeenCalled(); // no second copy of the index while none is needed
    const serialize = vi.spyOn(SearchIndex.prototype, 'serialize');
    reopened.deleteMessages('conv-a', secretIds); // a snapshot is due at once: in steps, by a mirror
    search.catchUp();
    // Written while the mirror reads the snapshot file: held, then handed to it after its image.
    const during = msg('conv-b', 'written during the start quokkatwo');
    reopened.appendMessages([during]);
    search.catchUp();
    await search.closeInSteps();
    expect(start).toHaveBeenCalledTimes(1);
    expect(serialize).not.toHaveBeenCalled();
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);
    reopened.lock();
    const again = await SearchService.open(await vaults.reopen(dir));
    expect(again.openedFrom).toBe('snapshot');
    expect(again.replayedAtOpen).toBe(0); // the last snapshot holds every change
    expect(again.search({ text: 'quokkaone' }).map((h) => h.id)).toEqual([before.id]);
    expect(again.search({ text: 'quokkatwo' }).map((h) => h.id)).toEqual([during.id]);
    expect(again.search({ text: WORDS[0] })).toEqual([]);
    again.discard();
  });

  it('a batch that throws midway in the worker fails the mirror for good: its image is refused, never written, and the next snapshot is made here with every message', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    const search = await SearchService.open(vault, { snapshotEvery: 1_000_000 });
    // The next batch as the index sent it (its writes in their parts), then a write the worker
    // does not know: it throws after beginning in those parts and writing to them.
    const apply = IndexMirror.prototype.apply;
    let broken = 0;
    vi.spyOn(IndexMirror.prototype, 'apply').mockImplementation(function (this: IndexMirror, batch) {
      if (broken++ > 0) return apply.call(this, batch);
      return apply.call(this, { ...batch, kinds: Uint8Array.from([...batch.kinds, 250]) });
    });
    const lost = msg('conv-b', 'in the batch that failed quokkathree');
    vault.appendMessages([lost]);
    search.catchUp();
    const after = msg('conv-b', 'after the failed batch quokkafour');
    vault.appendMessages([after]);
    search.catchUp();
    expect(broken).toBe(2);
    vault.deleteMessages('conv-a', secretIds);
    const serialize = vi.spyOn(SearchIndex.prototype, 'serialize');
    await expect(search.catchUpInSteps()).rejects.toThrow(/fell behind: unknown mirrored write 250/);
    expect(serialize).not.toHaveBeenCalled();
    // Still due: the next catch-up makes it on this thread, from the main index.
    search.catchUp();
    expect(serialize).toHaveBeenCalledTimes(1);
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);
    search.close();
    vault.lock();
    const again = await SearchService.open(await vaults.reopen(dir));
    expect(again.openedFrom).toBe('snapshot');
    expect(again.replayedAtOpen).toBe(0);
    expect(again.search({ text: 'quokkathree' }).map((h) => h.id)).toEqual([lost.id]);
    expect(again.search({ text: 'quokkafour' }).map((h) => h.id)).toEqual([after.id]);
    expect(again.search({ text: WORDS[0] })).toEqual([]);
    again.discard();
  });

  it('holds what the main index holds after any mix of adds, deletions, sync and stepped catch-ups', async () => {
    const { vault, dir } = await vaults.fresh();
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const live: { id: string; conversationId: string }[] = [];
    const addSome = (): void => {
      const batch = [];
      for (let i = 0, k = 1 + rand(40); i < k; i++) {
        const m = msg(`conv-${rand(3)}`, `word${rand(60)} tail${rand(500)} ${rand(4) === 0 ? WORDS[rand(3)] : ''}`);
        batch.push(m);
        live.push({ id: m.id, conversationId: m.conversationId });
      }
      vault.appendMessages(batch);
    };
    addSome();
    const search = await SearchService.open(vault, { snapshotEvery: 1_000_000 });
    for (let round = 0; round < 12; round++) {
      addSome();
      if (rand(2) === 0) search.catchUp();
      const victims = live.splice(0, rand(Math.max(1, live.length)) % 25).filter(() => rand(3) !== 0);
      for (const conv of new Set(victims.map((v) => v.conversationId))) {
        vault.deleteMessages(conv, victims.filter((v) => v.conversationId === conv).map((v) => v.id));
      }
      if (rand(3) === 0) search.catchUp();
      else await search.catchUpInSteps();
    }
    addSome();
    search.catchUp();
    // A deletion makes the next stepped catch-up snapshot: that image is the mirror's.
    const last = live.splice(0, 3);
    vault.deleteMessages(last[0]?.conversationId ?? '', last.filter((v) => v.conversationId === last[0]?.conversationId).map((v) => v.id));
    await search.catchUpInSteps();
    const fromMirror = contentOf(await snapshotImage(dir));
    // The main index's own image of the same moment (the sync path serializes here).
    search.snapshot();
    const fromMain = contentOf(await snapshotImage(dir));
    expect(fromMirror.ids.length).toBeGreaterThan(0);
    expect(fromMirror).toEqual(fromMain);
    search.discard();
  });
});
