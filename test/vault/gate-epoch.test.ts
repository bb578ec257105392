// WriteGate.writeEpoch moves whenever a write made before may have been undone: also when a table
// module's own nested transaction (a savepoint on the writable handle, not gate.transaction)
// rolls back inside a write, since what an append kept in memory (vault/messages/order-keys.ts)
// would otherwise outlive the rows it described. writeEpochOf finds the gate of a handle it made.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { WriteGate, writeEpochOf } from '../../main/vault/gate.ts';
import { VaultKeys } from '../../main/vault/keys.ts';

const dirs: string[] = [];
const dbs: Database.Database[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) if (db.open) db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function scene(): { db: Database.Database; gate: WriteGate<object, object> } {
  const dir = mkdtempSync(join(tmpdir(), 'gate-epoch-'));
  dirs.push(dir);
  const db = new Database(join(dir, 'vault.db'));
  dbs.push(db);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (v INTEGER)');
  const gate = new WriteGate<object, object>(new VaultKeys(randomBytes(32), randomBytes(16)), { seq: () => 0, reload: () => undefined });
  gate.attach(db, {}, {});
  return { db, gate };
}

const rows = (db: Database.Database): number => (db.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n;

describe('the write epoch', () => {
  it('moves when a nested transaction on the writable handle rolls back inside a write', () => {
    const { db, gate } = scene();
    const start = gate.writeEpoch;
    gate.write((w) => w.transaction(() => db.prepare('INSERT INTO t VALUES (1)').run()));
    expect(gate.writeEpoch).toBe(start); // committed: nothing undone
    gate.write((w) => {
      w.transaction(() => db.prepare('INSERT INTO t VALUES (2)').run());
      expect(() =>
        w.transaction(() => {
          db.prepare('INSERT INTO t VALUES (3)').run();
          throw new Error('undo');
        }),
      ).toThrow('undo');
    });
    expect(rows(db)).toBe(2);
    expect(gate.writeEpoch).toBeGreaterThan(start);
  });

  it('is found from the handles a gate gave out, and only from those', () => {
    const { gate } = scene();
    const seen = gate.write((w) => ({ handle: w, epoch: writeEpochOf(w) }));
    expect(seen.epoch).toBe(gate.writeEpoch);
    expect(() => gate.transaction(() => {
      throw new Error('undo');
    })).toThrow('undo');
    expect(writeEpochOf(seen.handle)).toBe(gate.writeEpoch);
    expect(writeEpochOf({})).toBeUndefined();
    gate.close();
    expect(writeEpochOf(seen.handle)).toBe(gate.writeEpoch);
  });
});
