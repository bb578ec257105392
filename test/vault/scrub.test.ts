// The scrub at lock (main/vault/scrub.ts): SQLite's b-tree rebalancing leaves copies of live cells
// in pages' unallocated space, which secure_delete does not clear, so rows deleted later can leave
// sealed bytes in vault.db (they open with the data key). Shown here first (the reason), then that
// once the vault is locked none of the deleted rows' bytes is in vault.db or its WAL, that an
// unlock right after the lock waits for the scrub, and that a scrub owed by an unlock that never
// locked (a crash) runs at the next lock. Real vaults, real files, raw bytes.
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Vault } from '../../main/vault/index.ts';
import { SCRUB_OWED_FILE } from '../../main/vault/scrub.ts';
import { testVaults } from './helpers.ts';
import { countInVaultFiles, foundOutsidePageGaps, sealedKvValues } from './sealed-scan.ts';

const PASSWORD = 'correct horse';
const vaults = testVaults(PASSWORD);
afterEach(() => vaults.cleanup());

const NS = 'scrub-test';
const b64 = (v: Buffer): string => v.toString('base64');

/** Many rows under random keys (so inserts land all over the tree and rebalance it), then every other one deleted. */
function writeThenDeleteHalf(vault: Vault, dir: string): { gone: Buffer[]; kept: Map<string, Buffer> } {
  const all = new Map<string, Buffer>();
  for (let i = 0; i < 4000; i++) all.set(randomBytes(8).toString('hex'), randomBytes(100 + (i % 9) * 90));
  const keys = [...all.keys()];
  for (let at = 0; at < keys.length; at += 500) vault.transaction(() => keys.slice(at, at + 500).forEach((k) => vault.kvSet(NS, k, all.get(k)!)));
  const before = sealedKvValues(dir);
  const kept = new Map<string, Buffer>();
  vault.transaction(() =>
    keys.forEach((k, i) => {
      if (i % 2 === 0) vault.kvDelete(NS, k);
      else kept.set(k, all.get(k)!);
    }),
  );
  // A deletion that must reach every file: zeroed cell, truncated WAL (and a scrub owed).
  vault.kvForget(NS, keys[1]!);
  kept.delete(keys[1]!);
  const live = new Set(sealedKvValues(dir).map(b64));
  return { gone: before.filter((v) => !live.has(b64(v))), kept };
}

describe('the scrub at lock', () => {
  it('leaves no byte of a deleted row in vault.db or its WAL, and every live row intact', { timeout: 120_000 }, async () => {
    const { vault, dir } = await vaults.fresh();
    const { gone, kept } = writeThenDeleteHalf(vault, dir);
    expect(gone.length).toBeGreaterThanOrEqual(2001);
    // The reason for the scrub: after secure_delete and a truncated WAL, copies remain, and only
    // in pages' unallocated space.
    expect(countInVaultFiles(dir, gone)).toBeGreaterThan(0);
    expect(foundOutsidePageGaps(dir, gone)).toBe(0);
    expect(existsSync(join(dir, SCRUB_OWED_FILE))).toBe(true);
    // Later commits that rewrite those pages carry their gaps into WAL frames (review s24 L1):
    // still only in gaps, and still there until the scrub.
    const live = [...kept.keys()];
    for (let t = 0; t < 20; t++) vault.transaction(() => live.slice(t * 100, t * 100 + 100).forEach((k) => vault.kvSet(NS, k, kept.get(k)!)));
    expect(foundOutsidePageGaps(dir, gone)).toBe(0);
    expect(countInVaultFiles(dir, gone)).toBeGreaterThan(0);

    vault.lock();
    // Unlocked again at once, without waiting for the scrub: the unlock waits for it.
    const again = await Vault.unlock(dir, PASSWORD);
    try {
      expect(countInVaultFiles(dir, gone)).toBe(0);
      expect(existsSync(join(dir, SCRUB_OWED_FILE))).toBe(false);
      for (const [k, v] of kept) expect(Buffer.from(again.kvGet(NS, k)!).equals(v)).toBe(true);
      expect(again.kvKeys(NS).length).toBe(kept.size);
    } finally {
      again.lock();
    }
  });

  it('a symlink planted as the marker is not followed: its target is not created', async () => {
    const { vault, dir } = await vaults.fresh();
    const target = join(dir, '..', 'planted-target');
    symlinkSync(target, join(dir, SCRUB_OWED_FILE));
    vault.kvSet(NS, 'a', Buffer.from('x'));
    vault.kvForget(NS, 'a');
    expect(existsSync(target)).toBe(false);
    // Owed all the same (kept in memory): the lock scrubs, and its end removes what has the marker's name.
    vault.lock();
    await Vault.scrubbed(dir);
    expect(existsSync(target)).toBe(false);
    expect(() => lstatSync(join(dir, SCRUB_OWED_FILE))).toThrow(/ENOENT/);
  });

  it('an unlock that deleted nothing owes no scrub', async () => {
    const { vault, dir } = await vaults.fresh();
    vault.kvSet(NS, 'a', Buffer.from('kept'));
    vault.lock();
    expect(existsSync(join(dir, SCRUB_OWED_FILE))).toBe(false);
  });

  it('a scrub owed by an unlock that never locked (a crash) runs at the next lock', { timeout: 120_000 }, async () => {
    const { vault, dir } = await vaults.fresh();
    const { gone } = writeThenDeleteHalf(vault, dir);
    // The files as a crash leaves them: vault.db, its WAL, the header and the marker, no lock.
    const crashed = join(mkdtempSync(join(tmpdir(), 'ephemera-scrub-crash-')), 'profile');
    try {
      cpSync(dir, crashed, { recursive: true, filter: (src) => !src.endsWith('vault.lock') });
      expect(existsSync(join(crashed, SCRUB_OWED_FILE))).toBe(true);
      expect(countInVaultFiles(crashed, gone)).toBeGreaterThan(0);
      const reopened = await Vault.unlock(crashed, PASSWORD);
      reopened.kvSet(NS, 'b', Buffer.from('no deletion this time'));
      reopened.lock();
      await Vault.scrubbed(crashed);
      expect(countInVaultFiles(crashed, gone)).toBe(0);
      expect(existsSync(join(crashed, SCRUB_OWED_FILE))).toBe(false);
    } finally {
      await Vault.scrubbed(crashed);
      rmSync(join(crashed, '..'), { recursive: true, force: true });
    }
  });
});
