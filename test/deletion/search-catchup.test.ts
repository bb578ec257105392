// The synchronous catch-up after a deletion (search/service.ts catchUp, what the messenger runs
// after each write, issue #14): with the index's mirror alive, the snapshot the deletion makes due
// is left to the stepped path, whose image the mirror makes in its worker; the main thread neither
// purges (FTS5 'optimize': hundreds of ms at a million messages) nor serializes nor writes the file
// in one call. The snapshot that lands holds none of the deleted words.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SearchIndex } from '../../main/search/index-db.ts';
import { SearchService } from '../../main/search/service.ts';
import { fill, observeSubkeys, snapshotImage, WORDS, wordsIn } from '../vault/deletion-scan.ts';
import { msg, testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
observeSubkeys();
afterEach(() => {
  vi.restoreAllMocks();
  return vaults.cleanup();
});

describe('search catchUp after a deletion, with a live mirror', () => {
  it('leaves purge, image and file write to the stepped path', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    const search = await SearchService.open(vault, { snapshotEvery: 3 });
    expect(wordsIn(await snapshotImage(dir)).sort()).toEqual([...WORDS].sort());
    // Counted, still run: the real index underneath.
    const serialize = vi.spyOn(SearchIndex.prototype, 'serialize');
    const purgeAll = vi.spyOn(SearchIndex.prototype, 'purgeAll');
    const optimize = vi.spyOn(SearchIndex.prototype, 'optimize');
    const write = vi.spyOn(vault.sealedFiles, 'write');

    vault.deleteMessages('conv-a', secretIds);
    search.catchUp();
    // Nothing blocking ran in the call: the old snapshot is still the file on disk.
    expect(purgeAll).not.toHaveBeenCalled();
    expect(optimize).not.toHaveBeenCalled();
    expect(serialize).not.toHaveBeenCalled();
    expect(write).not.toHaveBeenCalled();
    expect(wordsIn(await snapshotImage(dir)).sort()).toEqual([...WORDS].sort());
    for (const w of WORDS.slice(0, 2)) expect(search.search({ text: w })).toEqual([]); // gone from results at once

    // The stepped run catchUp started writes it, from the mirror's image.
    await search.catchUpInSteps();
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);

    // snapshotEvery reached by plain appends: the same way.
    const record = Buffer.from(vault.kvGet('search', 'snapshot') as Uint8Array).toString('utf8');
    vault.appendMessages([1, 2, 3].map((i) => msg('conv-a', `periodic ${i}`)));
    search.catchUp();
    await search.catchUpInSteps();
    expect(Buffer.from(vault.kvGet('search', 'snapshot') as Uint8Array).toString('utf8')).not.toBe(record);
    expect(purgeAll).not.toHaveBeenCalled();
    expect(optimize).not.toHaveBeenCalled();
    expect(serialize).not.toHaveBeenCalled();
    expect(write).not.toHaveBeenCalled();

    search.discard();
    vault.lock();
    const again = await SearchService.open(await vaults.reopen(dir));
    expect(again.openedFrom).toBe('snapshot');
    expect(again.replayedAtOpen).toBe(0);
    expect(again.search({ text: WORDS[0] })).toEqual([]);
    expect(again.search({ text: 'periodic' })).toHaveLength(3);
    again.discard();
  });
});
