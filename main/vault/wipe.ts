// "Delete all data": after the password is checked against the vault header, every file under
// the profile directory is overwritten with random bytes, fsynced and unlinked, then the
// directories are removed. What this does not reach (SSD wear levelling, journals, snapshots,
// copies outside the profile) is in docs/threat-model.md.
import { closeSync, fsyncSync, linkSync, lstatSync, openSync, readdirSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';
import { readHeader, unwrapWithPassword } from './header.ts';
import { derivePasswordKey } from './kdf.ts';
import { headerMissing, vaultExists } from './lifecycle.ts';
import { LOCK_FILE, ProfileLock } from './lockfile.ts';
import { acquireProfile } from './scrub.ts';
import { NoVault, VaultCorrupt, WrongPassword } from './errors.ts';
import { headerMissingMessage } from './recovery-copy.ts';

export interface WipeSummary {
  /** Files overwritten and removed (symbolic links are removed without following them). */
  files: number;
  /** Bytes overwritten. */
  bytes: number;
}

const CHUNK = 1 << 20;

/** Overwrites the file's bytes in place (same inode) with random data and fsyncs it. */
function overwrite(path: string, size: number): void {
  const fd = openSync(path, 'r+');
  try {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size, 1)));
    for (let pos = 0; pos < size; pos += buf.length) {
      const n = Math.min(buf.length, size - pos);
      randomFillSync(buf, 0, n);
      writeSync(fd, buf, 0, n, pos);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function wipeTree(dir: string, summary: WipeSummary, keep?: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (path === keep) continue;
    if (entry.isDirectory()) {
      wipeTree(path, summary);
      rmdirSync(path);
      continue;
    }
    // lstat, not stat: a symbolic link is removed, never followed (its target is outside the profile's say).
    const st = lstatSync(path);
    if (st.isFile()) {
      overwrite(path, st.size);
      summary.bytes += st.size;
    }
    unlinkSync(path);
    summary.files += 1;
  }
}

const PIN_PREFIX = '.wipe-pin-';

/**
 * Hard links (inside the profile) to every file of it, taken before an open vault is closed:
 * closing deletes vault.db-wal/-shm and re-writes the search snapshot by rename, which would free
 * those inodes without an overwrite; pinned, their bytes are overwritten by the wipe like the
 * rest. Best effort: a filesystem without hard links pins nothing. `release` removes the pins
 * (for a wipe that did not happen).
 */
export function pinProfileFiles(profileDir: string): { release(): void } {
  const pins: string[] = [];
  for (const entry of readdirSync(profileDir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || entry.name.startsWith(PIN_PREFIX) || entry.name === LOCK_FILE) continue;
    const pin = join(profileDir, `${PIN_PREFIX}${pins.length}`);
    try {
      linkSync(join(entry.parentPath, entry.name), pin);
      pins.push(pin);
    } catch {
      // No hard links here (or the file went meanwhile): that file is wiped only if it stays.
    }
  }
  return {
    release: () => {
      for (const pin of pins) {
        try {
          unlinkSync(pin);
        } catch {
          // already wiped
        }
      }
    },
  };
}

/** Throws WrongPassword unless the password unwraps the data key (Argon2id + unwrap; nothing is written). */
export async function verifyPassword(profileDir: string, password: string): Promise<void> {
  if (typeof password !== 'string') throw new TypeError('password must be a string');
  if (!vaultExists(profileDir)) throw headerMissing(profileDir) ? new VaultCorrupt(headerMissingMessage(profileDir)) : new NoVault(profileDir);
  const header = readHeader(profileDir);
  const passwordKey = await derivePasswordKey(password, header.kdf.salt, header.kdf);
  const dataKey = unwrapWithPassword(passwordKey, header);
  passwordKey.fill(0);
  if (!dataKey) throw new WrongPassword();
  dataKey.fill(0);
}

/** Overwrites and removes everything under the profile while holding its lock, then the folder. */
function wipeLocked(profileDir: string, lock: ProfileLock): WipeSummary {
  const summary: WipeSummary = { files: 0, bytes: 0 };
  wipeTree(profileDir, summary, join(profileDir, LOCK_FILE));
  lock.release();
  // Only the lock file (a pid, no secret) could remain; a leftover would make rmdir fail loudly.
  rmdirSync(profileDir);
  return summary;
}

/**
 * Checks the password against the header, then overwrites and removes every file of the
 * profile, the profile folder last. A wrong password (WRONG_PASSWORD), a profile without a
 * vault (NO_VAULT / VAULT_CORRUPT) or one open in another process or by the caller itself
 * (PROFILE_LOCKED) changes nothing.
 */
export async function wipeProfile(profileDir: string, password: string): Promise<WipeSummary> {
  if (!vaultExists(profileDir)) throw headerMissing(profileDir) ? new VaultCorrupt(headerMissingMessage(profileDir)) : new NoVault(profileDir);
  // Held until the end so no other process opens the vault while it is being overwritten; after
  // a scrub at the last lock (this process's or another's), which holds the profile (scrub.ts).
  const lock = await acquireProfile(profileDir);
  try {
    await verifyPassword(profileDir, password);
    return wipeLocked(profileDir, lock);
  } finally {
    lock.release();
  }
}

/**
 * For a caller that checked the password with verifyPassword while it held the vault open and
 * has closed it since (the messenger): takes the lock (PROFILE_LOCKED if another process got it
 * meanwhile) and wipes. The caller waits for the scrub its close started (scrub.ts scrubbed) first.
 */
export function wipeVerifiedProfile(profileDir: string): WipeSummary {
  const lock = ProfileLock.acquire(profileDir);
  try {
    return wipeLocked(profileDir, lock);
  } finally {
    lock.release();
  }
}
