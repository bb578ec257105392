// Review s18 R3: a SearchService.open that fails after the index exists (the tail replay after a
// restore, or a rebuild) must drop everything holding the index's plaintext before it rejects:
// nobody holds the service, so nothing else would close the in-memory index or the mirror's
// worker (unref'd: it would live until the process exits). And a close during the deferred
// mirror start (01cd9a3) leaves no mirror running and the index closed.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IndexMirror } from '../../main/search/mirror.ts';
import { SearchIndex } from '../../main/search/index-db.ts';
import { SearchService, type SearchSource } from '../../main/search/service.ts';
import { VaultCorrupt } from '../../main/vault/errors.ts';
import type { Vault } from '../../main/vault/index.ts';
import { msg, testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => {
  vi.restoreAllMocks();
  return vaults.cleanup();
});

/** The vault as a search source whose change feed throws on the calls `failOn` picks. */
function failingFeed(vault: Vault, failOn: (call: number) => boolean): SearchSource {
  let calls = 0;
  return new Proxy(vault, {
    get(target, p, receiver) {
      if (p === 'changesSince') {
        return (seq: number, limit: number) => {
          if (failOn(++calls)) throw new VaultCorrupt('test: a damaged row in the feed');
          return target.changesSince(seq, limit);
        };
      }
      const value: unknown = Reflect.get(target, p, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as unknown as SearchSource;
}

/** Every mirror IndexMirror.start made so far. */
function startedMirrors(start: { mock: { results: { type: string; value: unknown }[] } }): IndexMirror[] {
  return start.mock.results.filter((r) => r.type === 'return').map((r) => r.value as IndexMirror);
}

describe('SearchService.open failing after the index exists', () => {
  it('in the tail replay after a restore: rejects with the same error and closes the restored index', async () => {
    const { vault } = await vaults.fresh();
    vault.appendMessages([msg('c1', 'hello restored world')]);
    (await SearchService.open(vault)).close(); // writes the snapshot
    vault.appendMessages([msg('c1', 'a tail message')]);
    const indexClose = vi.spyOn(SearchIndex.prototype, 'close');
    const start = vi.spyOn(IndexMirror, 'start');
    await expect(SearchService.open(failingFeed(vault, () => true))).rejects.toBeInstanceOf(VaultCorrupt);
    expect(indexClose).toHaveBeenCalledTimes(1);
    expect(startedMirrors(start).every((m) => !m.alive)).toBe(true);
  });

  it('in the snapshot the tail replay triggers (the mirror started from the file): closes the mirror and the index', async () => {
    const { vault } = await vaults.fresh();
    const first = msg('c1', 'a restored message 0');
    vault.appendMessages([first, ...Array.from({ length: 4 }, (_, i) => msg('c1', `a restored message ${i + 1}`))]);
    (await SearchService.open(vault)).close();
    vault.deleteMessages('c1', [first.id]); // a deletion in the tail: a stepped snapshot is due at open
    const indexClose = vi.spyOn(SearchIndex.prototype, 'close');
    const start = vi.spyOn(IndexMirror, 'start');
    // The snapshot's own image request fails, after the mirror has started from the file.
    vi.spyOn(IndexMirror.prototype, 'snapshot').mockRejectedValue(new VaultCorrupt('test: the image failed'));
    await expect(SearchService.open(vault)).rejects.toBeInstanceOf(VaultCorrupt);
    expect(startedMirrors(start)).toHaveLength(1);
    expect(startedMirrors(start).every((m) => !m.alive)).toBe(true);
    expect(indexClose).toHaveBeenCalledTimes(1);
  });

  it('in a rebuild: rejects with the same error and closes the mirror it started and the partial index', async () => {
    const { vault } = await vaults.fresh();
    vault.appendMessages(Array.from({ length: 300 }, (_, i) => msg('c1', `rebuild message ${i}`)));
    const indexClose = vi.spyOn(SearchIndex.prototype, 'close');
    const start = vi.spyOn(IndexMirror, 'start');
    await expect(SearchService.open(failingFeed(vault, (call) => call > 1))).rejects.toBeInstanceOf(VaultCorrupt);
    expect(startedMirrors(start)).toHaveLength(1);
    expect(startedMirrors(start).every((m) => !m.alive)).toBe(true);
    expect(indexClose).toHaveBeenCalledTimes(1);
  });
});

describe('a close during the deferred mirror start', () => {
  it('at each turn of the stepped snapshot that starts the mirror: no mirror left running, the index closed, the run settles', async () => {
    let closedBeforeStart = 0;
    let closedAfterStart = 0;
    /** One scenario: close() comes after `turns` event-loop turns of the run (undefined: the run ends first); returns the turns the mirror took to start. */
    const scenario = async (turns: number | undefined): Promise<number | undefined> => {
      const { vault, dir } = await vaults.fresh();
      const doomed = msg('c1', 'deferred start 0');
      vault.appendMessages([doomed, ...Array.from({ length: 19 }, (_, i) => msg('c1', `deferred start ${i + 1}`))]);
      (await SearchService.open(vault)).close();
      vault.lock();
      const reopened = await vaults.reopen(dir);
      const start = vi.spyOn(IndexMirror, 'start');
      const search = await SearchService.open(reopened, { snapshotEvery: 1_000_000 });
      expect(startedMirrors(start)).toHaveLength(0);
      reopened.deleteMessages('c1', [doomed.id]); // a snapshot due at once: the mirror starts from the file
      let done = false;
      const run = search
        .catchUpInSteps()
        .catch(() => 0)
        .finally(() => (done = true));
      let startedAt: number | undefined;
      for (let t = 0; t < (turns ?? 1000) && !done; t++) {
        if (startedAt === undefined && startedMirrors(start).length > 0) startedAt = t;
        await nextTurn();
      }
      if (turns !== undefined) {
        if (startedMirrors(start).length > 0) closedAfterStart++;
        else closedBeforeStart++;
      }
      search.close();
      await run;
      expect(startedMirrors(start).every((m) => !m.alive)).toBe(true);
      expect(() => search.seq).toThrow(/closed/);
      start.mockRestore();
      await vaults.cleanup();
      return startedAt;
    };
    // The turn at which the mirror starts grows with the index's parts (the purge before the
    // image steps through each): found by a run left alone, then a close at every turn up to two
    // after it (every other turn in the middle, to bound the test's time), bounded by 200 turns.
    const startsAt = await scenario(undefined);
    expect(startsAt).toBeDefined();
    const last = Math.min(200, (startsAt as number) + 2);
    for (let turns = 0; turns <= last; turns += turns < 4 || turns >= last - 4 ? 1 : 2) await scenario(turns);
    expect(closedBeforeStart).toBeGreaterThan(0);
    expect(closedAfterStart).toBeGreaterThan(0);
  });
});
