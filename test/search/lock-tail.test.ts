// The app's lock (SearchService.closeInSteps) after a few new messages on a restored index
// (issue #18, stop 19): no snapshot is written (re-reading and re-sealing the whole image took
// 6-15 s at a million messages); the next open replays those messages from the vault's feed.
// After a deletion, or past LOCK_TAIL_MAX (500) changes since the snapshot, the lock writes it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
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

const snapshotFile = (dir: string): Buffer => readFileSync(join(dir, 'search-index.sealed'));

describe('a lock after new messages on a restored index', () => {
  it('writes no snapshot for a few new messages: the next open replays them and finds them', async () => {
    const { vault, dir } = await vaults.fresh();
    fill(vault);
    (await SearchService.open(vault)).close();
    vault.lock();
    const before = snapshotFile(dir);
    const start = vi.spyOn(IndexMirror, 'start');
    const reopened = await vaults.reopen(dir);
    const search = await SearchService.open(reopened);
    expect(search.openedFrom).toBe('snapshot');
    reopened.appendMessages([msg('conv-b', 'a fresh zanzibarquill'), msg('conv-b', 'another fresh line'), msg('conv-b', 'third')]);
    search.catchUp();
    await search.closeInSteps();
    expect(start).not.toHaveBeenCalled(); // the image was not read again for a mirror
    expect(snapshotFile(dir).equals(before)).toBe(true);
    reopened.lock();
    const again = await SearchService.open(await vaults.reopen(dir));
    expect(again.openedFrom).toBe('snapshot');
    expect(again.replayedAtOpen).toBe(3);
    expect(again.search({ text: 'zanzibarquill' })).toHaveLength(1);
    again.discard();
  });

  it('writes the snapshot after a deletion, and once the tail since it passes 500 changes over several locks', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    (await SearchService.open(vault)).close();
    vault.lock();
    // A deletion, then a lock: the file must lose the deleted words now.
    let v = await vaults.reopen(dir);
    let search = await SearchService.open(v);
    v.deleteMessages('conv-a', secretIds);
    await search.closeInSteps();
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);
    v.lock();
    // 300 new messages: left to the next open; 300 more (600 since the snapshot): written.
    const tails: number[] = [];
    for (let session = 0; session < 3; session++) {
      v = await vaults.reopen(dir);
      search = await SearchService.open(v);
      tails.push(search.replayedAtOpen);
      if (session < 2) v.appendMessages(Array.from({ length: 300 }, (_, i) => msg('conv-c', `session ${session} line ${i}`)));
      await search.closeInSteps();
      v.lock();
    }
    expect(tails).toEqual([0, 300, 0]);
  });

  it("writes the snapshot after a message was re-indexed (a state change): the old version's words may differ", async () => {
    const { vault, dir } = await vaults.fresh();
    const { bId } = fill(vault);
    (await SearchService.open(vault)).close();
    vault.lock();
    const before = snapshotFile(dir);
    const v = await vaults.reopen(dir);
    const search = await SearchService.open(v);
    v.updateMessageState(bId, 'read');
    await search.closeInSteps();
    expect(snapshotFile(dir).equals(before)).toBe(false);
    v.lock();
    const again = await SearchService.open(await vaults.reopen(dir));
    expect(again.replayedAtOpen).toBe(0);
    again.discard();
  });
});
