import { afterEach, describe, expect, it } from 'vitest';
import { VaultError } from '../../main/vault/errors.ts';
import { msg, testVaults } from './helpers.ts';

// vault.longTransaction is what lets a backup import be all-or-nothing without freezing the
// process: one SQLite transaction across event-loop turns. Nothing else may write into it (and
// be lost with its rollback), the search feed never sees rows that may still be rolled back,
// and a failure, a cancel or a lock keeps nothing. Real vaults on disk.
describe('vault.longTransaction', () => {
  const vaults = testVaults();
  afterEach(() => vaults.cleanup());
  const { fresh, reopen } = vaults;

  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

  function busyCode(fn: () => unknown): string | undefined {
    try {
      fn();
      return undefined;
    } catch (e) {
      return e instanceof VaultError ? e.code : String(e);
    }
  }

  it('commits every step across event-loop turns; other writes meanwhile get BUSY and change nothing', async () => {
    const { vault, dir } = await fresh();
    vault.appendMessages([msg('c1', 'before')]);
    const committedSeq = vault.changesSince(0, 100).maxSeq;
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    const seen: { busy: boolean; outsideWrite: string | undefined; feed: number; visible: number }[] = [];
    const result = await vault.longTransaction(async (write) => {
      for (let step = 0; step < 5; step++) {
        write(() => vault.appendMessages([msg('c1', `imported ${step}`)]));
        await new Promise((r) => setTimeout(r, 5));
        seen.push({
          busy: vault.busy,
          outsideWrite: busyCode(() => vault.upsertContact({ id: `x${step}`, handle: 'x', displayName: 'x', verified: false, identityChanged: false, createdAt: 1 })),
          feed: vault.changesSince(0, 100).upserts.length,
          visible: vault.countMessages(),
        });
      }
      return 'merged';
    });
    clearInterval(ticker);
    expect(result).toBe('merged');
    expect(ticks).toBeGreaterThanOrEqual(3); // the event loop ran while it was open
    for (const [i, s] of seen.entries()) {
      expect(s.busy).toBe(true);
      expect(s.outsideWrite).toBe('BUSY');
      // the change feed (search) reports committed rows only; plain reads see the open work
      expect(s.feed).toBe(1);
      expect(s.visible).toBe(2 + i);
    }
    expect(vault.busy).toBe(false);
    const feed = vault.changesSince(committedSeq, 100);
    expect(feed.upserts.map((m) => m.text)).toEqual(['imported 0', 'imported 1', 'imported 2', 'imported 3', 'imported 4']);
    vault.upsertContact({ id: 'after', handle: 'after', displayName: 'After', verified: false, identityChanged: false, createdAt: 2 });
    vault.lock();
    const again = await reopen(dir);
    expect(again.countMessages()).toBe(6);
    expect(again.listContacts().map((c) => c.id)).toEqual(['after']);
  });

  it('keeps nothing when the work throws; counters are read again so later writes continue cleanly', async () => {
    const { vault, dir } = await fresh();
    vault.appendMessages([msg('c1', 'before')]);
    const seqBefore = vault.changesSince(0, 100).maxSeq;
    await expect(
      vault.longTransaction(async (write) => {
        write(() => vault.appendMessages([msg('c1', 'rolled back 1'), msg('c2', 'rolled back 2')]));
        await turn();
        write(() => vault.kvSet('ns', 'k', new Uint8Array([9])));
        throw new Error('cancelled');
      }),
    ).rejects.toThrow('cancelled');
    expect(vault.busy).toBe(false);
    expect(vault.countMessages()).toBe(1);
    expect(vault.kvGet('ns', 'k')).toBeUndefined();
    expect(vault.changesSince(seqBefore, 100).upserts).toEqual([]);
    vault.appendMessages([msg('c2', 'after')]);
    const feed = vault.changesSince(seqBefore, 100);
    expect(feed.upserts.map((m) => m.text)).toEqual(['after']);
    expect(feed.maxSeq).toBe(seqBefore + 1);
    vault.lock();
    const again = await reopen(dir);
    expect(again.pageMessages('c2', { limit: 10 }).map((m) => m.text)).toEqual(['after']);
    expect(again.countMessages()).toBe(2);
  });

  it('locking the vault meanwhile rolls it back: the work cannot write again and nothing is kept', async () => {
    const { vault, dir } = await fresh();
    let second: unknown;
    const running = vault.longTransaction(async (write) => {
      write(() => vault.appendMessages([msg('c1', 'one')]));
      await turn();
      vault.lock();
      try {
        write(() => vault.appendMessages([msg('c1', 'two')]));
      } catch (e) {
        second = e;
        throw e;
      }
    });
    await expect(running).rejects.toMatchObject({ code: 'VAULT_LOCKED' });
    expect(second).toBeInstanceOf(VaultError);
    const again = await reopen(dir);
    expect(again.countMessages()).toBe(0);
  });

  it('one at a time; idle() resolves when it is over', async () => {
    const { vault } = await fresh();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = vault.longTransaction(async (write) => {
      write(() => vault.appendMessages([msg('c1', 'first')]));
      await gate;
    });
    await expect(vault.longTransaction(() => Promise.resolve())).rejects.toMatchObject({ code: 'BUSY' });
    let idle = false;
    const waited = vault.idle().then(() => (idle = true));
    await turn();
    expect(idle).toBe(false);
    release();
    await first;
    await waited;
    expect(idle).toBe(true);
    expect(vault.countMessages()).toBe(1);
  });
});
