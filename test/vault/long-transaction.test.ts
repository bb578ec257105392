import { afterEach, describe, expect, it } from 'vitest';
import type { VaultWriter } from '../../main/vault/api.ts';
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
    const seen: { busy: boolean; outsideWrite: string | undefined; feed: number; visible: number }[] = [];
    const result = await vault.longTransaction(async (write) => {
      for (let step = 0; step < 5; step++) {
        write(() => vault.appendMessages([msg('c1', `imported ${step}`)]));
        await new Promise((r) => setTimeout(r, 5));
        seen.push({
          busy: vault.busy,
          outsideWrite: busyCode(() => vault.upsertContact({ id: `x${step}`, handle: 'x', displayName: 'x', identityChanged: false, createdAt: 1 })),
          feed: vault.changesSince(0, 100).upserts.length,
          visible: vault.countMessages(),
        });
      }
      return 'merged';
    });
    expect(result).toBe('merged');
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
    vault.upsertContact({ id: 'after', handle: 'after', displayName: 'After', identityChanged: false, createdAt: 2 });
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

  it('the change feed stops at the committed end: `more` only when committed changes remain', async () => {
    const { vault } = await fresh();
    vault.appendMessages([msg('c1', 'one'), msg('c1', 'two')]);
    await vault.longTransaction(async (write) => {
      write(() => vault.appendMessages([msg('c1', 'open 1'), msg('c1', 'open 2')]));
      await turn();
      const first = vault.changesSince(0, 1);
      expect(first.upserts.map((m) => m.text)).toEqual(['one']);
      expect(first.more).toBe(true);
      const second = vault.changesSince(first.maxSeq, 1);
      expect(second.upserts.map((m) => m.text)).toEqual(['two']);
      expect(second.more).toBe(false); // what follows is not committed yet
      expect(vault.changesSince(second.maxSeq, 10).upserts).toEqual([]);
    });
    expect(vault.changesSince(0, 10).upserts.map((m) => m.text)).toEqual(['one', 'two', 'open 1', 'open 2']);
  });

  it('waits for running activities before it begins; activities started meanwhile wait for it', async () => {
    const { vault } = await fresh();
    const order: string[] = [];
    let finishActivity!: () => void;
    const activityMayFinish = new Promise<void>((r) => (finishActivity = r));
    // An activity (think: a send) that writes, awaits the network, and writes again.
    const running = vault.activity(async () => {
      vault.appendMessages([msg('c1', 'activity before await')]);
      await activityMayFinish;
      vault.appendMessages([msg('c1', 'activity after await')]); // must not get BUSY
      order.push('activity done');
    });
    const merge = vault.longTransaction(async (write) => {
      order.push('merge begins');
      write(() => vault.appendMessages([msg('c2', 'merged')]));
      await turn();
      order.push('merge ends');
    });
    await turn();
    expect(order).toEqual([]); // the merge has not begun: an activity is running
    expect(vault.busy).toBe(false);
    const late = vault.activity(async () => {
      order.push('late activity');
      vault.appendMessages([msg('c1', 'late')]);
    });
    finishActivity();
    await Promise.all([running, merge, late]);
    expect(order).toEqual(['activity done', 'merge begins', 'merge ends', 'late activity']);
    expect(vault.countMessages()).toBe(4);
  });

  it('an abort or a lock ends the wait for activities at once; nothing begins and the activity is unharmed', async () => {
    const { vault, dir } = await fresh();
    let finishActivity!: () => void;
    const activityMayFinish = new Promise<void>((r) => (finishActivity = r));
    const running = vault.activity(async () => {
      await activityMayFinish; // think: an activity stuck on something slow
      vault.appendMessages([msg('c1', 'activity')]);
    });
    const controller = new AbortController();
    let began = false;
    const merge = vault.longTransaction(async () => {
      began = true;
    }, { signal: controller.signal });
    await turn();
    controller.abort(new Error('cancelled by the user'));
    await expect(merge).rejects.toThrow('cancelled by the user');
    expect(began).toBe(false);
    expect(vault.busy).toBe(false);
    finishActivity();
    await running;
    expect(vault.countMessages()).toBe(1);

    // A lock while waiting: the merge fails with VAULT_LOCKED without waiting for the activity.
    vault.lock();
    const again = await reopen(dir);
    let release!: () => void;
    const stuck = again.activity(() => new Promise<void>((r) => (release = r)));
    const waiting = again.longTransaction(async () => undefined);
    await turn();
    again.lock();
    await expect(waiting).rejects.toMatchObject({ code: 'VAULT_LOCKED' });
    release();
    await stuck;
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

  it("a step's writer writes into the transaction; kept past its end, the writer is refused and writes nothing", async () => {
    const { vault, dir } = await fresh();
    let kept: VaultWriter | undefined;
    await vault.longTransaction(async (write) => {
      write((w) => {
        kept = w;
        w.appendMessages([msg('c1', 'through the writer')]);
        w.kvSet('ns', 'k', new Uint8Array([1]));
      });
      await turn();
      // The transaction's own writes are not in the committed feed yet.
      expect(vault.changesSince(0, 10).upserts).toEqual([]);
    });
    expect(vault.pageMessages('c1', { limit: 10 }).map((m) => m.text)).toEqual(['through the writer']);
    const writer = kept as VaultWriter;
    expect(() => writer.appendMessages([msg('c1', 'late')])).toThrow(VaultError);
    // Nor inside the next long transaction, which it is no step of.
    await vault.longTransaction(async () => {
      expect(() => writer.kvSet('ns', 'k', new Uint8Array([2]))).toThrow(VaultError);
      await turn();
    });
    vault.lock();
    const again = await reopen(dir);
    expect(again.pageMessages('c1', { limit: 10 }).map((m) => m.text)).toEqual(['through the writer']);
    expect(again.kvGet('ns', 'k')).toEqual(new Uint8Array([1]));
  });
});
