// SearchService.catchUpSlice: the messenger's catch-up after messages arrive indexes the feed in
// bounded slices with event-loop turns between them (issue #18), and must keep what catchUp
// keeps: every change applied once and in order, deletions gone from search at once, and a
// snapshot (made by the mirror) that holds no deleted word.
import { afterEach, describe, expect, it } from 'vitest';
import { SearchService } from '../../main/search/service.ts';
import { fill, observeSubkeys, snapshotImage, WORDS, wordsIn } from '../vault/deletion-scan.ts';
import { msg, testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
observeSubkeys();
afterEach(() => vaults.cleanup());

describe('SearchService.catchUpSlice', () => {
  it('applies at most the slice size per call, in feed order, until none remain', async () => {
    const { vault } = await vaults.fresh();
    const search = await SearchService.open(vault);
    const before = search.size;
    const fresh = Array.from({ length: 10 }, (_, i) => msg('conv-s', `slice word quillfrond${i}`));
    vault.appendMessages(fresh);

    const first = search.catchUpSlice(4);
    expect(first).toEqual({ applied: 4, more: true });
    expect(search.size).toBe(before + 4);
    expect(search.catchUpSlice(4)).toEqual({ applied: 4, more: true });
    expect(search.catchUpSlice(4)).toEqual({ applied: 2, more: false });
    expect(search.catchUpSlice(4)).toEqual({ applied: 0, more: false });
    expect(search.size).toBe(before + 10);
    expect(search.catchUp()).toBe(0); // nothing applied twice
    for (let i = 0; i < 10; i++) expect(search.search({ text: `quillfrond${i}` }).map((h) => h.id)).toEqual([fresh[i]?.id]);
    search.discard();
  });

  it('a search between slices finds what the slices have not reached yet', async () => {
    const { vault } = await vaults.fresh();
    const search = await SearchService.open(vault);
    const fresh = Array.from({ length: 5 }, (_, i) => msg('conv-s', `pending marrowquint number ${i}`));
    vault.appendMessages(fresh);
    expect(search.catchUpSlice(2).more).toBe(true);
    expect(search.search({ text: 'marrowquint', limit: 10 })).toHaveLength(5);
    expect(search.catchUpSlice(2)).toEqual({ applied: 0, more: false });
    search.discard();
  });

  it('a deletion caught up in slices is gone from search and from the snapshot the mirror makes', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    const search = await SearchService.open(vault);
    vault.deleteMessages('conv-a', secretIds);
    vault.appendMessages([msg('conv-b', 'a later line after the deletion')]);
    let slices = 0;
    while (search.catchUpSlice(1).more) slices++;
    expect(slices).toBeGreaterThan(0);
    expect(search.search({ text: WORDS[0] })).toEqual([]);
    expect(search.search({ text: WORDS[1] })).toEqual([]);
    expect(search.search({ text: WORDS[2] })).toHaveLength(1);
    // The last slice started the snapshot the deletion made due; close waits for it and writes what is left.
    await search.closeInSteps();
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);
    vault.lock();
    const reopened = await vaults.reopen(dir);
    const again = await SearchService.open(reopened);
    expect(again.openedFrom).toBe('snapshot');
    expect(again.search({ text: WORDS[0] })).toEqual([]);
    expect(again.search({ text: 'later' })).toHaveLength(1);
    again.discard();
  });
});
