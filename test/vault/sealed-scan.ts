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

/** The three 32-byte slices of a sealed value looked for (after the nonce, the middle, before the tag). */
const slicesOf = (v: Buffer): Buffer[] => [24, v.length >> 1, v.length - 40].map((at) => v.subarray(at, at + 32));

/**
 * Whether `at` in `page` (one b-tree page; page 1 starts with the 100-byte file header) lies in
 * its unallocated space: between the cell pointer array and the cell content area, where a
 * rebalance leaves old copies of cells that secure_delete does not clear (main/vault/scrub.ts).
 * Anywhere else (a cell, a freeblock, a free or overflow page) deleted bytes must never be.
 */
function inPageGap(page: Buffer, at: number, pageOne: boolean): boolean {
  const header = pageOne ? 100 : 0;
  const type = page[header];
  // Interior pages have a 12-byte header, leaves 8 (2, 5: interior index / table; 10, 13: leaves).
  const headerBytes = type === 2 || type === 5 ? 12 : type === 10 || type === 13 ? 8 : 0;
  if (headerBytes === 0) return false;
  const pointersEnd = header + headerBytes + 2 * page.readUInt16BE(header + 3);
  const contentStart = page.readUInt16BE(header + 5) || 65536;
  return at >= pointersEnd && at + 32 <= contentStart;
}

/** Offsets of `s` in `bytes`. */
function offsetsOf(bytes: Buffer, s: Buffer): number[] {
  const out: number[] = [];
  for (let at = bytes.indexOf(s); at >= 0; at = bytes.indexOf(s, at + 1)) out.push(at);
  return out;
}

/**
 * How many of `values` show in vault.db or its WAL anywhere but in a b-tree page's unallocated
 * space (inPageGap): what must hold while the vault is still unlocked, before the lock's scrub.
 * A WAL frame is a whole page image (a later commit that rewrites a page carries its gap along),
 * so its page is judged as vault.db's are; a hit in the WAL's or a frame's header counts.
 */
export function foundOutsidePageGaps(dir: string, values: readonly Buffer[]): number {
  const db = readFileSync(join(dir, 'vault.db'));
  const pageSize = db.readUInt16BE(16) === 1 ? 65536 : db.readUInt16BE(16);
  const wal = existsSync(join(dir, 'vault.db-wal')) ? readFileSync(join(dir, 'vault.db-wal')) : Buffer.alloc(0);
  const outsideInDb = (at: number): boolean => {
    const start = Math.floor(at / pageSize) * pageSize;
    return !inPageGap(db.subarray(start, start + pageSize), at - start, start === 0);
  };
  const outsideInWal = (at: number): boolean => {
    if (at < 32) return true;
    const frame = 32 + Math.floor((at - 32) / (24 + pageSize)) * (24 + pageSize);
    if (at < frame + 24) return true;
    return !inPageGap(wal.subarray(frame + 24, frame + 24 + pageSize), at - frame - 24, wal.readUInt32BE(frame) === 1);
  };
  return values.filter((v) => slicesOf(v).some((s) => offsetsOf(db, s).some(outsideInDb) || offsetsOf(wal, s).some(outsideInWal))).length;
}

/**
 * How many of `values` show in vault.db or its WAL by their 32 bytes after the nonce only (not the
 * three slices foundInVaultFiles looks for: enough for rows whose start a rebalance copies), for
 * thousands of values at once: one pass over each file, each offset's first four bytes looked up.
 */
export function countInVaultFiles(dir: string, values: readonly Buffer[]): number {
  const byPrefix = new Map<number, Buffer[]>();
  for (const v of values) {
    const s = v.subarray(24, 56);
    const list = byPrefix.get(s.readUInt32LE(0));
    if (list) list.push(s);
    else byPrefix.set(s.readUInt32LE(0), [s]);
  }
  const found = new Set<Buffer>();
  for (const f of VAULT_FILES) {
    if (!existsSync(join(dir, f))) continue;
    const bytes = readFileSync(join(dir, f));
    for (let at = 0; at + 32 <= bytes.length; at++) {
      const list = byPrefix.get(bytes.readUInt32LE(at));
      if (!list) continue;
      for (const s of list) if (bytes.compare(s, 0, 32, at, at + 32) === 0) found.add(s);
    }
  }
  return found.size;
}

/** How many of `values` show in vault.db or its WAL (raw bytes): any of three 32-byte slices of one counts it. */
export function foundInVaultFiles(dir: string, values: readonly Buffer[]): number {
  const files = VAULT_FILES.filter((f) => existsSync(join(dir, f))).map((f) => readFileSync(join(dir, f)));
  return values.filter((v) => {
    const slices = slicesOf(v);
    return files.some((f) => slices.some((s) => f.includes(s)));
  }).length;
}
