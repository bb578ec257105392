// Looking for a profile's sealed rows in its raw files: the tests of deletes that race a download
// (test/attachments/download-vs-delete, test/groups/group-files-delete) check that no sealed row
// the download wrote is left, byte for byte, in vault.db or its WAL.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const VAULT_FILES = ['vault.db', 'vault.db-wal'] as const;

/**
 * The sealed kv values of the profile in `dir` now, those of at least `minBytes` only (read from a
 * copy with its WAL: the open vault holds vault.db exclusively).
 */
export function sealedKvValues(dir: string, minBytes = 0): Buffer[] {
  const copy = mkdtempSync(join(tmpdir(), 'ephemera-sealed-scan-'));
  try {
    for (const f of VAULT_FILES) if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(copy, f));
    const db = new Database(join(copy, 'vault.db'));
    try {
      return db.prepare('SELECT sealed FROM kv').raw().all().map((row) => (row as [Buffer])[0]).filter((v) => v.length >= minBytes);
    } finally {
      db.close();
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

/** How many of `values` show in vault.db or its WAL (raw bytes): any of three 32-byte slices of one counts it. */
export function foundInVaultFiles(dir: string, values: readonly Buffer[]): number {
  const files = VAULT_FILES.filter((f) => existsSync(join(dir, f))).map((f) => readFileSync(join(dir, f)));
  return values.filter((v) => {
    const slices = [24, v.length >> 1, v.length - 40].map((at) => v.subarray(at, at + 32));
    return files.some((f) => slices.some((s) => f.includes(s)));
  }).length;
}
