// The one way this project replaces a file: write a temporary file (owner-only, 0600) in the
// same directory, fsync it, rename it over the target, fsync the directory. A reader (or a crash
// at any point) sees the old file or the new one, never a mix; after it returns the new one
// survives a power loss. Beside private-files.ts, whose modes it follows.
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { PRIVATE_FILE_MODE } from './private-files.ts';

const POSIX = process.platform !== 'win32';

/** `${path}.tmp-` and 12 hex digits: the default temporary name (sealed-files.ts sweeps leftovers by it). */
export function tempPathFor(path: string): string {
  return `${path}.tmp-${randomBytes(6).toString('hex')}`;
}

/** A temporary file being written; `commit` puts it in place, `abort` removes it. */
export interface AtomicFile {
  readonly fd: number;
  readonly tempPath: string;
  /** fsync, close, rename over the target, fsync the directory. On failure the temp file is removed. */
  commit(): void;
  /** Closes (if still open) and removes the temp file; never throws. */
  abort(): void;
}

/**
 * Opens the temporary file for `path` (created exclusively, 0600 whatever the umask). For
 * writers that stream; `writeFileAtomic` is the whole-buffer form. `tempPath` defaults to
 * tempPathFor(path) and must be in the same directory (rename is atomic only within one).
 */
export function beginAtomicWrite(path: string, tempPath: string = tempPathFor(path)): AtomicFile {
  if (dirname(tempPath) !== dirname(path)) throw new Error('the temporary file must be in the target directory');
  const fd = openSync(tempPath, 'wx', PRIVATE_FILE_MODE);
  let open = true;
  const close = (): void => {
    if (!open) return;
    open = false;
    closeSync(fd);
  };
  const abort = (): void => {
    try {
      close();
    } catch {
      // the temp file goes either way
    }
    try {
      unlinkSync(tempPath);
    } catch {
      // already gone
    }
  };
  try {
    // open(2)'s mode is only an upper bound under the umask.
    if (POSIX) fchmodSync(fd, PRIVATE_FILE_MODE);
  } catch (err) {
    abort();
    throw err;
  }
  return {
    fd,
    tempPath,
    commit: () => {
      try {
        fsyncSync(fd);
        close();
        renameSync(tempPath, path);
      } catch (err) {
        abort();
        throw err;
      }
      fsyncDir(dirname(path));
    },
    abort,
  };
}

/** Replaces `path` with `data` atomically and durably (see the top of this file). */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const file = beginAtomicWrite(path);
  try {
    writeAll(file.fd, bytes);
  } catch (err) {
    file.abort();
    throw err;
  }
  file.commit();
}

/** writeSync until every byte is written (it may write less than asked). */
export function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, Math.min(data.length - off, 1 << 20));
}

/**
 * fsync of a directory makes a rename in it durable. Windows cannot open a directory this way
 * (rename is enough there); file systems that cannot sync a directory (EINVAL, ENOTSUP) are
 * left at that; other errors are thrown.
 */
export function fsyncDir(dir: string): void {
  if (!POSIX) return;
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch (err) {
    if (isUnsupported(err)) return;
    throw err;
  }
  try {
    fsyncSync(fd);
  } catch (err) {
    if (!isUnsupported(err)) throw err;
  } finally {
    closeSync(fd);
  }
}

function isUnsupported(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'EINVAL' || code === 'ENOTSUP' || code === 'EOPNOTSUPP';
}
