// A deletion's TRUNCATE checkpoint that does not finish (busy, or refused while a statement is
// still stepping) leaves the deleted rows' old page versions in the -wal. The scheduled
// checkpoint RESTARTs the WAL (the file is kept and overwritten), so it must TRUNCATE instead
// while a truncate is owed; otherwise those pages would wait for the next deletion or the lock.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { WAL_CHECKPOINT_BYTES, WalCheckpoints } from '../../main/vault/checkpoints.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup(): { db: Database.Database; checkpoints: WalCheckpoints; calls: string[]; walSize: () => number } {
  const dir = mkdtempSync(join(tmpdir(), 'checkpoint-owed-'));
  const db = new Database(join(dir, 'v.db'));
  cleanups.push(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec(`PRAGMA journal_size_limit = ${WAL_CHECKPOINT_BYTES}`);
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)');
  const calls: string[] = [];
  const checkpoints: WalCheckpoints = new WalCheckpoints({
    checkpoint: () => {
      calls.push('truncate');
      return checkpoints.truncate(db);
    },
    restart: () => {
      calls.push('restart');
      return checkpoints.restart(db);
    },
    batchOpen: () => false,
    isCurrent: () => true,
    syncWal: () => Promise.resolve(true),
  });
  return { db, checkpoints, calls, walSize: () => statSync(join(dir, 'v.db-wal')).size };
}

/** Commits rows until the -wal passes the scheduled checkpoint's size, then lets the commit schedule it. */
function growPastCheckpointSize(db: Database.Database, checkpoints: WalCheckpoints, walSize: () => number): void {
  const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
  for (let i = 0; i < 10_000 && walSize() < WAL_CHECKPOINT_BYTES; i++) insert.run(Buffer.alloc(8192, i % 251));
  expect(walSize()).toBeGreaterThanOrEqual(WAL_CHECKPOINT_BYTES);
  checkpoints.afterCommit(db);
}

async function settle(calls: string[]): Promise<void> {
  for (let i = 0; i < 100 && calls.length === 0; i++) await new Promise((r) => setImmediate(r));
}

describe('the scheduled checkpoint after a deletion truncate that did not finish', () => {
  it('restarts the WAL when no truncate is owed (the file is kept)', async () => {
    const { db, checkpoints, calls, walSize } = setup();
    growPastCheckpointSize(db, checkpoints, walSize);
    await settle(calls);
    expect(calls).toEqual(['restart']);
    expect(walSize()).toBeGreaterThan(0);
  });

  it('truncates instead while a TRUNCATE is owed, and restarts again once one has finished', async () => {
    const { db, checkpoints, calls, walSize } = setup();
    db.prepare('INSERT INTO t (body) VALUES (?)').run(Buffer.alloc(100));
    // A statement still stepping: the deletion's TRUNCATE cannot run (better-sqlite3 refuses).
    const rows = db.prepare('SELECT id FROM t').iterate();
    rows.next();
    expect(() => checkpoints.truncate(db)).toThrow();
    rows.return?.();
    growPastCheckpointSize(db, checkpoints, walSize);
    await settle(calls);
    expect(calls).toEqual(['truncate']);
    expect(walSize()).toBe(0);
    // Owed no more: the next scheduled one restarts.
    calls.length = 0;
    growPastCheckpointSize(db, checkpoints, walSize);
    await settle(calls);
    expect(calls).toEqual(['restart']);
  });
});
