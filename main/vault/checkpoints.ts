// When the vault's WAL is copied into vault.db (SQLite's auto-checkpoint is off, see open.ts): a
// checkpoint asked for inside a transaction runs after the commit that ends it (a deletion's
// TRUNCATE, so "deleted" reaches every file), and the WAL is kept bounded: past
// WAL_CHECKPOINT_BYTES (16 MiB) a commit schedules one in a later turn, past WAL_LIMIT_BYTES it runs at
// once (TRUNCATE). The scheduled one RESTARTs the WAL instead of truncating it: the next commits
// overwrite the file from its start (journal_size_limit trims it back to WAL_CHECKPOINT_BYTES),
// so neither the checkpoint nor the commits after it pay for freeing and growing the file again.
// A long transaction's commit (backup import) leaves the WAL far past the limit: its TRUNCATE is
// scheduled too (afterLongCommit), so the turn of the COMMIT does not also pay for the copy.
// Split from gate.ts: the gate owns the transaction, this decides when a checkpoint follows.
import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';

/**
 * WAL size past which a commit schedules a checkpoint: the WAL is first fsynced on the thread
 * pool, then checkpointed in a turn of its own, so the main thread waits only for the copy and
 * vault.db's fsync, never inside a commit. 16 MiB, not 4: each checkpoint copies a page once
 * however often the WAL rewrote it (a send rewrites the same kv, outbox and index pages), and
 * pays one fsync of vault.db, so sequential sends made a third of the checkpoints at about
 * the same time each (A/B in the commit that set it). Half of WAL_LIMIT_BYTES: a burst between
 * two turns still has room before the limit's at-once checkpoint.
 */
export const WAL_CHECKPOINT_BYTES = 16 * 1024 * 1024;
/** The bound: a commit that leaves the WAL this large checkpoints at once (the turn never came). */
export const WAL_LIMIT_BYTES = 32 * 1024 * 1024;

/** What the checkpoints need of the gate. */
export interface CheckpointHost {
  /** WriteGate.checkpoint: the TRUNCATE checkpoint, false inside a transaction. */
  checkpoint(): boolean;
  /** The gate's RESTART checkpoint (WalCheckpoints.restart), false inside a transaction. */
  restart(): boolean;
  /** A receive batch is open (it commits at its own turn). */
  batchOpen(): boolean;
  /** `db` is still the gate's open database and the keys are there. */
  isCurrent(db: Database.Database): boolean;
  /** The -wal's fsync on the thread pool; false once locked (Durability.syncBeforeCheckpoint). */
  syncWal(): Promise<boolean>;
}

export class WalCheckpoints {
  readonly #host: CheckpointHost;
  /** A checkpoint was asked for inside a transaction: the commit that ends it runs it. */
  #wanted = false;
  /** True from the commit that scheduled a checkpoint (afterCommit) until it ran or was dropped. */
  #scheduled = false;
  /**
   * The -wal's size after the last RESTART, at most WAL_CHECKPOINT_BYTES (0 after a TRUNCATE):
   * the file keeps that size, and the commits after it write from its start, so it grows past
   * this only once that much more was committed.
   */
  #restartedSize = 0;
  /**
   * A TRUNCATE (a deletion's) did not finish (busy or failed): the next scheduled checkpoint
   * truncates instead of restarting, so what the deletion left in the -wal does not wait for the
   * next deletion or the lock (review s21: before RESTART, every scheduled checkpoint truncated).
   */
  #truncateOwed = false;
  /** A long transaction's commit scheduled the next checkpoint: it truncates (afterLongCommit). */
  #truncateNext = false;
  /**
   * Size past which a commit checkpoints at once: WAL_LIMIT_BYTES, and from a long transaction's
   * commit until its scheduled checkpoint ran, that commit's WAL size plus WAL_CHECKPOINT_BYTES
   * (a write in the turns between must not pay for the import's copy; the WAL stays bounded).
   */
  #atOnceBytes = WAL_LIMIT_BYTES;

  constructor(host: CheckpointHost) {
    this.#host = host;
  }

  /** Asked for inside a transaction: the commit that ends the outermost one runs it (afterOuterCommit). */
  want(): void {
    this.#wanted = true;
  }

  /** Copies the WAL into vault.db and truncates it; true unless a reader kept some of it. Throws SQLite's error. */
  truncate(db: Database.Database): boolean {
    this.#wanted = false;
    this.#truncateOwed = true; // until it is done (a throw leaves it owed)
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
    this.#restartedSize = 0;
    const done = result !== undefined && result.busy === 0;
    this.#truncateOwed = !done;
    this.#truncateNext = false;
    return done;
  }

  /**
   * Copies the WAL into vault.db (syncing both, as TRUNCATE) and has the next commit write the
   * WAL from its start, keeping the file; true unless a reader kept some of it. Throws SQLite's error.
   */
  restart(db: Database.Database): boolean {
    const [result] = db.pragma('wal_checkpoint(RESTART)') as { busy: number; log: number; checkpointed: number }[];
    const done = result !== undefined && result.busy === 0;
    // journal_size_limit trims a file a burst grew past WAL_CHECKPOINT_BYTES back to it at the
    // next commit: past that size again means that much was committed since (review s21 R7: the
    // size before the trim made each interval as long as the longest burst before it).
    if (done) this.#restartedSize = Math.min(walSize(db) ?? 0, WAL_CHECKPOINT_BYTES);
    return done;
  }

  /** After a commit that ended the outermost transaction: the checkpoint asked for inside it, if any. */
  ifWanted(db: Database.Database): void {
    if (!this.#wanted || db.inTransaction) return;
    try {
      this.#host.checkpoint();
    } catch {
      // The next deletion's checkpoint, or the one at lock, truncates it then.
    }
  }

  /**
   * After a commit that ended the outermost transaction: past WAL_CHECKPOINT_BYTES a checkpoint
   * is scheduled (#soon), past WAL_LIMIT_BYTES it runs now. A TRUNCATE empties the file and a
   * RESTART has the next commits overwrite it from its start, so once the file is past the size
   * it had after the last RESTART, at least that much was committed since.
   */
  afterCommit(db: Database.Database): void {
    if (db.inTransaction) return;
    const size = walSize(db);
    if (size === undefined) return;
    if (size >= this.#atOnceBytes) {
      try {
        this.#host.checkpoint();
      } catch {
        // The commit stands; the next commit tries again.
      }
      return;
    }
    if (size < WAL_CHECKPOINT_BYTES || size <= this.#restartedSize || this.#scheduled) return;
    this.#scheduled = true;
    void this.#soon(db);
  }

  /**
   * After a long transaction's commit (the outermost; a backup import's): a WAL past
   * WAL_LIMIT_BYTES is truncated in a later turn (#soon), not at once as afterCommit would: at
   * 1M messages that copy and vault.db's fsync took seconds on top of the COMMIT, in one turn.
   */
  afterLongCommit(db: Database.Database): void {
    if (db.inTransaction) return;
    const size = walSize(db);
    if (size === undefined || size < WAL_LIMIT_BYTES) {
      this.afterCommit(db);
      return;
    }
    this.#truncateNext = true;
    this.#atOnceBytes = size + WAL_CHECKPOINT_BYTES;
    if (this.#scheduled) return; // the one scheduled before runs it (and truncates)
    this.#scheduled = true;
    void this.#soon(db);
  }

  /**
   * The WAL fsynced on the thread pool (what a checkpoint's first fsync would do on the main
   * thread), then the checkpoint (RESTART; TRUNCATE while one is owed) in a later turn with no receive batch open. Dropped if
   * the database closed meanwhile (closing checkpoints and removes the WAL).
   */
  async #soon(db: Database.Database): Promise<void> {
    const host = this.#host;
    try {
      if (!(await host.syncWal())) return;
      // A receive batch opened meanwhile commits at its own turn; the checkpoint waits for it
      // rather than commit it early (a few turns at most, then it commits it).
      for (let turns = 0; turns < 4 && host.batchOpen() && host.isCurrent(db); turns++) await new Promise((r) => setImmediate(r));
      if (!host.isCurrent(db)) return;
      if (this.#truncateOwed || this.#truncateNext) host.checkpoint();
      else host.restart();
    } catch {
      // Closed, locked or failed: the next commit past the threshold schedules another.
    } finally {
      this.#scheduled = false;
      // Ran, or dropped: either way the next commit past the limit checkpoints at once again.
      this.#atOnceBytes = WAL_LIMIT_BYTES;
    }
  }
}

function walSize(db: Database.Database): number | undefined {
  try {
    return statSync(`${db.name}-wal`).size;
  } catch {
    return undefined;
  }
}
