// WriteGate switches the connection's `synchronous` for relaxed commits and receive batches:
// NORMAL inside; FULL again before the next commit that must wait for the disk (a plain write, a
// transaction, a long transaction), also after relaxed work that threw, on whichever connection
// is attached (the next unlock's too). Back-to-back relaxed commits (a burst of texts) leave
// NORMAL set instead of switching twice each. A PRAGMA statement prepared once and run again
// fails these: SQLite applies `synchronous` when it compiles the statement, not when it runs.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
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
  function scene(): { db: Database.Database; gate: WriteGate<object, object>; switches: () => number } {
    const dir = mkdtempSync(join(tmpdir(), 'gate-sync-'));
    dirs.push(dir);
    const db = connection(dir);
    const gate = gateOn(db);
    const exec = vi.spyOn(db, 'exec');
    const switches = (): number => exec.mock.calls.filter(([sql]) => /PRAGMA synchronous/i.test(sql)).length;
    return { db, gate, switches };
  }

  it('relaxed work runs with NORMAL; the next plain write, transaction and long transaction commit with FULL, also after relaxed work that threw', async () => {
    const { db, gate } = scene();
    try {
      expect(gate.relaxedDurability(() => level(db))).toBe(NORMAL);
      expect(gate.write(() => level(db))).toBe(FULL);
      gate.relaxedDurability(() => gate.transaction(() => undefined));
      expect(gate.transaction(() => level(db))).toBe(FULL);
      expect(() => gate.relaxedDurability(() => {
        throw new Error('undone');
      })).toThrow('undone');
      expect(await gate.longTransaction(async (step) => step(() => level(db)))).toBe(FULL);
      // Inside relaxed work its own transactions and writes stay NORMAL.
      expect(gate.relaxedDurability(() => gate.transaction(() => level(db)))).toBe(NORMAL);
      expect(gate.relaxedDurability(() => gate.write(() => level(db)))).toBe(NORMAL);
      expect(gate.write(() => level(db))).toBe(FULL);
    } finally {
      gate.close();
    }
  });

  it('a batch runs with NORMAL until it commits; the write that commits it first then writes with FULL', () => {
    const { db, gate } = scene();
    try {
      expect(gate.batched(() => {
        db.prepare('INSERT INTO t (v) VALUES (1)').run();
        return level(db);
      })).toBe(NORMAL);
      expect(level(db)).toBe(NORMAL); // the batch is open until its turn
      expect(gate.write(() => {
        expect(db.inTransaction).toBe(false); // the batch was committed before
        db.prepare('INSERT INTO t (v) VALUES (2)').run();
        return level(db);
      })).toBe(FULL);
      expect(db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 2 });
    } finally {
      gate.close();
    }
  });

  it('back-to-back relaxed commits switch once, not twice each', () => {
    const { db, gate, switches } = scene();
    try {
      for (let i = 0; i < 5; i++) gate.relaxedDurability(() => gate.transaction(() => db.prepare('INSERT INTO t (v) VALUES (?)').run(i)));
      expect(switches()).toBe(1); // to NORMAL, once
      gate.write(() => undefined);
      expect(switches()).toBe(2); // back to FULL for the plain write
      gate.write(() => undefined);
      expect(switches()).toBe(2);
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
    second.pragma('synchronous = NORMAL'); // whatever the opener left: the gate's view is what it sets at attach
    gate.attach(second, {}, {});
    try {
      expect(level(second)).toBe(FULL);
      expect(gate.relaxedDurability(() => level(second))).toBe(NORMAL);
      expect(gate.write(() => level(second))).toBe(FULL);
    } finally {
      gate.close();
    }
  });
});
