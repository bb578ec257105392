// One process per profile: `vault.lock` is created exclusively and holds the owner's pid.
// A lock whose pid no longer runs (the owner was SIGKILLed or crashed) is stale and taken over.
// While the owner only holds it for the scrub at lock (scrub.ts), the file says so (`scrub`), so
// another process may wait for its end instead of failing (acquireAfterScrub).
import { closeSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ProfileLocked } from './errors.ts';

export const LOCK_FILE = 'vault.lock';

export interface LockInfo {
  pid: number;
  host: string;
  /** Held only for the scrub at lock: the owner releases it when the scrub ends. */
  scrub: boolean;
}

export function readLockInfo(profileDir: string): LockInfo | undefined {
  let raw: string;
  try {
    raw = readFileSync(join(profileDir, LOCK_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(raw) as unknown;
    if (typeof v === 'object' && v !== null) {
      const { pid, host, scrub } = v as Record<string, unknown>;
      if (typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 0 && typeof host === 'string') return { pid, host, scrub: scrub === true };
    }
  } catch {
    // fall through: unreadable lock content
  }
  return { pid: 0, host: '', scrub: false };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid holding the profile, or undefined when it is free or the lock is stale. */
export function liveLockOwner(profileDir: string): number | undefined {
  const info = readLockInfo(profileDir);
  if (!info) return undefined;
  if (info.pid === 0) return undefined;
  // A lock from another host (shared folder) cannot be checked: treat it as live.
  if (info.host !== hostname()) return info.pid;
  return processAlive(info.pid) ? info.pid : undefined;
}

/**
 * True when a live process on this host holds the profile only for its scrub at lock. A lock of
 * another host (shared folder) never counts: its process cannot be checked.
 */
export function heldByScrub(profileDir: string): boolean {
  const info = readLockInfo(profileDir);
  return info !== undefined && info.scrub && info.host === hostname() && processAlive(info.pid);
}

export class ProfileLock {
  private released = false;
  private constructor(private readonly path: string) {}

  /** Throws ProfileLocked when another live process holds the profile. */
  static acquire(profileDir: string): ProfileLock {
    const path = join(profileDir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, 'wx', 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = liveLockOwner(profileDir);
        if (owner !== undefined) throw new ProfileLocked(profileDir, owner);
        const info = readLockInfo(profileDir);
        // An empty/garbled lock may be one another process is writing right now: give it a moment.
        if (info && info.pid === 0 && attempt === 0) sleepMs(50);
        if (liveLockOwner(profileDir) !== undefined) throw new ProfileLocked(profileDir, liveLockOwner(profileDir));
        try {
          unlinkSync(path);
        } catch {
          // someone else removed it first; retry the exclusive create
        }
        continue;
      }
      try {
        writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname() }));
      } finally {
        closeSync(fd);
      }
      return new ProfileLock(path);
    }
    throw new ProfileLocked(profileDir);
  }

  /**
   * Says in the lock file that the profile is held only for the scrub from now on (replaced
   * whole by a rename, so a reader never sees a half-written lock). Best effort: if it cannot be
   * written, the lock stays as it was and another process is refused as before.
   */
  markScrubbing(): void {
    if (this.released) return;
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      // Created afresh (wx): never written through what is there already (a planted symlink).
      rmSync(tmp, { force: true });
      writeFileSync(tmp, JSON.stringify({ pid: process.pid, host: hostname(), scrub: true }), { mode: 0o600, flag: 'wx' });
      renameSync(tmp, this.path);
    } catch {
      rmSync(tmp, { force: true });
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    try {
      const info = JSON.parse(readFileSync(this.path, 'utf8')) as { pid?: unknown };
      if (info.pid !== process.pid) return;
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

/**
 * ProfileLock.acquire, but while another process holds the profile only for its scrub at lock,
 * waits (up to `maxWaitMs`) for it to end instead of failing; `onWait(true)` when such a wait
 * begins, `onWait(false)` when it ends. PROFILE_LOCKED for a profile held otherwise, or still
 * held by a scrub at the deadline.
 */
export async function acquireAfterScrub(profileDir: string, maxWaitMs: number, onWait: (waiting: boolean) => void): Promise<ProfileLock> {
  const deadline = Date.now() + maxWaitMs;
  let waiting = false;
  try {
    for (;;) {
      try {
        return ProfileLock.acquire(profileDir);
      } catch (err) {
        if (!(err instanceof ProfileLocked) || !heldByScrub(profileDir) || Date.now() >= deadline) throw err;
      }
      if (!waiting) {
        waiting = true;
        onWait(true);
      }
      await new Promise((r) => setTimeout(r, SCRUB_POLL_MS));
    }
  } finally {
    if (waiting) onWait(false);
  }
}

/** How often a wait for another process's scrub looks at the lock file again. */
const SCRUB_POLL_MS = 100;

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
