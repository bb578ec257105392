import { afterEach, describe, expect, it } from 'vitest';
import { msg, testVaults } from './helpers.ts';

// vault.transaction is what makes a backup import (and a received message plus its session
// update) all-or-nothing. These tests use a real vault on disk.
describe('vault.transaction', () => {
  const vaults = testVaults();
  afterEach(() => vaults.cleanup());
  const fresh = vaults.fresh;

  it('keeps every write of a successful function, across reopen', async () => {
    const { vault, dir } = await fresh();
    const result = vault.transaction(() => {
      vault.appendMessages([msg('c1', 'first'), msg('c1', 'second')]);
      vault.kvSet('ns', 'k', new Uint8Array([1, 2, 3]));
      vault.appendMessages([msg('c2', 'third')]);
      return 'done';
    });
    expect(result).toBe('done');
    vault.lock();
    const again = await vaults.reopen(dir);
    expect(again.countMessages()).toBe(3);
    expect(again.pageMessages('c1', { limit: 10 }).map((m) => m.text)).toEqual(['first', 'second']);
    expect(again.kvGet('ns', 'k')).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('keeps nothing when the function throws, and the vault stays usable', async () => {
    const { vault } = await fresh();
    vault.appendMessages([msg('c1', 'before')]);
    const seqBefore = vault.changesSince(0, 100).maxSeq;
    expect(() =>
      vault.transaction(() => {
        vault.appendMessages([msg('c1', 'rolled back 1'), msg('c1', 'rolled back 2')]);
        vault.kvSet('ns', 'k', new Uint8Array([9]));
        throw new Error('stop');
      }),
    ).toThrow('stop');
    expect(vault.countMessages()).toBe(1);
    expect(vault.kvGet('ns', 'k')).toBeUndefined();
    expect(vault.pageMessages('c1', { limit: 10 }).map((m) => m.text)).toEqual(['before']);
    // Later writes still work and still advance the change feed past everything seen before.
    const [later] = vault.appendMessages([msg('c1', 'after')]);
    expect(later?.seq).toBeGreaterThan(seqBefore);
    expect(later?.orderKey).toBe(2);
    const feed = vault.changesSince(seqBefore, 100);
    expect(feed.upserts.map((m) => m.text)).toEqual(['after']);
  });

  it('refuses to run after lock', async () => {
    const { vault } = await fresh();
    vault.lock();
    expect(() => vault.transaction(() => 1)).toThrow(/locked/i);
  });
});
