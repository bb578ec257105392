// The scrub at lock (main/vault/scrub.ts): SQLite's b-tree rebalancing leaves copies of live cells
// in pages' unallocated space, which secure_delete does not clear, so rows deleted later can leave
// sealed bytes in vault.db (they open with the data key). Shown here first (the reason), then that
// once the vault is locked none of the deleted rows' bytes is in vault.db or its WAL, that an
// unlock right after the lock waits for the scrub, and that a scrub owed by an unlock that never
// locked (a crash) runs at the next lock. Real vaults, real files, raw bytes. Then the wait: the
// lock file says the profile is held for a scrub, watchers (the UI, the CLI) hear it, and an
// unlock in another process waits for that scrub instead of failing (a live app still refuses).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import readline from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { Vault } from '../../main/vault/index.ts';
import { ProfileLock, readLockInfo, type LockInfo } from '../../main/vault/lockfile.ts';
import { SCRUB_OWED_FILE, watchScrubs } from '../../main/vault/scrub.ts';
import { testVaults } from './helpers.ts';
import { countInVaultFiles, foundOutsidePageGaps, sealedKvValues } from './sealed-scan.ts';
import { PreKeyDirectory, str, text } from '../e2e-signal/helpers.ts';
import { vaultParties } from '../e2e-signal/vault-parties.ts';

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

const ROOT = resolve(import.meta.dirname, '..', '..');

/**
 * Another process holding the profile with the real ProfileLock, as the app does: at first as a
 * running app; `scrub` marks it held for the scrub at lock (as scrubAtLock does), `release` ends it.
 */
function otherHolder(profile: string): { child: ChildProcess; ready: Promise<void>; say(line: 'scrub' | 'release'): Promise<void> } {
  const code = `import readline from 'node:readline';
import { ProfileLock } from './main/vault/lockfile.ts';
const lock = ProfileLock.acquire(process.env.HOLD_PROFILE);
console.log('held');
for await (const line of readline.createInterface({ input: process.stdin })) {
  if (line === 'scrub') { lock.markScrubbing(); console.log('scrub'); }
  if (line === 'release') { lock.release(); console.log('release'); break; }
}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, env: { ...process.env, HOLD_PROFILE: profile }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout! });
  const waiters = new Map<string, () => void>();
  const seen = new Set<string>();
  lines.on('line', (l) => (seen.add(l), waiters.get(l)?.()));
  const heard = (l: string) => new Promise<void>((r) => (seen.has(l) ? r() : waiters.set(l, r)));
  return {
    child,
    ready: heard('held'),
    say: async (line) => {
      child.stdin!.write(`${line}\n`);
      await heard(line);
    },
  };
}

describe('the wait for a scrub', () => {
  /** A deletion, then the lock: its scrub runs while `watch` hears it start and end. */
  async function deleteLockAndScrub(vault: Vault, dir: string, watch: (underWay: boolean) => void): Promise<void> {
    const unwatch = watchScrubs(dir, watch);
    try {
      vault.kvSet(NS, 'a', Buffer.from('x'));
      vault.kvForget(NS, 'a');
      vault.lock();
      await Vault.scrubbed(dir);
    } finally {
      unwatch();
    }
  }

  it('while the lock\'s scrub runs, the lock file says the profile is held for it, and watchers hear its start and end', async () => {
    const { vault, dir } = await vaults.fresh();
    const heard: { underWay: boolean; lock: LockInfo | undefined }[] = [];
    await deleteLockAndScrub(vault, dir, (underWay) => heard.push({ underWay, lock: readLockInfo(dir) }));
    expect(heard).toEqual([
      { underWay: true, lock: { pid: process.pid, host: hostname(), scrub: true } },
      { underWay: false, lock: undefined },
    ]);
  });

  it('marking the lock for the scrub writes through no symlink planted at its temp name', async () => {
    const { vault, dir } = await vaults.fresh();
    const target = join(dir, '..', 'planted-lock-target');
    symlinkSync(target, join(dir, `vault.lock.${process.pid}.tmp`));
    const marked: (LockInfo | undefined)[] = [];
    await deleteLockAndScrub(vault, dir, (underWay) => void (underWay && marked.push(readLockInfo(dir))));
    expect(existsSync(target)).toBe(false);
    expect(marked).toEqual([{ pid: process.pid, host: hostname(), scrub: true }]);
  });

  it('an unlock in another process waits for that process\'s scrub and then opens; a running app still refuses at once', { timeout: 120_000 }, async () => {
    const { vault, dir } = await vaults.fresh();
    vault.kvSet(NS, 'a', Buffer.from('kept'));
    vault.lock();
    const other = otherHolder(dir);
    const heard: boolean[] = [];
    const unwatch = watchScrubs(dir, (underWay) => heard.push(underWay));
    try {
      await other.ready;
      // Held by a running app: refused at once, nothing heard.
      await expect(Vault.unlock(dir, PASSWORD)).rejects.toMatchObject({ code: 'PROFILE_LOCKED' });
      expect(heard).toEqual([]);
      await other.say('scrub');
      let settled = false;
      const unlocking = Vault.unlock(dir, PASSWORD).finally(() => (settled = true));
      await expect.poll(() => heard, { timeout: 60_000 }).toEqual([true]);
      // Still waiting: the other process has not released the profile.
      expect(settled).toBe(false);
      await other.say('release');
      const again = await unlocking;
      try {
        expect(Buffer.from(again.kvGet(NS, 'a')!).toString()).toBe('kept');
        expect(heard).toEqual([true, false]);
      } finally {
        again.lock();
      }
    } finally {
      unwatch();
      if (other.child.exitCode === null) other.child.kill();
    }
  });

  it('the CLI waits for another process\'s scrub of the profile and says so on stderr once, then runs', { timeout: 120_000 }, async () => {
    const { vault, dir } = await vaults.fresh();
    vault.lock();
    // This process holds the profile for a scrub (the real lock, marked as scrubAtLock marks it).
    const lock = ProfileLock.acquire(dir);
    lock.markScrubbing();
    const env: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EPHEMERA_')) env[k] = v;
    const cli = spawn(process.execPath, ['--import', 'tsx', 'cli/ephemera.ts', '--profile', dir, 'unlock-check'], {
      cwd: ROOT,
      env: { ...env, EPHEMERA_PASSWORD: PASSWORD },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    cli.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => cli.once('close', r));
    try {
      await expect.poll(() => stderr, { timeout: 60_000 }).toMatch(/waiting for the vault's clean-up of deleted data \(\d+ s so far\)…\n/);
      lock.release();
      expect(await exited).toBe(0);
      expect(stderr.split('\n').filter((l) => l.includes('clean-up'))).toHaveLength(1);
    } finally {
      lock.release();
      if (cli.exitCode === null) cli.kill();
    }
  });
});

const parties = vaultParties('scrub-prekey');

describe('a used prekey', () => {
  it('owes the scrub at lock (its private key\'s rebalancing copies go), without a checkpoint of its own', { timeout: 120_000 }, async () => {
    const relay = new PreKeyDirectory();
    const alice = await parties.register(relay, 'alice', 3);
    const bob = await parties.register(relay, 'bob', 3);
    const marker = join(bob.dir, SCRUB_OWED_FILE);
    await alice.e2e.startSession('bob', relay.fetchBundle('bob'));
    const first = await alice.e2e.encryptFor('bob', text('hello bob'));
    expect(first.type).toBe('prekey');
    // Registration deleted nothing: no scrub owed yet.
    expect(existsSync(marker)).toBe(false);
    expect(str(await bob.e2e.decryptFrom('alice', first))).toBe('hello bob');
    // The one-time (and Kyber one-time) prekey the PreKey message used is gone, and the lock owes the scrub.
    expect(bob.e2e.localPreKeyCounts()).toEqual({ preKeys: 2, kyberPreKeys: 2 });
    expect(existsSync(marker)).toBe(true);
    bob.vault.lock();
    await Vault.scrubbed(bob.dir);
    expect(existsSync(marker)).toBe(false);
  });
});
