// vault.db rebuilt at lock (VACUUM) when something was deleted since the last rebuild.
//
// Why: `secure_delete` zeroes a deleted cell and every freed page, but when SQLite rebalances a
// b-tree it moves cells between sibling pages and leaves the old copies in the unallocated space
// of the page they left (btree.c rebuildPage does not clear it). When that row is deleted later,
// its cell is zeroed, the copies are not: sealed bytes of a deleted text or file stay in vault.db
// and open with the data key, which "deleted" must not allow (docs/threat-model.md). About 0.7 %
// of the rows deleted from a kv-like table left such a copy (test/vault/scrub.test.ts). VACUUM
// rebuilds every page from the live rows, so afterwards no page holds a byte of a deleted row.
//
// It rewrites the whole file (seconds at a million messages), so it runs once per unlock, at lock,
// in a worker thread, on the closed database (it needs no key). The profile lock stays held until
// it ends, and an unlock of the profile in this process waits for it (scrubbed); the lock file
// says it is held for a scrub, so another process's unlock waits for its end too (bounded,
// acquireProfile). Those waits are told to watchers (watchScrubs: the UI's status line, the
// CLI's notice). A marker file (empty) says that a scrub is owed, so one cut short (the process
// ended, the disk was full) runs at the next lock.
//
// Rows that are written over, or deleted without a checkpoint, leave the same gap copies of their
// older values: any kv entry (libsignal session records, at each message, holding the ratchet
// state that opens old messages; sender key chains; held envelopes; drafts typed and erased;
// pending-deletion records), an account secret, an outbox item. A scrub for each of them would
// rewrite the file at nearly every lock, so they owe one only once the last scrub is older than
// REPLACED_SECRETS_MAX_AGE_MS: a second file keeps the last scrub's time and whether such rows
// were replaced since (scrubState), read once per unlock (Vault, which tells itself of each such
// write: Vault.rowReplaced).
import { closeSync, constants, existsSync, fstatSync, fsyncSync, openSync, readSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { fsyncDir, writeFileAtomic } from '../../shared/atomic-write.ts';
import { acquireAfterScrub, type ProfileLock } from './lockfile.ts';
import { sqliteOptions } from './sqlite-binding.ts';
import { z } from 'zod';

/** Present in the profile directory while a scrub is owed: something was deleted since the last one. */
export const SCRUB_OWED_FILE = 'vault.scrub-owed';

/** `{"scrubbedAt": ms since the epoch, "replacedSince": boolean}`: the last completed scrub (or the vault's creation) and whether secret rows were replaced since. Not secret. */
export const SCRUB_STATE_FILE = 'vault.scrubbed.json';

/**
 * How long the older copies of replaced sealed rows (Vault.rowReplaced) may outlive the last
 * scrub: a lock at least this long after it, in or after an unlock that replaced one, scrubs.
 * A day: a session record's old chain keys then last about a day past their use (plus the time
 * until that lock), for one rewrite of vault.db a day at most among locks that deleted nothing.
 */
export const REPLACED_SECRETS_MAX_AGE_MS = 24 * 60 * 60 * 1000;

export interface ScrubState {
  /** When the last scrub ended (or the vault was created); undefined: never, or the file is missing or invalid (long ago). */
  scrubbedAt: number | undefined;
  /** Secret rows were replaced since (an invalid file says true: unknown). */
  replacedSince: boolean;
}

/** The file is a few dozen bytes; anything longer is not one this code wrote. */
const SCRUB_STATE_MAX_BYTES = 256;

/**
 * Reads SCRUB_STATE_FILE without following a symlink or blocking on a FIFO planted there. A
 * missing file: never scrubbed and nothing known replaced; an unreadable or invalid one: never
 * scrubbed and replaced (so the next lock scrubs, and rewrites it).
 */
export function readScrubState(profileDir: string): ScrubState {
  let fd: number;
  try {
    fd = openSync(join(profileDir, SCRUB_STATE_FILE), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? { scrubbedAt: undefined, replacedSince: false } : invalidState();
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > SCRUB_STATE_MAX_BYTES) return invalidState();
    const buf = Buffer.alloc(SCRUB_STATE_MAX_BYTES + 1);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return parseScrubState(buf.subarray(0, n).toString('utf8'));
  } catch {
    return invalidState();
  } finally {
    closeSync(fd);
  }
}

function invalidState(): ScrubState {
  return { scrubbedAt: undefined, replacedSince: true };
}

const ScrubStateFile = z.strictObject({ scrubbedAt: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER), replacedSince: z.boolean() });

function parseScrubState(text: string): ScrubState {
  try {
    const parsed = ScrubStateFile.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : invalidState();
  } catch {
    return invalidState();
  }
}

/** Writes SCRUB_STATE_FILE atomically (a symlink there is replaced, not followed); false if it could not be written. */
export function writeScrubState(profileDir: string, state: { scrubbedAt: number; replacedSince: boolean }): boolean {
  try {
    writeFileAtomic(join(profileDir, SCRUB_STATE_FILE), `${JSON.stringify(state)}\n`);
    return true;
  } catch {
    return false;
  }
}

/** True when replaced secret rows owe the scrub at `now`: the last scrub unknown, older than the bound, or in the future (a clock set back). */
export function scrubIsStale(scrubbedAt: number | undefined, now: number): boolean {
  if (scrubbedAt === undefined) return true;
  const age = now - scrubbedAt;
  return !(age >= 0 && age < REPLACED_SECRETS_MAX_AGE_MS);
}

// The worker's code is a string (no module file), as main/search/mirror.ts's: it needs only
// better-sqlite3, and a string survives every way the app is run (tsx, vitest, the bundled main).
const WORKER_SOURCE = `
'use strict';
const { workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path, { fileMustExist: true, timeout: 0, ...(workerData.nativeBinding ? { nativeBinding: workerData.nativeBinding } : {}) });
try {
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('secure_delete = ON');
  db.exec('VACUUM');
  // The rebuilt pages reach vault.db and the WAL goes (also the file's tail past the new size).
  const [r] = db.pragma('wal_checkpoint(TRUNCATE)');
  if (r.busy !== 0) throw new Error('the checkpoint after VACUUM did not finish');
} finally {
  db.close();
}
`;

/** Scrubs running (or just ended), by profile directory. */
const running = new Map<string, Promise<void>>();

/**
 * How long an unlock (create, recovery, wipe) waits for another process's scrub of the profile
 * before PROFILE_LOCKED: the scrub of a vault of a million messages takes about 5 s on a quiet
 * machine, and far longer on a loaded one or a slow disk.
 */
export const OTHER_SCRUB_WAIT_MS = 60_000;

/** Told true when a scrub of the profile starts (here) or a wait for one begins (another process's); false at the end. */
export type ScrubWatcher = (underWay: boolean) => void;
const watchers = new Map<string, Set<ScrubWatcher>>();

/** Calls `watcher` while this process scrubs the profile or waits for another's scrub of it, until the returned function is called. */
export function watchScrubs(profileDir: string, watcher: ScrubWatcher): () => void {
  const key = resolve(profileDir);
  let set = watchers.get(key);
  if (!set) watchers.set(key, (set = new Set()));
  set.add(watcher);
  return () => {
    set.delete(watcher);
    if (set.size === 0 && watchers.get(key) === set) watchers.delete(key);
  };
}

/** Ends the watch of an owner that was collected (watchScrubsOf). */
const ownersGone = new FinalizationRegistry<() => void>((unwatch) => unwatch());

/**
 * As watchScrubs, for as long as `owner` lives: the watch holds it only weakly (`tellOwner` must
 * not capture it), so a messenger that is closed and dropped is not kept by this module's map.
 */
export function watchScrubsOf<T extends object>(profileDir: string, owner: T, tellOwner: (owner: T, underWay: boolean) => void): void {
  const ref = new WeakRef(owner);
  const unwatch = watchScrubs(profileDir, (underWay) => {
    const alive = ref.deref();
    if (alive) tellOwner(alive, underWay);
  });
  ownersGone.register(owner, unwatch);
}

function tell(key: string, underWay: boolean): void {
  for (const w of [...(watchers.get(key) ?? [])]) {
    try {
      w(underWay);
    } catch {
      // A watcher's failure is its own: the scrub and the others go on.
    }
  }
}

/**
 * Records durably that a scrub is owed (once a deletion committed). Returns false if the marker
 * could not be written: the caller keeps that in memory and passes it to scrubAtLock.
 */
export function markScrubOwed(profileDir: string): boolean {
  const path = join(profileDir, SCRUB_OWED_FILE);
  try {
    if (existsSync(path)) return true;
    // Created, never opened through what is there already (a symlink is not followed).
    const fd = openSync(path, 'wx', 0o600);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // The new entry survives a power cut too.
    fsyncDir(profileDir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EEXIST' && existsSync(path);
  }
}

/**
 * After the lock closed the database: scrubs it in a worker when a scrub is owed (the marker, or
 * `owed` for one whose marker could not be written), then releases the profile lock; at once
 * when none is owed. While it runs, the lock file says the profile is held for a scrub. A scrub
 * that fails leaves the marker for the next lock.
 */
export function scrubAtLock(profileDir: string, owed: boolean, lock: Pick<ProfileLock, 'markScrubbing' | 'release'>): void {
  const marker = join(profileDir, SCRUB_OWED_FILE);
  if (!owed && !existsSync(marker)) {
    lock.release();
    return;
  }
  const key = resolve(profileDir);
  lock.markScrubbing();
  tell(key, true);
  const scrub = vacuum(join(profileDir, 'vault.db'))
    .then(() => {
      // The time first: should the marker's removal fail, the next lock scrubs anyway; should
      // the time's write fail, the next replacement finds it stale and owes one more scrub.
      writeScrubState(profileDir, { scrubbedAt: Date.now(), replacedSince: false });
      rmSync(marker, { force: true });
    })
    .catch(() => {
      // Left owed: the marker (if it could be written) makes the next lock try again. Nothing is
      // written here: the folder may be on its way out (a wipe, a test's cleanup).
    })
    .finally(() => {
      if (running.get(key) === scrub) running.delete(key);
      lock.release();
      tell(key, false);
    });
  running.set(key, scrub);
}

/**
 * The profile lock for an unlock, create, recovery or wipe: after this process's scrub of the
 * profile (scrubbed), and, while another process holds the profile only for its scrub, after
 * that one (up to OTHER_SCRUB_WAIT_MS; watchers are told of the wait). PROFILE_LOCKED otherwise.
 */
export async function acquireProfile(profileDir: string, maxWaitMs = OTHER_SCRUB_WAIT_MS): Promise<ProfileLock> {
  await scrubbed(profileDir);
  const key = resolve(profileDir);
  return acquireAfterScrub(profileDir, maxWaitMs, (waiting) => tell(key, waiting));
}

/** Resolves once no scrub of this profile runs in this process (unlock and create wait for it). */
export async function scrubbed(profileDir: string): Promise<void> {
  for (let p = running.get(resolve(profileDir)); p; p = running.get(resolve(profileDir))) await p;
}

function vacuum(path: string): Promise<void> {
  return new Promise((resolveScrub, reject) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { module: createRequire(import.meta.url).resolve('better-sqlite3'), nativeBinding: sqliteOptions().nativeBinding, path },
    });
    let failure: unknown;
    worker.on('error', (err) => (failure = err));
    worker.on('exit', (code) => (failure === undefined && code === 0 ? resolveScrub() : reject(failure ?? new Error(`the scrub stopped (${code})`))));
  });
}
