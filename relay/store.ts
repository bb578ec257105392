// The relay's durable state (SQLite): devices (permanent public keys, handles), the
// store-and-forward queue of opaque envelopes, and idempotency keys. Temp keys never come here.
import Database from 'better-sqlite3';
import { ensurePrivateFile } from '../shared/private-files.ts';
import { WalFile } from '../shared/wal-file.ts';
import { RpcError } from '../shared/protocol/errors.ts';
import { CodedError } from '../shared/errors.ts';
import { IDEM_TABLE_SQL, IdemLog, migrateIdempotency } from './idem-log.ts';

export interface QueuedEnvelope {
  id: number;
  from: string;
  body: Buffer;
  sentAt: number;
}

export interface DeviceRow {
  permKeyId: Buffer;
  permPub: Buffer;
  handle: string | null;
}

export interface EnqueueResult {
  id: number;
  duplicate: boolean;
  recipient: Buffer;
}

const HANDLE_CACHE_LIMIT = 100_000;

/**
 * relay.db's schema version (PRAGMA user_version): 1 = idempotency records in arrival order
 * (relay/idem-log.ts); 0 = before, the (sender, idem) b-tree, migrated at open.
 */
export const RELAY_DB_SCHEMA = 1;

/** How long an idempotency key is remembered after its envelope was stored. */
export const IDEMPOTENCY_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** A purge found a request batch open: try again in a moment (relay/expiry.ts does). */
export class PurgeBusy extends CodedError<'PURGE_BUSY'> {
  constructor() {
    super('PURGE_BUSY', 'a request batch is open; purge again after it');
  }
}

/**
 * A -wal fsync failed: what was committed since the last good one may not be on disk, and a later
 * fsync would not say so (the kernel reports a lost writeback once). Sticky until a restart, which
 * reopens the database from what the disk really holds.
 */
export class RelayDurabilityLost extends CodedError<'DURABILITY_LOST'> {
  constructor(options?: { cause: unknown }) {
    super('DURABILITY_LOST', 'a -wal fsync failed: the relay refuses writes until it is restarted', options);
  }
}

/**
 * SQLite ended the open request batch itself (SQLITE_FULL, IOERR and the like roll the whole
 * transaction back): what it wrote is gone, so nothing of it may be answered or remembered.
 */
export class RelayBatchLost extends CodedError<'BATCH_LOST'> {
  constructor(options?: { cause: unknown }) {
    super('BATCH_LOST', 'SQLite rolled the request batch back', options);
  }
}

/**
 * relay.db was written by a newer relay (its user_version is past RELAY_DB_SCHEMA): this one does
 * not know that schema, so it refuses to open it rather than write to it. Nothing is written.
 */
export class RelaySchemaTooNew extends CodedError<'SCHEMA_TOO_NEW'> {
  constructor(
    readonly found: number,
    readonly known: number = RELAY_DB_SCHEMA,
  ) {
    super('SCHEMA_TOO_NEW', `relay.db is schema version ${found}; this relay knows up to ${known}: run a newer relay`);
  }
}

/** Longest an envelope waits in the queue unless the relay is configured otherwise (`--envelope-ttl`). */
export const DEFAULT_ENVELOPE_TTL_MS = 30 * 24 * 3600 * 1000;
/** Expired envelopes deleted per statement, so a purge never holds the database for long. */
export const PURGE_BATCH = 5000;
/**
 * The purge's read: through queue_by_expiry and queue_by_created (SQLite's MULTI-INDEX OR), so a
 * purge reads what expired, not the whole queue (a full scan on the event loop every minute grew
 * with every envelope waiting for an offline device). Both keys only grow, so each index takes a
 * send's row at its right edge, the page the previous send's row dirtied already.
 */
export const PURGE_EXPIRED_SQL = 'SELECT id FROM queue WHERE expires_at <= ? OR created_at <= ? LIMIT ?';

export class RelayStore {
  private readonly db: Database.Database;
  private readonly queueCounts = new Map<string, number>();
  /**
   * handle -> device, for the per-message recipient lookup. A handle, once set, never changes
   * or goes away, so entries stay true; cleared on rollback (a rolled-back register) and when large.
   */
  private readonly byHandle = new Map<string, DeviceRow>();
  // Transaction wrappers are made once: better-sqlite3 builds four wrapper functions per call.
  private readonly enqueueTx: (sender: Buffer, senderHandle: string, recipientHandle: string, idem: string, body: Buffer, now: number, queueLimit: number, expiresAt: number) => EnqueueResult;
  private readonly ackTx: (recipient: Buffer, ids: readonly number[]) => number;
  private readonly registerTx: (permKeyId: Buffer, handle: string) => void;
  private nextQueueId: number;
  /** The -wal, kept open for the fsyncs on libuv's thread pool (syncCommitted); none in memory. */
  private readonly wal: WalFile | undefined;
  /** Set by the first failed -wal fsync (RelayDurabilityLost). */
  private lost: RelayDurabilityLost | undefined;
  private closed = false;
  private readonly st: {
    insertDevice: Database.Statement<[Buffer, Buffer, number]>;
    device: Database.Statement<[Buffer]>;
    deviceByHandle: Database.Statement<[string]>;
    setHandle: Database.Statement<[string, Buffer]>;
    insertQueue: Database.Statement<[number, Buffer, string, Buffer, number, number]>;
    count: Database.Statement<[Buffer]>;
    pending: Database.Statement<[Buffer, number, number, number]>;
    del: Database.Statement<[number, Buffer]>;
    expired: Database.Statement<[number, number, number]>;
    delById: Database.Statement<[number]>;
  };
  /** Idempotency records: appended on disk, looked up in memory. */
  private readonly idems: IdemLog;
  /** beginBatch opened a transaction not yet ended by commitBatch / rollbackBatch. */
  private batchOpen = false;

  constructor(file: string, o: { idempotencyMemoryKeys?: number } = {}) {
    // SQLite would create the file (and its -wal/-shm) with 0644 minus the umask.
    if (file !== ':memory:') ensurePrivateFile(file);
    this.db = new Database(file);
    // Before any pragma or statement below may write to it (journal mode, tables, migration).
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > RELAY_DB_SCHEMA) {
      this.db.close();
      throw new RelaySchemaTooNew(version);
    }
    // syncCommitted checks `closed` before it syncs, so the closed error is never met.
    this.wal = file === ':memory:' ? undefined : new WalFile(file, () => new Error('the relay store is closed'));
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit is atomic and survives a process kill (the chaos tests). It
    // survives a power cut once the -wal is fsynced: the relay does that after each group commit,
    // on the thread pool, before the batch's answers leave (syncCommitted, relay/outgoing.ts), so
    // the event loop never waits inside COMMIT for the disk (FULL would fsync there).
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('secure_delete = ON');
    // Queue pages are rewritten by every send and ack; checkpointing less often copies each
    // hot page to the database file once per 8000 WAL pages instead of once per 1000.
    this.db.pragma('wal_autocheckpoint = 8000');
    // After a checkpoint resets the WAL, shrink the file: old frames (acknowledged envelopes,
    // metadata) must not linger on disk (see scrubWal).
    this.db.pragma('journal_size_limit = 0');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS devices (
        perm_key_id BLOB PRIMARY KEY,
        perm_pub BLOB NOT NULL,
        handle TEXT UNIQUE,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        recipient BLOB NOT NULL,
        sender_handle TEXT NOT NULL,
        body BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS queue_by_recipient ON queue (recipient, id);
    `);
    if ((this.db.pragma('user_version', { simple: true }) as number) < RELAY_DB_SCHEMA) {
      this.db.transaction(() => {
        const old = this.db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'idempotency'").get();
        if (old) migrateIdempotency(this.db);
        else this.db.exec(IDEM_TABLE_SQL);
        this.db.pragma(`user_version = ${RELAY_DB_SCHEMA}`);
      })();
    }
    // A queue made before envelopes expired: each envelope gets the default lifetime from when it
    // was stored (the relay's purge at start then applies a shorter configured one).
    const columns = this.db.prepare('SELECT name FROM pragma_table_info(\'queue\')').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'expires_at')) {
      this.db.exec(`ALTER TABLE queue ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
        UPDATE queue SET expires_at = created_at + ${DEFAULT_ENVELOPE_TTL_MS};`);
    }
    this.db.exec(`CREATE INDEX IF NOT EXISTS queue_by_expiry ON queue (expires_at);
      CREATE INDEX IF NOT EXISTS queue_by_created ON queue (created_at);`);
    const d = this.db;
    this.st = {
      insertDevice: d.prepare('INSERT INTO devices (perm_key_id, perm_pub, created_at) VALUES (?, ?, ?)'),
      device: d.prepare('SELECT perm_key_id, perm_pub, handle FROM devices WHERE perm_key_id = ?'),
      deviceByHandle: d.prepare('SELECT perm_key_id, perm_pub, handle FROM devices WHERE handle = ?'),
      setHandle: d.prepare('UPDATE devices SET handle = ? WHERE perm_key_id = ?'),
      insertQueue: d.prepare('INSERT INTO queue (id, recipient, sender_handle, body, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)'),
      count: d.prepare('SELECT COUNT(*) AS n FROM queue WHERE recipient = ?'),
      // An expired envelope is never delivered, even before the purge has deleted it.
      pending: d.prepare('SELECT id, sender_handle, body, created_at FROM queue WHERE recipient = ? AND id > ? AND expires_at > ? ORDER BY id LIMIT ?'),
      del: d.prepare('DELETE FROM queue WHERE id = ? AND recipient = ?'),
      expired: d.prepare(PURGE_EXPIRED_SQL),
      delById: d.prepare('DELETE FROM queue WHERE id = ?'),
    };
    // Before the relay accepts a send: the map of every record kept (relay/idem-log.ts).
    this.idems = new IdemLog(d, o.idempotencyMemoryKeys);
    // Queue ids are assigned here, before the insert, so the idempotency record can name its
    // envelope without reading the id back. AUTOINCREMENT's high-water mark still moves with
    // every insert, so ids are never reused, across restarts too; a rolled-back batch only
    // leaves a gap.
    const seq = d.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'queue'").get() as { seq: number } | undefined;
    const max = d.prepare('SELECT max(id) AS m FROM queue').get() as { m: number | null };
    this.nextQueueId = Math.max(seq?.seq ?? 0, max.m ?? 0) + 1;
    this.enqueueTx = d.transaction((...a: Parameters<RelayStore['enqueueIn']>) => this.enqueueIn(...a));
    this.ackTx = d.transaction((recipient: Buffer, ids: readonly number[]) => this.ackIn(recipient, ids));
    this.registerTx = d.transaction((permKeyId: Buffer, handle: string): void => {
      const me = RelayStore.row(this.st.device.get(permKeyId));
      if (!me) throw new RpcError('INTERNAL', 'unknown device');
      if (me.handle === handle) return;
      if (me.handle !== null) throw new RpcError('BAD_REQUEST', 'this device already has a handle');
      const owner = RelayStore.row(this.st.deviceByHandle.get(handle));
      if (owner) throw new RpcError('HANDLE_TAKEN');
      this.st.setHandle.run(handle, permKeyId);
    });
  }

  /** enqueue's body; every RpcError it throws comes before its first write. */
  private enqueueIn(sender: Buffer, senderHandle: string, recipientHandle: string, idem: string, body: Buffer, now: number, queueLimit: number, expiresAt: number): EnqueueResult {
    const recipient = this.deviceByHandle(recipientHandle);
    if (!recipient) throw new RpcError('NOT_FOUND', 'no such handle');
    // A re-send of a stored envelope is answered as a duplicate, also when the queue is full.
    const seen = this.idems.find(sender, idem);
    if (seen !== undefined) return { id: seen, duplicate: true, recipient: recipient.permKeyId };
    const count = this.countFor(recipient.permKeyId);
    if (count >= queueLimit) throw new RpcError('QUEUE_FULL');
    const id = this.nextQueueId;
    this.idems.add(sender, idem, id, now);
    this.nextQueueId = id + 1;
    this.st.insertQueue.run(id, recipient.permKeyId, senderHandle, body, now, expiresAt);
    this.queueCounts.set(recipient.permKeyId.toString('hex'), count + 1);
    return { id, duplicate: false, recipient: recipient.permKeyId };
  }

  private ackIn(recipient: Buffer, ids: readonly number[]): number {
    let n = 0;
    for (const id of ids) n += this.st.del.run(id, recipient).changes;
    return n;
  }

  private static row(r: unknown): DeviceRow | undefined {
    if (!r) return undefined;
    const x = r as { perm_key_id: Buffer; perm_pub: Buffer; handle: string | null };
    return { permKeyId: x.perm_key_id, permPub: x.perm_pub, handle: x.handle };
  }

  device(permKeyId: Buffer): DeviceRow | undefined {
    return RelayStore.row(this.st.device.get(permKeyId));
  }

  /** A device the relay has not seen (check with device() first). */
  insertDevice(permKeyId: Buffer, permPub: Buffer, now: number): DeviceRow {
    this.st.insertDevice.run(permKeyId, permPub, now);
    return { permKeyId: Buffer.from(permKeyId), permPub: Buffer.from(permPub), handle: null };
  }

  deviceByHandle(handle: string): DeviceRow | undefined {
    const hit = this.byHandle.get(handle);
    if (hit) return hit;
    const row = RelayStore.row(this.st.deviceByHandle.get(handle));
    if (row) {
      if (this.byHandle.size >= HANDLE_CACHE_LIMIT) this.byHandle.clear();
      this.byHandle.set(handle, row);
    }
    return row;
  }

  /** Claims `handle` for the device. Re-registering the same handle is a no-op. */
  register(permKeyId: Buffer, handle: string): void {
    this.registerTx(permKeyId, handle);
  }

  private countFor(recipient: Buffer): number {
    const k = recipient.toString('hex');
    let n = this.queueCounts.get(k);
    if (n === undefined) {
      n = (this.st.count.get(recipient) as { n: number }).n;
      this.queueCounts.set(k, n);
    }
    return n;
  }

  /** Stores an envelope once per (sender, idempotency key); it is never delivered at or after `expiresAt`. */
  enqueue(
    sender: Buffer,
    senderHandle: string,
    recipientHandle: string,
    idem: string,
    body: Buffer,
    now: number,
    queueLimit: number,
    expiresAt = now + DEFAULT_ENVELOPE_TTL_MS,
  ): EnqueueResult {
    // Inside the relay's group-commit batch no savepoint is taken (two statements per call
    // saved): the relay rolls the whole batch back if a method fails other than with an
    // RpcError (RelayCore.dispatch). Outside a batch it is its own transaction.
    if (this.db.inTransaction) return this.enqueueIn(sender, senderHandle, recipientHandle, idem, body, now, queueLimit, expiresAt);
    // The batch's transaction is gone: a send on its own would commit, and be answered, while
    // the batch's keys wait to be undone; fail it with the batch instead.
    if (this.batchOpen) throw new RelayBatchLost();
    // Only this transaction's records: an open batch's are ended by commitBatch / rollbackBatch.
    const mark = this.idems.mark();
    try {
      const r = this.enqueueTx(sender, senderHandle, recipientHandle, idem, body, now, queueLimit, expiresAt);
      this.idems.committed(mark);
      return r;
    } catch (e) {
      this.idems.rolledBack(mark);
      throw e;
    }
  }

  /** Envelopes for `recipient` after `afterId` that have not expired at `now` (without: all), in queue order. */
  pending(recipient: Buffer, afterId: number, limit: number, now = 0): QueuedEnvelope[] {
    const rows = this.st.pending.all(recipient, afterId, now, limit) as { id: number; sender_handle: string; body: Buffer; created_at: number }[];
    return rows.map((r) => ({ id: r.id, from: r.sender_handle, body: r.body, sentAt: r.created_at }));
  }

  /** Deletes acknowledged envelopes addressed to `recipient`; returns how many went. */
  ack(recipient: Buffer, ids: readonly number[]): number {
    const n = this.db.inTransaction ? this.ackIn(recipient, ids) : this.ackTx(recipient, ids);
    if (n > 0) {
      const k = recipient.toString('hex');
      const c = this.queueCounts.get(k);
      if (c !== undefined) this.queueCounts.set(k, Math.max(0, c - n));
    }
    return n;
  }

  /**
   * Deletes the sender's own envelope stored under `idem` for `recipientHandle`, if it is still
   * queued. The idempotency record stays, so a late re-send of it is a duplicate, not queued
   * again. Answers nothing either way (the caller's result must not tell).
   */
  withdraw(sender: Buffer, recipientHandle: string, idem: string): void {
    const recipient = this.deviceByHandle(recipientHandle);
    const seen = recipient ? this.idems.find(sender, idem) : undefined;
    if (!recipient || seen === undefined) return;
    // One statement: no transaction needed, inside a batch or not.
    if (this.st.del.run(seen, recipient.permKeyId).changes === 0) return;
    const k = recipient.permKeyId.toString('hex');
    const c = this.queueCounts.get(k);
    if (c !== undefined) this.queueCounts.set(k, Math.max(0, c - 1));
  }

  /**
   * Deletes envelopes that expired by `now` or were stored longer than `maxAgeMs` ago (a
   * lowered `--envelope-ttl` applies to what is already queued). Returns how many went.
   */
  purgeExpired(now: number, maxAgeMs: number): number {
    // Never inside a request batch (its rollback would undo the purge, its commit would wait for it).
    if (this.db.inTransaction) throw new PurgeBusy();
    let total = 0;
    for (;;) {
      const ids = (this.st.expired.all(now, now - maxAgeMs, PURGE_BATCH) as { id: number }[]).map((r) => r.id);
      if (ids.length === 0) break;
      this.db.transaction(() => {
        for (const id of ids) this.st.delById.run(id);
      })();
      total += ids.length;
      if (ids.length < PURGE_BATCH) break;
    }
    // Counts are read again from the table when next needed.
    if (total > 0) this.queueCounts.clear();
    return total;
  }

  /** The database handle, for tables kept beside these (prekeys: relay/key-store.ts). */
  get database(): Database.Database {
    return this.db;
  }

  /**
   * Group commit: the relay opens one transaction for all requests handled in one event-loop
   * turn and commits it before any answer leaves, so each answer still means "on disk".
   * Methods' own transactions become savepoints inside it.
   */
  beginBatch(): void {
    if (this.db.inTransaction) return;
    this.db.exec('BEGIN');
    this.batchOpen = true;
  }

  /**
   * Throws RelayBatchLost when SQLite ended the batch itself, before or in its COMMIT (an I/O
   * error or SQLITE_FULL writing the -wal rolls the whole transaction back): its keys and counts
   * are forgotten here already; the caller then rolls back and answers nothing.
   */
  commitBatch(): void {
    const lost = this.batchOpen && !this.db.inTransaction;
    this.batchOpen = false;
    if (lost) {
      this.forgetBatch();
      throw new RelayBatchLost();
    }
    try {
      if (this.db.inTransaction) this.db.exec('COMMIT');
    } catch (e) {
      // A failed COMMIT that left the transaction open (SQLITE_BUSY) is the caller's to roll back.
      if (this.db.inTransaction) throw e;
      this.forgetBatch();
      throw new RelayBatchLost({ cause: e });
    }
    this.idems.committed();
  }

  rollbackBatch(): void {
    this.batchOpen = false;
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
    this.forgetBatch();
  }

  /** What memory holds of a batch that did not commit: its keys, and counts or handles it changed. */
  private forgetBatch(): void {
    this.idems.rolledBack();
    this.queueCounts.clear();
    this.byHandle.clear();
  }

  /** Set once a -wal fsync failed: nothing committed after the last good one may be promised. */
  get durabilityLost(): RelayDurabilityLost | undefined {
    return this.lost;
  }

  /**
   * Makes every commit so far durable (a power cut keeps it): in WAL mode a NORMAL commit is
   * complete in the -wal file and only misses the fsync a FULL commit does, so one fsync of that
   * file (any descriptor flushes it) covers every earlier commit. The fsync runs on libuv's thread
   * pool; the event loop goes on (later batches commit meanwhile: the caller fsyncs again for
   * them). Checkpoints need none: under NORMAL SQLite syncs the database file after each one.
   * A failure rejects with RelayDurabilityLost, and so does every later call.
   */
  async syncCommitted(): Promise<void> {
    if (this.lost) throw this.lost;
    // Closed: its last commit ran the checkpoint SQLite does at close, which syncs the database.
    if (!this.wal || this.closed) return;
    try {
      // No -wal (nothing committed in WAL mode yet): nothing of it waits for an fsync.
      await this.wal.sync();
    } catch (e) {
      this.lost ??= new RelayDurabilityLost({ cause: e });
      throw this.lost;
    }
  }

  /** Another file's fsync failed (a blob's, relay/blobs.ts): from now on as if a -wal fsync had. */
  markDurabilityLost(cause: unknown): void {
    this.lost ??= new RelayDurabilityLost({ cause });
  }

  /** Deletes idempotency records older than their retention; returns how many went. */
  pruneIdempotency(now: number): number {
    // Never inside a request batch: its rollback would bring back rows the map forgot.
    if (this.db.inTransaction) throw new PurgeBusy();
    return this.idems.prune(now - IDEMPOTENCY_RETENTION_MS);
  }

  /** Idempotency records in memory and spilled to the disk index (relay/idem-log.ts). */
  get idempotencySizes(): { inMemory: number; spilled: number } {
    return this.idems.sizes;
  }

  /**
   * Copies the WAL into the database and truncates it, so acknowledged (deleted, and with
   * secure_delete overwritten) envelopes do not survive as old WAL frames. The relay runs it
   * periodically; it is a no-op while a batch is open.
   */
  scrubWal(): void {
    if (this.db.inTransaction) return;
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  close(): void {
    this.closed = true;
    this.db.close();
    this.wal?.close(); // once an fsync still running on it is done
  }
}
