// One process per profile: `vault.lock` is created exclusively and holds the owner's pid.
// A lock whose pid no longer runs (the owner was SIGKILLed or crashed) is stale and taken over.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ProfileLocked } from './errors.ts';

export const LOCK_FILE = 'vault.lock';

export interface LockInfo {
  pid: number;
  host: string;
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
      const { pid, host } = v as Record<string, unknown>;
      if (typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 0 && typeof host === 'string') return { pid, host };
    }
  } catch {
    // fall through: unreadable lock content
  }
  return { pid: 0, host: '' };
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

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
