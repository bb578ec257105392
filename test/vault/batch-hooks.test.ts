// WriteGate.deferToBatch (issue 18): a batched step may keep a write in memory until its batch
// commits. The hook's flush runs just before the batch's COMMIT, inside that transaction (what it
// writes is committed with the batch, or not at all); a step that throws drops what it deferred
// and only that; a lock commits an open batch while the keys are still there to seal with.
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { tempProfile } from './helpers.ts';

const PASSWORD = 'pw-batch-hooks';
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (v: Uint8Array | undefined): string | undefined => (v ? new TextDecoder().decode(v) : undefined);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function fresh(): Promise<{ dir: string; vault: Vault }> {
  const profile = tempProfile();
  cleanups.push(profile.cleanup);
  const { vault } = await Vault.create(profile.dir, PASSWORD, { kdf: TEST_KDF });
  cleanups.unshift(() => vault.lock());
  return { dir: profile.dir, vault };
}

/** A hook that writes `key` = `value` when flushed, and logs what happened to it. */
function writing(vault: Vault, log: string[], key: string, value: string) {
  return {
    flush: () => {
      log.push(`flush ${key}`);
      vault.kvSet('hooks', key, enc(value));
    },
    drop: () => log.push(`drop ${key}`),
  };
}

describe('writes deferred to the batch', () => {
  it('flush inside the batch transaction just before its commit; a failed step drops only its own', async () => {
    const { dir, vault } = await fresh();
    const log: string[] = [];
    expect(vault.deferToBatch(writing(vault, log, 'outside', 'x'))).toBe(false); // no batched step: write now
    vault.batchedTransaction(() => {
      vault.kvSet('hooks', 'row-a', enc('a'));
      expect(vault.deferToBatch(writing(vault, log, 'a', 'deferred a'))).toBe(true);
    });
    expect(() =>
      vault.batchedTransaction(() => {
        expect(vault.deferToBatch(writing(vault, log, 'b', 'deferred b'))).toBe(true);
        throw new Error('this envelope failed');
      }),
    ).toThrow('this envelope failed');
    expect(log).toEqual(['drop b']);
    vault.batchedTransaction(() => {
      expect(vault.deferToBatch(writing(vault, log, 'c', 'deferred c'))).toBe(true);
    });
    // Not written yet: held until the batch commits.
    expect(vault.kvGet('hooks', 'a')).toBeUndefined();
    vault.commitBatch();
    expect(log).toEqual(['drop b', 'flush a', 'flush c']);
    expect(text(vault.kvGet('hooks', 'a'))).toBe('deferred a');
    vault.lock();
    const again = await Vault.unlock(dir, PASSWORD);
    try {
      expect(text(again.kvGet('hooks', 'row-a'))).toBe('a');
      expect(text(again.kvGet('hooks', 'a'))).toBe('deferred a');
      expect(again.kvGet('hooks', 'b')).toBeUndefined();
      expect(text(again.kvGet('hooks', 'c'))).toBe('deferred c');
    } finally {
      again.lock();
    }
  });

  it('a hook whose flush fails rolls the whole batch back and drops the hooks not flushed', async () => {
    const { vault } = await fresh();
    const log: string[] = [];
    vault.batchedTransaction(() => {
      vault.kvSet('hooks', 'row', enc('stored'));
      vault.deferToBatch({
        flush: () => {
          log.push('flush failing');
          throw new Error('disk full');
        },
        drop: () => log.push('drop failing'),
      });
    });
    vault.batchedTransaction(() => {
      vault.deferToBatch(writing(vault, log, 'later', 'never'));
    });
    expect(() => vault.commitBatch()).toThrow('disk full');
    expect(log).toEqual(['flush failing', 'drop later', 'drop failing']);
    expect(vault.kvGet('hooks', 'row')).toBeUndefined();
    expect(vault.kvGet('hooks', 'later')).toBeUndefined();
    // The failure is reported once to the next sync (nothing of the batch may be acknowledged).
    expect(() => vault.syncCommitted()).toThrow('disk full');
    expect(vault.syncCommitted()).toBe(true);
  });

  it('the next event-loop turn, another write and a lock each flush and commit the batch', async () => {
    const { dir, vault } = await fresh();
    const log: string[] = [];
    vault.batchedTransaction(() => vault.deferToBatch(writing(vault, log, 'turn', 't')));
    await new Promise((r) => setImmediate(r));
    expect(text(vault.kvGet('hooks', 'turn'))).toBe('t');
    vault.batchedTransaction(() => vault.deferToBatch(writing(vault, log, 'other', 'o')));
    vault.kvSet('hooks', 'plain', enc('p')); // ends the batch first: the hook's write comes before it
    expect(text(vault.kvGet('hooks', 'other'))).toBe('o');
    vault.batchedTransaction(() => vault.deferToBatch(writing(vault, log, 'locked', 'l')));
    vault.lock();
    expect(log).toEqual(['flush turn', 'flush other', 'flush locked']);
    const again = await Vault.unlock(dir, PASSWORD);
    try {
      expect(['turn', 'other', 'plain', 'locked'].map((k) => text(again.kvGet('hooks', k)))).toEqual(['t', 'o', 'p', 'l']);
    } finally {
      again.lock();
    }
  });
});
