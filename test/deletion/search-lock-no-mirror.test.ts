// Review finding 3 (s14): without a live mirror (its worker failed to start), a lock right after a
// deletion, with no catchUp in between (the messenger's scheduled catch-up is cancelled by the
// lock), must still seal a snapshot without the deleted words: snapshot() and close() apply the
// vault's pending changes first. The file is opened with the profile's own key, as other tests do.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IndexMirror } from '../../main/search/mirror.ts';
import { SearchService } from '../../main/search/service.ts';
import { fill, observeSubkeys, snapshotImage, WORDS, wordsIn } from '../vault/deletion-scan.ts';
import { testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
observeSubkeys();
afterEach(() => {
  vi.restoreAllMocks();
  return vaults.cleanup();
});

/** The worker cannot start (the environment's fault, not ours): the service runs without a mirror. */
function noWorker(): void {
  vi.spyOn(IndexMirror, 'start').mockImplementation(() => {
    throw new Error('no worker threads here');
  });
}

describe('search snapshot at lock without a mirror', () => {
  it('closeInSteps right after a deletion writes no deleted word', async () => {
    noWorker();
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    const search = await SearchService.open(vault);
    expect(search.search({ text: WORDS[0] }).length).toBeGreaterThan(0);
    expect(wordsIn(await snapshotImage(dir))).toEqual([...WORDS]);

    vault.deleteMessages('conv-a', secretIds);
    await search.closeInSteps();
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);

    const reopened = await SearchService.open(vault);
    expect(reopened.openedFrom).toBe('snapshot');
    for (const w of WORDS.slice(0, 2)) expect(reopened.search({ text: w })).toEqual([]);
    reopened.discard();
    vault.lock();
  });

  it('snapshot() right after a deletion writes no deleted word', async () => {
    noWorker();
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    const search = await SearchService.open(vault);
    vault.deleteMessages('conv-a', secretIds.slice(0, 2));
    search.snapshot();
    // secretIds[2] holds both words and stays
    expect(wordsIn(await snapshotImage(dir))).toEqual([...WORDS]);
    vault.deleteMessages('conv-a', secretIds.slice(2));
    search.snapshot();
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);
    search.discard();
    vault.lock();
  });
});
