// The relay's idempotency records in SQLite (relay/store.ts): one row per stored send in the
// `idempotency` table, appended in arrival order (rowid), so a send's insert writes the table's
// last page, which the batch's previous send dirtied already. A (sender, key) b-tree put each
// send's row on a random leaf page, one more page written per send and commit (~12-13 µs of
// SQLite work per send, stop 21's replay). Lookups go to a map in memory, rebuilt from the rows
// when the store opens (before the relay accepts a send): the rows are the truth.
//
// The map is bounded (IDEM_MEMORY_KEYS in all; one device may take all of it). Past the bound a
// record is written with `spilled = 1` and found through a partial index on disk (the old
// b-tree's cost, for those records only): no send is refused and memory does not grow.
// Records go after IDEMPOTENCY_RETENTION_MS, purged from the head of the table in rowid ranges.
import type Database from 'better-sqlite3';

/**
 * Most idempotency records kept in memory. A record takes ~105 bytes of heap when read at start,
 * ~175 when added by a send (its key a concatenation) with a 32-character key, ~205 with the
 * longest (64): at most ~205 MB (measured with 1M records, node 20). Reading 1M at start: ~2.4 s CPU.
 */
export const IDEM_MEMORY_KEYS = 1_000_000;
/** Records deleted per statement by a prune. */
const PRUNE_BATCH = 5000;

/** The schema: rowid order is arrival order; spilled records have a partial (sender, idem) index. */
export const IDEM_TABLE_SQL = `
  CREATE TABLE idempotency (
    id INTEGER PRIMARY KEY,
    sender BLOB NOT NULL,
    idem TEXT NOT NULL,
    queue_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    spilled INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX idempotency_spilled ON idempotency (sender, idem) WHERE spilled = 1;`;

/** The map's key: the sender in hex, ':', the client's key (no two pairs share one). */
function keyOf(sender: Buffer, idem: string): string {
  return `${sender.toString('hex')}:${idem}`;
}
/** keyOf in SQL, so a rebuild makes one string per row and no Buffer. */
const KEY_SQL = "lower(hex(sender)) || ':' || idem";

export class IdemLog {
  /** key -> queue id, for the records not spilled. */
  private readonly map = new Map<string, number>();
  /** Spilled records on disk: when 0, a key missing from the map is new without a read. */
  private spilled = 0;
  /** Records written by the open transaction (undefined: a spilled one), undone on rollback. */
  private readonly uncommitted: (string | undefined)[] = [];
  private readonly st: {
    insert: Database.Statement<[Buffer, string, number, number, number]>;
    findSpilled: Database.Statement<[Buffer, string]>;
    head: Database.Statement<[number]>;
    deleteTo: Database.Statement<[number]>;
  };

  constructor(
    private readonly db: Database.Database,
    private readonly limit = IDEM_MEMORY_KEYS,
  ) {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError('idempotencyMemoryKeys: a whole number >= 0');
    this.st = {
      insert: db.prepare('INSERT INTO idempotency (sender, idem, queue_id, created_at, spilled) VALUES (?, ?, ?, ?, ?)'),
      findSpilled: db.prepare('SELECT queue_id FROM idempotency WHERE sender = ? AND idem = ? AND spilled = 1'),
      head: db.prepare(`SELECT id, ${KEY_SQL} AS key, created_at, spilled FROM idempotency ORDER BY id LIMIT ?`),
      deleteTo: db.prepare('DELETE FROM idempotency WHERE id <= ?'),
    };
    this.load();
  }

  /** The map from the rows; records past the bound (a lowered bound, a migrated table) are spilled. */
  private load(): void {
    let firstOver: number | undefined;
    // Rows as arrays: no object per row (a million rows are read before the relay listens).
    const rows = this.db.prepare(`SELECT id, ${KEY_SQL}, queue_id FROM idempotency WHERE spilled = 0 ORDER BY id`).raw(true).iterate() as IterableIterator<[number, string, number]>;
    for (const [id, key, queueId] of rows) {
      if (this.map.size >= this.limit) {
        firstOver = id;
        break; // ends the iterator, so the update below may run
      }
      this.map.set(key, queueId);
    }
    if (firstOver !== undefined) this.db.prepare('UPDATE idempotency SET spilled = 1 WHERE spilled = 0 AND id >= ?').run(firstOver);
    this.spilled = (this.db.prepare('SELECT COUNT(*) AS n FROM idempotency WHERE spilled = 1').get() as { n: number }).n;
  }

  /** The queue id stored under (sender, idem), if the key was seen within its retention. */
  find(sender: Buffer, idem: string): number | undefined {
    const hit = this.map.get(keyOf(sender, idem));
    if (hit !== undefined || this.spilled === 0) return hit;
    const row = this.st.findSpilled.get(sender, idem) as { queue_id: number } | undefined;
    return row?.queue_id;
  }

  /** Records a new key (find() said it is not there), in the caller's transaction. */
  add(sender: Buffer, idem: string, queueId: number, now: number): void {
    const spill = this.map.size >= this.limit;
    this.st.insert.run(sender, idem, queueId, now, spill ? 1 : 0);
    if (spill) {
      this.spilled += 1;
      this.uncommitted.push(undefined);
    } else {
      const k = keyOf(sender, idem);
      this.map.set(k, queueId);
      this.uncommitted.push(k);
    }
  }

  /** Where a transaction's records begin (pass it to committed / rolledBack to end only those). */
  mark(): number {
    return this.uncommitted.length;
  }

  /** The transaction that wrote the records since `from` (default: all not yet ended) committed. */
  committed(from = 0): void {
    this.uncommitted.length = from;
  }

  /** It rolled back: its records are gone from disk, so from the map too. */
  rolledBack(from = 0): void {
    for (let i = from; i < this.uncommitted.length; i++) {
      const k = this.uncommitted[i];
      if (k === undefined) this.spilled -= 1;
      else this.map.delete(k);
    }
    this.uncommitted.length = from;
  }

  /** Records in memory and spilled, for tests and operators. */
  get sizes(): { inMemory: number; spilled: number } {
    return { inMemory: this.map.size, spilled: this.spilled };
  }

  /**
   * Deletes the records stored before `cutoff`, from the head of the table (arrival order) up to
   * the first one that is still young: a record behind it whose time is older (the clock went
   * back) waits for it, so a key is remembered at least its retention. Returns how many went.
   */
  prune(cutoff: number): number {
    // Never in a transaction: the map would forget rows its rollback brings back.
    if (this.db.inTransaction) throw new Error('idempotency prune inside a transaction');
    let total = 0;
    for (;;) {
      const rows = this.st.head.all(PRUNE_BATCH) as { id: number; key: string; created_at: number; spilled: number }[];
      let n = 0;
      while (n < rows.length && rows[n]!.created_at < cutoff) n += 1;
      if (n === 0) break;
      this.st.deleteTo.run(rows[n - 1]!.id);
      for (let i = 0; i < n; i++) {
        const r = rows[i]!;
        if (r.spilled) this.spilled -= 1;
        else this.map.delete(r.key);
      }
      total += n;
      if (n < rows.length || rows.length < PRUNE_BATCH) break;
    }
    return total;
  }
}

/**
 * Brings a relay.db whose idempotency table is the (sender, idem) b-tree (before schema version 1)
 * to the log, in arrival order (created_at), in one transaction.
 */
export function migrateIdempotency(db: Database.Database): void {
  db.transaction(() => {
    db.exec('ALTER TABLE idempotency RENAME TO idempotency_btree');
    db.exec(IDEM_TABLE_SQL);
    db.exec(`INSERT INTO idempotency (sender, idem, queue_id, created_at)
      SELECT sender, idem, queue_id, created_at FROM idempotency_btree ORDER BY created_at;
      DROP TABLE idempotency_btree;`);
  })();
}
