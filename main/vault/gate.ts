// The gate in front of the open database: every query passes it (a locked vault fails with
// VaultLocked, SQLite corruption becomes VaultCorrupt), and it is the only place a WritableDB
// comes from. It also orders the app's activities and the long transaction (backup import):
// while a long transaction is open, only its own steps get a writable handle; every other write
// is refused with VaultBusy (a runtime check behind the types, for callers that go through the
// Vault facade from inside a step).
// What may be called durable (relaxed commits, the -wal fsyncs, durability lost) is
// durability.ts; when the WAL is checkpointed, checkpoints.ts. Past 500 lines on purpose: the
// receive batch and the long transaction both begin and end the connection's one transaction,
// and every write checks both (#batch, #inBatch, #longTx); the next split is the batch's class.
import type Database from 'better-sqlite3';
import { WAL_CHECKPOINT_BYTES, WalCheckpoints } from './checkpoints.ts';
import { Durability } from './durability.ts';
import { VaultBusy, VaultCorrupt, VaultLocked } from './errors.ts';
import type { ReadableDB, WritableDB } from './handles.ts';
import type { VaultKeys } from './keys.ts';
import { mapError } from './open.ts';

interface LongTransaction {
  /** BEGIN has run (before that it waits for running activities to end). */
  open: boolean;
  /** True while one of its steps runs (JS is single-threaded: nothing else can). */
  writing: boolean;
  /** Committed changes end here while it is open (changesSince). */
  seqAtStart: number;
  idle: Promise<void>;
}

export { WAL_CHECKPOINT_BYTES, WAL_LIMIT_BYTES } from './checkpoints.ts';

/** A long transaction's step: runs `fn` synchronously with the transaction's writable handle. */
export type Step<R, W> = <T>(fn: (db: WritableDB<R, W>) => T) => T;

/**
 * A write kept in memory until its batch commits (WriteGate.deferToBatch): `flush` writes it
 * through the vault just before the batch's COMMIT (the writes join that transaction); `drop`
 * forgets it when its batched step or the whole batch is undone.
 */
export interface BatchHook {
  flush(): void;
  drop(): void;
}

export interface GateCounters {
  /** The change sequence kept in memory. */
  seq(): number;
  /** Reads the in-memory counters again (after a rollback moved them). */
  reload(): void;
}

/** The gate that made each writable handle (writeEpochOf). */
const gateOf = new WeakMap<object, { readonly writeEpoch: number }>();

/**
 * The write epoch of the gate that handed out `db` (WriteGate.writeEpoch), for what a table module
 * keeps in memory between writes (messages/order-keys.ts); undefined for a handle no gate made.
 */
export function writeEpochOf(db: object): number | undefined {
  return gateOf.get(db)?.writeEpoch;
}

export class WriteGate<R, W> {
  readonly #keys: VaultKeys;
  readonly #counters: GateCounters;
  #db: Database.Database | undefined;
  /** Runs fn in a transaction, or a savepoint inside one (set by attach). */
  #inTransaction: <T>(fn: () => T) => T = () => {
    throw new VaultLocked();
  };
  #readable: ReadableDB<R> | undefined;
  #writable: WritableDB<R, W> | undefined;
  #longTx: LongTransaction | undefined;
  #activities = 0;
  /** What is on disk: relaxed commits pending, the fsyncs, durability lost (durability.ts). */
  readonly #durability = new Durability();
  readonly #checkpoints = new WalCheckpoints({
    checkpoint: () => this.#checkpointNow('TRUNCATE'),
    restart: () => this.#checkpointNow('RESTART'),
    batchOpen: () => this.#batch !== undefined,
    isCurrent: (db) => this.#db === db && this.#keys.unlocked,
    syncWal: () => this.#durability.syncBeforeCheckpoint(),
  });
  /** The open batch of received envelopes (batched): committed at the next event-loop turn. */
  #batch: NodeJS.Immediate | undefined;
  /** True while a batched step runs: its writes join the batch instead of committing it first. */
  #inBatch = false;
  /** The error after which SQLite rolled the whole batch back on its own (disk full, I/O). */
  #batchLost: unknown;
  /** A batch that failed to commit, until syncCommitted reports it (nothing of it may be acknowledged). */
  #batchFailure: unknown;
  #activitiesDone: (() => void) | undefined;
  /** Counts what may have undone a write made earlier (writeEpoch). */
  #epoch = 0;
  /** Writes deferred by the batched steps running now, innermost last (deferToBatch). */
  #stepHooks: BatchHook[][] = [];
  /** Writes deferred by the open batch's finished steps, flushed in this order before its COMMIT. */
  #batchHooks: BatchHook[] = [];
  /** The connection's `synchronous` as last set (#synchronous): a switch to what it is costs nothing. */
  #level: 'NORMAL' | 'FULL' = 'FULL';
  /** relaxedDurability calls running: their commits stay NORMAL. */
  #relaxed = 0;

  /** Told of each deletion's checkpoint request (checkpoint): the vault owes a scrub at lock (scrub.ts). */
  readonly #onDeletion: () => void;

  constructor(keys: VaultKeys, counters: GateCounters, onDeletion: () => void = () => undefined) {
    this.#keys = keys;
    this.#counters = counters;
    this.#onDeletion = onDeletion;
  }

  /** Puts an opened database behind the gate, with its statements split by what they may do. */
  attach(db: Database.Database, read: R, write: W): void {
    const keys = this.#keys;
    this.#db = db;
    // A RESTARTed WAL is overwritten from its start; what a large commit grew it by is trimmed
    // off at the first commit after the restart (WalCheckpoints.restart).
    db.exec(`PRAGMA journal_size_limit = ${WAL_CHECKPOINT_BYTES}`);
    // What #level says, on this connection (open.ts sets FULL; set here so the two never differ).
    db.exec('PRAGMA synchronous = FULL');
    this.#level = 'FULL';
    this.#relaxed = 0;
    this.#durability.attach(db.name);
    // One better-sqlite3 transaction wrapper for the connection, given each call's function:
    // `db.transaction(fn)` makes four wrapped functions and their properties per call, about 7% of
    // what a catch-up allocated (heap profile), for BEGIN/SAVEPOINT statements it caches anyway.
    const inTransaction = db.transaction((fn: () => unknown) => fn());
    this.#inTransaction = <T>(fn: () => T): T => {
      try {
        return inTransaction(fn) as T;
      } catch (err) {
        // Rolled back, a savepoint inside a table module's write included (writeEpoch).
        this.#epoch++;
        throw err;
      }
    };
    this.#readable = { keys, read };
    const writable = { keys, read, write, transaction: this.#inTransaction };
    // The one place a WritableDB is made (the brand has no value to give).
    this.#writable = writable as WritableDB<R, W>;
    gateOf.set(writable, this);
  }

  /** Closes the database; a long transaction waiting for activities stops waiting (it then finds the vault locked). */
  close(): void {
    this.#epoch++;
    this.#activitiesDone?.();
    try {
      // What the batch holds was decrypted and stored: keep it (it is not acknowledged yet either way).
      this.commitBatch();
    } catch {
      // closing anyway: the relay still holds every envelope of the batch and pushes it again
    }
    const db = this.#db;
    this.#db = undefined;
    this.#readable = undefined;
    this.#writable = undefined;
    this.#durability.detach();
    db?.close();
  }

  /** Throws VaultLocked unless the keys are there and the database open. */
  checkOpen(): void {
    this.#open();
  }

  #open(): Database.Database {
    if (!this.#keys.unlocked || !this.#db) throw new VaultLocked();
    return this.#db;
  }

  /** Runs fn with a read-only handle; maps SQLite corruption errors to VaultCorrupt. */
  read<T>(fn: (db: ReadableDB<R>) => T): T {
    this.#open();
    try {
      return fn(this.#readable as ReadableDB<R>);
    } catch (err) {
      throw mapError(err);
    }
  }

  /**
   * Runs fn with a writable handle. While a long transaction is open only its own steps may
   * write, so nothing else can join it (and be lost with its rollback) or slip in between.
   */
  write<T>(fn: (db: WritableDB<R, W>) => T): T {
    if (this.#longTx?.open && !this.#longTx.writing) throw new VaultBusy();
    const db = this.#open();
    this.#endBatchForOthers();
    this.#durableCommits(db);
    try {
      const result = fn(this.#writable as WritableDB<R, W>);
      if (!db.inTransaction) this.#checkpoints.afterCommit(db);
      return result;
    } catch (err) {
      throw this.#mapWriteError(err);
    }
  }

  /** fn in one SQLite transaction; the writes inside pass `write` (and its checks) one by one. */
  transaction<T>(fn: () => T): T {
    const db = this.#open();
    this.#endBatchForOthers();
    this.#durableCommits(db);
    try {
      if (typeof fn !== 'function') throw new TypeError('transaction needs a function');
      const result = this.#inTransaction(fn);
      this.#checkpoints.ifWanted(db);
      this.#checkpoints.afterCommit(db);
      return result;
    } catch (err) {
      this.#epoch++;
      throw this.#mapWriteError(err);
    }
  }

  /**
   * Changes whenever writes made before may have been undone without their caller hearing it at
   * the time: a (nested) transaction, savepoint or batched step that threw (rolled back), a batch
   * whose commit failed, a long transaction rolled back, and close. What someone keeps in memory
   * as "what the vault holds" is valid only while this stays the same (the e2e layer's session
   * records, main/e2e/kv.ts; each conversation's highest ordering key, messages/order-keys.ts).
   */
  get writeEpoch(): number {
    return this.#epoch;
  }

  /**
   * Copies the WAL into vault.db and truncates it to zero bytes, so the page versions a delete
   * replaced (the old sealed segment) are in no file: secure_delete has zeroed the freed bytes
   * in the new versions, and the old ones lived only in the WAL. Inside a transaction it cannot
   * run: false, and the caller's commit leaves the old frames to the next checkpoint. Called by
   * deletions only (the WAL's own bounds checkpoint through WalCheckpoints): each one also owes
   * the scrub at lock that clears the copies b-tree rebalancing left (scrub.ts).
   */
  checkpoint(): boolean {
    this.#onDeletion();
    return this.truncateWal();
  }

  /**
   * The same TRUNCATE checkpoint, owing no scrub: for a value overwritten in place (the search
   * snapshot key slots, kv.ts), whose old bytes live only in the WAL's old page versions.
   */
  truncateWal(): boolean {
    return this.#checkpointNow('TRUNCATE');
  }

  /**
   * A TRUNCATE (checkpoint) or the scheduled RESTART (WalCheckpoints.restart). Inside a transaction
   * neither can run: a TRUNCATE is then left to the commit that ends the outermost transaction
   * (WalCheckpoints.ifWanted: a received delete runs in the receive batch's step, and "deleted"
   * must still reach every file); a RESTART is dropped (the next commit schedules another).
   */
  #checkpointNow(mode: 'TRUNCATE' | 'RESTART'): boolean {
    const db = this.#open();
    this.#endBatchForOthers();
    if (db.inTransaction) {
      if (mode === 'TRUNCATE') this.#checkpoints.want();
      return false;
    }
    try {
      return mode === 'TRUNCATE' ? this.#checkpoints.truncate(db) : this.#checkpoints.restart(db);
    } catch (err) {
      throw this.#durability.mapWriteError(err);
    }
  }

  /**
   * Runs fn (its own transactions) with `synchronous = NORMAL`: a commit does not wait for an
   * fsync. In WAL mode such a commit is still atomic and in order; it becomes durable at the
   * next FULL commit or checkpoint. For the slices of a large deletion (deletion.ts), whose
   * pending record was committed FULL before them and is removed FULL after them, so a power
   * loss only undoes slices that the next unlock redoes. Restored to FULL before returning.
   */
  relaxedDurability<T>(fn: () => T): T {
    const db = this.#open();
    this.#endBatchForOthers();
    if (db.inTransaction) return fn();
    this.#synchronous(db, 'NORMAL');
    this.#durability.relaxedBegins();
    this.#relaxed++;
    try {
      return fn();
    } finally {
      // NORMAL stays set until a commit that must be FULL (#durableCommits): back-to-back
      // relaxed commits (a burst of texts) then switch no more.
      this.#relaxed--;
    }
  }

  /**
   * True once a WAL fsync failed or SQLite reported an I/O error: from then on every sync
   * (syncCommitted, syncCommittedAsync, syncCommittedForAcks) throws DurabilityLost, even when a
   * later fsync would succeed, since the kernel reports a writeback error once (to one file
   * description) and the pages it lost are not written again. Until the vault is locked.
   */
  get durabilityLost(): boolean {
    return this.#durability.lost;
  }

  /** Calls `listener` once when durability is lost (at once if it already is); returns the unsubscribe. */
  onDurabilityLost(listener: () => void): () => void {
    return this.#durability.onLost(listener);
  }

  #mapWriteError(err: unknown): unknown {
    return this.#durability.mapWriteError(err);
  }

  /**
   * Makes every commit so far durable, also those made under relaxedDurability: in WAL mode a
   * NORMAL commit is complete in the -wal file and only misses the fsync a FULL commit does, so
   * one fsync of that file (any descriptor flushes the file) makes every earlier commit durable.
   * Nothing to do when no relaxed commit is pending. False inside a transaction (its frames are
   * not committed yet): the caller must not rely on durability yet and asks again. An open
   * batch (batched) is committed first; a batch that failed to commit since the last call
   * throws its error here once, so nothing handled before it is acknowledged.
   */
  syncCommitted(): boolean {
    const db = this.#open();
    this.#durability.check();
    this.#endBatchForOthers();
    const failure = this.#batchFailure;
    this.#batchFailure = undefined;
    if (failure !== undefined) throw failure;
    this.#durability.check(); // the batch's COMMIT may have met an I/O error
    if (db.inTransaction) return false;
    this.#durability.syncNow(db.name);
    return true;
  }

  /**
   * As syncCommitted, but the fsync runs on libuv's thread pool: the main thread goes on while
   * the disk works. Resolves once every commit made before the call is durable. The open batch
   * (batched) is committed first; a failed batch stays for syncCommitted to report (the acks).
   */
  async syncCommittedAsync(): Promise<void> {
    this.#open();
    this.#durability.check();
    this.#endBatchForOthers();
    await this.#durability.syncOnPool();
  }

  /**
   * syncCommitted for acknowledgements, the fsync on the thread pool: the open batch is
   * committed first; a batch that failed to commit since the last report rejects (once, as
   * syncCommitted throws it), so nothing handled before it is acknowledged; false inside a
   * transaction (ask again). Resolves true once every commit made before the call is durable.
   */
  async syncCommittedForAcks(): Promise<boolean> {
    const db = this.#open();
    this.#durability.check();
    try {
      this.#endBatchForOthers();
    } catch (err) {
      // The batch committed here failed: reported now, not again at the next call.
      this.#batchFailure = undefined;
      throw err;
    }
    const failure = this.#batchFailure;
    this.#batchFailure = undefined;
    if (failure !== undefined) throw failure;
    if (db.inTransaction) return false;
    await this.syncCommittedAsync();
    return true;
  }

  /**
   * fn in its own savepoint of one transaction shared by the received envelopes of this
   * event-loop turn (the mailbox hands a backlog over back to back within a turn), committed
   * with `synchronous = NORMAL` at the next turn, or at once before any other write, checkpoint,
   * long transaction, syncCommitted or close. So a catch-up commits once per slice instead of
   * once per envelope. fn throwing rolls back its own savepoint only. Until the batch commits, a
   * crash undoes the whole batch: none of it is acknowledged yet (the mailbox acknowledges only
   * after syncCommitted, which commits the batch first), so the relay pushes it all again.
   * Inside someone else's transaction, or a long transaction, it is a plain nested transaction.
   */
  batched<T>(fn: () => T): T {
    const db = this.#open();
    if (typeof fn !== 'function') throw new TypeError('transaction needs a function');
    if (!this.#batch && (db.inTransaction || this.#longTx)) return this.transaction(fn);
    // SQLite rolled the batch back after an error: say so (commitBatch throws) rather than go on.
    if (this.#batch && !db.inTransaction) this.commitBatch();
    if (!this.#batch) {
      this.#synchronous(db, 'NORMAL');
      this.#durability.relaxedBegins();
      try {
        db.exec('BEGIN');
      } catch (err) {
        this.#synchronous(db, 'FULL');
        throw mapError(err);
      }
      this.#batch = setImmediate(() => {
        try {
          this.commitBatch();
        } catch {
          // rolled back (commitBatch): nothing of it was acknowledged, the relay pushes it again
        }
      });
    }
    const outer = this.#inBatch;
    this.#inBatch = true;
    const hooks: BatchHook[] = [];
    this.#stepHooks.push(hooks);
    try {
      const result = this.#inTransaction(fn);
      this.#stepHooks.pop();
      // The step's savepoint is released: what it deferred belongs to the enclosing step, or to the batch.
      (this.#stepHooks.at(-1) ?? this.#batchHooks).push(...hooks);
      return result;
    } catch (err) {
      this.#stepHooks.pop();
      dropAll(hooks);
      this.#epoch++;
      if (!db.inTransaction) this.#batchLost ??= err;
      throw this.#mapWriteError(err);
    } finally {
      this.#inBatch = outer;
    }
  }

  /**
   * Inside a batched step: keeps `hook` until the batch commits (its flush then writes just
   * before the COMMIT, in the same transaction) or the step or batch is undone (drop). So a
   * record written by many envelopes of one batch (a contact's libsignal session) is written
   * once per batch, still in the transaction that stores the messages, hence committed (and
   * synced before any acknowledgement) with them. False outside a batched step: write now.
   */
  deferToBatch(hook: BatchHook): boolean {
    const step = this.#stepHooks.at(-1);
    if (!this.#batch || !step) return false;
    step.push(hook);
    return true;
  }

  /** Commits the open batch (batched), if any; rolls it back and throws if the commit fails. */
  commitBatch(): void {
    const timer = this.#batch;
    if (!timer) return;
    clearImmediate(timer);
    this.#batch = undefined;
    const hooks = this.#batchHooks;
    this.#batchHooks = [];
    const db = this.#db;
    if (!db?.open) {
      dropAll(hooks);
      return;
    }
    const lost = this.#batchLost;
    this.#batchLost = undefined;
    let flushed = 0;
    try {
      // Earlier envelopes of the batch are gone with it: their handlers returned, so the caller
      // must hear it (the mailbox then acknowledges none of them; the relay pushes them again).
      if (!db.inTransaction) throw lost ?? new VaultCorrupt('the batch of received messages was rolled back');
      // Deferred writes join the batch's transaction (#batch is cleared: they do not end it).
      for (const hook of hooks) {
        hook.flush();
        flushed++;
      }
      db.exec('COMMIT');
      this.#checkpoints.ifWanted(db);
      this.#checkpoints.afterCommit(db);
    } catch (err) {
      dropAll(hooks.slice(flushed));
      this.#epoch++;
      try {
        if (db.inTransaction) db.exec('ROLLBACK');
      } catch {
        // the commit's error is the one to report
      }
      this.#batchFailure = this.#mapWriteError(err);
      try {
        // The change sequence kept in memory moved with the rolled-back writes.
        this.#counters.reload();
      } catch {
        // locked meanwhile: unlock reads them again
      }
      throw this.#batchFailure;
    }
  }

  /**
   * Sets the connection's `synchronous`, only when it is not that already: relaxed commits and
   * receive batches leave NORMAL set, and the next commit that must wait for the disk (a plain
   * write, transaction or long transaction) sets FULL first (#durableCommits). exec, not
   * db.pragma(), which wraps a new Statement object each call (about 18x the cost here). Not a
   * statement prepared once: SQLite applies this pragma when it compiles it.
   */
  #synchronous(db: Database.Database, level: 'NORMAL' | 'FULL'): void {
    if (this.#level === level) return;
    db.exec(`PRAGMA synchronous = ${level}`);
    this.#level = level;
  }

  /**
   * Before a write, transaction or long transaction that commits on its own: FULL, unless it
   * runs inside relaxedDurability (NORMAL on purpose) or inside a transaction (the outer one's
   * commit decides). An open batch was committed before (#endBatchForOthers).
   */
  #durableCommits(db: Database.Database): void {
    if (this.#relaxed === 0 && !db.inTransaction) this.#synchronous(db, 'FULL');
  }

  /** Anything but a batched step that writes, or needs what was written committed, ends the batch first. */
  #endBatchForOthers(): void {
    if (this.#batch && !this.#inBatch) this.commitBatch();
  }

  /** The end of the committed change sequence: while a long transaction is open, where it began. */
  committedSeq(): number {
    return this.#longTx?.open ? this.#longTx.seqAtStart : Infinity;
  }

  /**
   * Runs `fn` (which may await) as one activity of the app (a send, a received message, an
   * export): a long transaction does not begin while activities run, and an activity does not
   * start while one is waiting to begin or open. So an activity never finds the vault busy
   * halfway through. Activities must not wait for each other's completion through this (a
   * nested call would wait for a long transaction that waits for the outer call).
   */
  async activity<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#longTx) await this.#longTx.idle;
    this.#activities++;
    try {
      return await fn();
    } finally {
      this.#activities--;
      if (this.#activities === 0) this.#activitiesDone?.();
    }
  }

  /**
   * One SQLite transaction that spans several event-loop turns, for long merges (backup import)
   * that must be atomic without freezing the process. It waits for running activities to end
   * (new ones wait for it), then `work` makes its changes in synchronous steps, each given the
   * transaction's writable handle, and may await between them (progress, cancellation).
   * Commits when `work` resolves; rolls back when it throws or the vault is locked meanwhile.
   * While it is open every other write is refused with VaultBusy, and reads see its uncommitted
   * rows, except changesSince, which reports committed changes only (the search index never
   * sees rows that may yet be rolled back). `idle()` resolves when it is over.
   */
  async longTransaction<T>(work: (step: Step<R, W>) => Promise<T>, options: { signal?: AbortSignal } = {}): Promise<T> {
    if (this.#longTx) throw new VaultBusy();
    const db = this.#open();
    const writable = this.#writable as WritableDB<R, W>;
    let done!: () => void;
    const idle = new Promise<void>((resolve) => (done = resolve));
    const tx: LongTransaction = { open: false, writing: false, seqAtStart: 0, idle };
    this.#longTx = tx;
    // SQLite rolls a transaction back on its own after some errors (disk full, I/O): a caller
    // that caught the step's error must not go on writing in autocommit, nor commit.
    const stillOpen = (): void => {
      if (this.#longTx !== tx || this.#db !== db) throw new VaultLocked();
      if (!db.inTransaction) throw new Error('the long transaction was rolled back after a failed step');
    };
    const step: Step<R, W> = (fn) => {
      stillOpen();
      const outer = tx.writing;
      tx.writing = true;
      try {
        const result = fn(writable);
        if (typeof (result as { then?: unknown } | null)?.then === 'function') throw new TypeError('a write step must be synchronous');
        return result;
      } finally {
        tx.writing = outer;
      }
    };
    const { signal } = options;
    try {
      // Running activities end first; a lock or the caller's abort ends the wait.
      while (this.#activities > 0 && this.#db === db && !signal?.aborted) {
        let wake = (): void => undefined;
        await new Promise<void>((resolve) => {
          wake = () => resolve();
          this.#activitiesDone = wake;
          signal?.addEventListener('abort', wake, { once: true });
        });
        signal?.removeEventListener('abort', wake);
      }
      this.#activitiesDone = undefined;
      if (this.#db !== db) throw new VaultLocked();
      signal?.throwIfAborted();
      this.#endBatchForOthers();
      this.#durableCommits(db);
      tx.seqAtStart = this.#counters.seq();
      this.read(() => db.exec('BEGIN IMMEDIATE'));
      tx.open = true;
      const result = await work(step);
      stillOpen();
      this.read(() => db.exec('COMMIT'));
      this.#checkpoints.ifWanted(db);
      this.#checkpoints.afterLongCommit(db);
      return result;
    } catch (err) {
      this.#epoch++;
      this.#mapWriteError(err); // for its I/O error check only: the error goes on as it came
      if (this.#db === db && db.inTransaction) {
        try {
          db.exec('ROLLBACK');
        } catch {
          // the original error is the one to report
        }
      }
      // The change sequence kept in memory moved with the rolled-back writes: read it again
      // (a stale value would only leave gaps, but the feed's numbering stays dense).
      if (this.#db === db && tx.open) this.#counters.reload();
      throw err;
    } finally {
      tx.open = false;
      if (this.#longTx === tx) this.#longTx = undefined;
      done();
    }
  }

  /** Resolves when no long transaction is waiting or open (at once when none is). */
  idle(): Promise<void> {
    return this.#longTx?.idle ?? Promise.resolve();
  }

  /** True while a long transaction is open: other writes get VaultBusy. */
  get busy(): boolean {
    return this.#longTx?.open === true;
  }
}

/** Drops deferred writes newest first (each restores what the one before it had deferred). */
function dropAll(hooks: readonly BatchHook[]): void {
  for (let i = hooks.length - 1; i >= 0; i--) {
    try {
      (hooks[i] as BatchHook).drop();
    } catch {
      // forgetting must not fail the rollback
    }
  }
}
