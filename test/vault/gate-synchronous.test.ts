// WriteGate switches the connection's `synchronous` for relaxed commits and receive batches:
// NORMAL inside, FULL again after (also when the work throws), on whichever connection is attached
// (the next unlock's too). A PRAGMA statement prepared once and run again fails both: SQLite
// applies `synchronous` when it compiles the statement, not when it runs.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { WriteGate } from '../../main/vault/gate.ts';
import { VaultKeys } from '../../main/vault/keys.ts';

const NORMAL = 1;
const FULL = 2;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function connection(dir: string): Database.Database {
  const db = new Database(join(dir, 'vault.db'));
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS t (v INTEGER)');
  return db;
}

function gateOn(db: Database.Database): WriteGate<object, object> {
  const gate = new WriteGate<object, object>(new VaultKeys(randomBytes(32), randomBytes(16)), { seq: () => 0, reload: () => undefined });
  gate.attach(db, {}, {});
  return gate;
}

const level = (db: Database.Database): unknown => db.pragma('synchronous', { simple: true });

describe('WriteGate synchronous switches', () => {
  it('relaxed work runs with NORMAL and leaves FULL, also when it throws; a batch the same until it commits', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gate-sync-'));
    dirs.push(dir);
    const db = connection(dir);
    const gate = gateOn(db);
    try {
      expect(gate.relaxedDurability(() => level(db))).toBe(NORMAL);
      expect(level(db)).toBe(FULL);
      expect(() => gate.relaxedDurability(() => {
        throw new Error('undone');
      })).toThrow('undone');
      expect(level(db)).toBe(FULL);
      expect(gate.batched(() => {
        db.prepare('INSERT INTO t (v) VALUES (1)').run();
        return level(db);
      })).toBe(NORMAL);
      expect(level(db)).toBe(NORMAL); // the batch is open until its turn
      gate.commitBatch();
      expect(level(db)).toBe(FULL);
      expect(db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 1 });
    } finally {
      gate.close();
    }
  });

  it('the next connection behind the same gate is switched, not the closed one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gate-sync-'));
    dirs.push(dir);
    const first = connection(dir);
    const gate = gateOn(first);
    gate.relaxedDurability(() => undefined);
    gate.close();
    const second = connection(dir);
    gate.attach(second, {}, {});
    try {
      expect(gate.relaxedDurability(() => level(second))).toBe(NORMAL);
      expect(level(second)).toBe(FULL);
    } finally {
      gate.close();
    }
  });
});
