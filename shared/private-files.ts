// Owner-only files: the client's profile directory and the relay's data directory are 0700
// and every file in them 0600, whatever the umask or the mode an existing directory or file
// already had. open(2)'s mode is only an upper bound (the umask can take bits away but never
// add them back), and mkdir of an existing directory changes nothing, so both are also chmod-ed.
// SQLite creates its -wal/-shm files with the database file's mode, so creating the database
// file 0600 before SQLite opens it covers those too.
// On Windows, POSIX modes mean little (only the read-only bit): privacy there comes from the
// per-user profile location's ACLs, so these functions only create.
import { chmodSync, closeSync, fchmodSync, lstatSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

const POSIX = process.platform !== 'win32';

/**
 * Creates `dir` (and missing parents) owner-only, then makes `dir` itself 0700 and every file
 * below it 0600 and every directory below it 0700 (symbolic links are left alone, not followed).
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (!POSIX) return;
  chmodSync(dir, PRIVATE_DIR_MODE);
  tighten(dir);
}

function tighten(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) {
      if ((st.mode & 0o777) !== PRIVATE_DIR_MODE) chmodSync(path, PRIVATE_DIR_MODE);
      tighten(path);
    } else if (st.isFile() && (st.mode & 0o777) !== PRIVATE_FILE_MODE) {
      chmodSync(path, PRIVATE_FILE_MODE);
    }
  }
}

/** Makes sure `file` exists and is 0600 (creates it empty if missing; never truncates). */
export function ensurePrivateFile(file: string): void {
  const fd = openSync(file, 'a', PRIVATE_FILE_MODE);
  try {
    if (POSIX) fchmodSync(fd, PRIVATE_FILE_MODE);
  } finally {
    closeSync(fd);
  }
}

/** chmod 0600 of a file this process just wrote (its mode may have come from an older file). */
export function makePrivate(file: string): void {
  if (POSIX) chmodSync(file, PRIVATE_FILE_MODE);
}
