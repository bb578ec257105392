// Locking after a deletion (search/service.ts closeInSteps, what the app's lock runs): the last
// snapshot's image is made by the index's mirror in its worker, so the main thread neither purges
// (FTS5 'optimize') nor serializes the index; the snapshot holds none of the deleted words and
// the next unlock opens it without replaying anything. After a large deletion the main index's own
// purge is left to the mirror (catchUpInSteps has no 'purge' phase with a live mirror).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SearchIndex } from '../../main/search/index-db.ts';
import { SearchService } from '../../main/search/service.ts';
import { fill, observeSubkeys, snapshotImage, WORDS, wordsIn } from '../vault/deletion-scan.ts';
import { testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
observeSubkeys();
afterEach(() => {
  vi.restoreAllMocks();
  return vaults.cleanup();
});

describe('search snapshot at lock', () => {
  it('is made off the main thread after a deletion, without the deleted words', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    const search = await SearchService.open(vault);
    const serialize = vi.spyOn(SearchIndex.prototype, 'serialize');
    const purgeAll = vi.spyOn(SearchIndex.prototype, 'purgeAll');
    const purgeStep = vi.spyOn(SearchIndex.prototype, 'purgeStep');

    // A deletion caught up in steps: no purge step on this thread.
    vault.deleteMessages('conv-a', secretIds.slice(0, 1));
    const phases: string[] = [];
    await search.catchUpInSteps((p) => phases.push(p));
    expect(phases).not.toContain('purge');
    expect(purgeStep).not.toHaveBeenCalled();

    // More deleted, then the lock's close: the snapshot comes from the mirror.
    vault.deleteMessages('conv-a', secretIds.slice(1));
    await search.closeInSteps();
    expect(serialize).not.toHaveBeenCalled();
    expect(purgeAll).not.toHaveBeenCalled();
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);

    const reopened = await SearchService.open(vault);
    expect(reopened.openedFrom).toBe('snapshot');
    expect(reopened.replayedAtOpen).toBe(0);
    for (const w of WORDS.slice(0, 2)) expect(reopened.search({ text: w })).toEqual([]);
    reopened.discard();
    vault.lock();
  });
});
