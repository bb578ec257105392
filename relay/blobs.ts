// Attachment blobs at the relay (docs/protocol.md §9a): opaque sealed streams as files in
// DIR/blobs (never SQLite rows, so a 100 MiB file is not a 100 MiB row), their size, upload
// progress, owner, recipients and expiry in relay.db. The relay never has a key: all it learns
// of a file is its padded sealed size, who uploaded it and whom the uploader named.
// This is the embedded (SQLite) store; a cluster node keeps blobs in PostgreSQL (relay/blobs-pg.ts).
// Past 500 lines: the put path's fsync ordering, the file cache and the quota share one store's
// state (rows, files, pending puts); split, each part would reach into the others.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, fstatSync, openSync, readdirSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type Database from 'better-sqlite3';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../shared/private-files.ts';
import { RpcError } from '../shared/protocol/errors.ts';
import { MAX_BLOB_CHUNK_BYTES, RELAY_METHODS } from '../shared/protocol/methods.ts';
import { BufferPool } from '../shared/protocol/record.ts';
import { streamLayout } from '../shared/protocol/stream.ts';
import { andThen, requireDevice, requireHandle, serve, type MaybePromise, type ServedMethod } from './context.ts';
import type { DeviceRow } from './store.ts';

export interface BlobLimits {
  /** Largest file (plaintext bytes) a blob may hold; the relay accepts its sealed, padded size. */
  maxFileBytes: number;
  /** Sealed bytes one account may hold in live blobs at a time. */
  quotaBytes: number;
  /** A blob is deleted this long after its creation, fetched or not. */
  ttlMs: number;
}

/**
 * Buffers blob.get reads a chunk into, reused: each get's chunk was a new 64 KiB buffer that died
 * once its answer was sealed. relay/outgoing.ts gives a chunk back right after sealing the record
 * that carries it (nothing reads it after). Sealed chunks are ciphertext: no zeroing needed.
 */
export const blobReadBuffers = new BufferPool([MAX_BLOB_CHUNK_BYTES], 32 * 1024, 64);

export const DEFAULT_BLOB_LIMITS: BlobLimits = {
  maxFileBytes: 100 * 1024 * 1024,
  quotaBytes: 1024 * 1024 * 1024,
  ttlMs: 30 * 24 * 3600 * 1000,
};

/** Expired blobs deleted per sweep step, so a sweep never holds the database for long. */
const SWEEP_BATCH = 500;
const SWEEP_INTERVAL_MS = 60_000;
/**
 * Blob files kept open between requests: a transfer is one put or get per 64 KiB chunk, and
 * opening and closing the file for each showed in the relay's profile (now one fstat, to see a
 * file unlinked meanwhile). The least recently used goes past the cap; one unused for
 * FILE_IDLE_MS is closed by the next open or the idle tick.
 */
const OPEN_FILES_MAX = 32;
const FILE_IDLE_MS = 2_000;
/**
 * Each blob counts at least one chunk against the quota: otherwise an account could hold
 * ~10^9 one-byte blobs (a row, a file and up to MAX_BLOB_RECIPIENTS rows each) within 1 GiB.
 */
export const MIN_BLOB_CHARGE_BYTES = MAX_BLOB_CHUNK_BYTES;
/**
 * Each recipient a blob names counts this much more, until it is done or the blob goes: without it an account
 * could hold 16,384 never-uploaded blobs naming 1,000 recipients each (16.4M recipient rows,
 * ~0.5-0.8 GB of relay.db) within 1 GiB. With it the quota bounds rows too (at most quota / 1 KiB,
 * 1M rows in 1 GiB, 10-30x a row's real size), and a file to a 1,000-member group costs ~1 MiB more.
 */
export const BLOB_RECIPIENT_CHARGE_BYTES = 1024;

/** What one blob counts against its uploader's quota (docs/protocol.md §9a). */
export function blobCharge(size: number, recipients: number): number {
  return Math.max(size, MIN_BLOB_CHARGE_BYTES) + recipients * BLOB_RECIPIENT_CHARGE_BYTES;
}

/** What the blob methods use: BlobStore answers at once, PgBlobStore (relay/blobs-pg.ts) later. */
export interface Blobs {
  readonly limits: BlobLimits;
  usedBytes(owner: Buffer): MaybePromise<number>;
  create(owner: Buffer, size: number, recipientHandles: readonly string[]): MaybePromise<{ id: Buffer; expiresAt: number }>;
  put(owner: Buffer, blobId: Uint8Array, offset: number, data: Uint8Array): MaybePromise<number>;
  status(caller: Buffer, blobId: Uint8Array): MaybePromise<{ size: number; length: number; expiresAt: number }>;
  get(caller: Buffer, blobId: Uint8Array, offset: number, length: number): MaybePromise<Uint8Array>;
  done(caller: Buffer, blobId: Uint8Array): MaybePromise<boolean>;
  close(): void;
}

interface BlobRow {
  owner: Buffer;
  size: number;
  length: number;
  expires_at: number;
}

/** fsync of the file or directory at `path`; nothing when it is gone. */
async function syncPath(path: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * fsyncs of one file, one at a time: a caller gets the first fsync that begins after its call (so
 * it covers the caller's writes), shared with every caller until that one begins.
 */
class FileSyncs {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(private readonly sync: () => Promise<void>) {}

  get idle(): boolean {
    return !this.running && !this.queued;
  }

  after(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.running) return this.begin();
    const settle = (): Promise<void> => {
      this.queued = undefined;
      return this.begin();
    };
    this.queued = this.running.then(settle, settle);
    return this.queued;
  }

  private begin(): Promise<void> {
    const p = this.sync();
    this.running = p;
    const done = (): void => {
      if (this.running === p) this.running = undefined;
    };
    p.then(done, done);
    return p;
  }
}

/** What a BlobStore needs of the relay around it (relay/core.ts). */
export interface BlobStoreHooks {
  /**
   * Opens the group-commit batch (if none is open) and marks it as one whose answers wait for the
   * -wal fsync: a put's new length is written in it once the chunk's file is fsynced.
   */
  durableBatch?: () => void;
  /** A blob file's fsync failed: nothing written since the last good one may be promised. */
  syncFailed?: (e: unknown) => void;
}

export class BlobStore implements Blobs {
  readonly dir: string;
  readonly limits: BlobLimits;
  private readonly db: Database.Database;
  private readonly deviceByHandle: (handle: string) => DeviceRow | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly idleTimer: NodeJS.Timeout;
  /** Open blob files by id (hex), least recently used first (Map order), each with its last use. */
  private readonly openFiles = new Map<string, { fd: number; usedAt: number }>();
  /** Blobs (id hex) whose file a first put made: its next fsync covers the directory entry too. */
  private readonly newFiles = new Set<string>();
  /** Per blob file (id hex): its fsyncs, one at a time (a put's chunk is fsynced before its length is written). */
  private readonly fileSyncs = new Map<string, FileSyncs>();
  /**
   * Per blob (id hex): the length its written chunks reach while their fsync and the commit of that
   * length are under way (the next put continues there), and that work, settled.
   */
  private readonly pendingPuts = new Map<string, { length: number; settled: Promise<unknown> }>();
  /** Set by the first failed blob file fsync: no put is answered any more (as RelayStore.durabilityLost). */
  private lost: unknown;
  private readonly st: {
    insert: Database.Statement<[Buffer, Buffer, number, number, number, number]>;
    row: Database.Statement<[Buffer]>;
    used: Database.Statement<[number, number, Buffer, number]>;
    setLength: Database.Statement<[number, Buffer]>;
    addRecipient: Database.Statement<[Buffer, Buffer]>;
    isRecipient: Database.Statement<[Buffer, Buffer]>;
    dropRecipient: Database.Statement<[Buffer, Buffer]>;
    recipientsLeft: Database.Statement<[Buffer]>;
    setRecipients: Database.Statement<[number, Buffer]>;
    del: Database.Statement<[Buffer]>;
    delRecipients: Database.Statement<[Buffer]>;
    expired: Database.Statement<[number, number]>;
    exists: Database.Statement<[Buffer]>;
  };

  /** `db` is relay.db; the files go to `blobs/` beside it. */
  constructor(
    db: Database.Database,
    deviceByHandle: (handle: string) => DeviceRow | undefined,
    limits: Partial<BlobLimits> = {},
    private readonly clock: () => number = Date.now,
    private readonly hooks: BlobStoreHooks = {},
  ) {
    this.db = db;
    this.deviceByHandle = deviceByHandle;
    this.limits = { ...DEFAULT_BLOB_LIMITS, ...limits };
    this.dir = join(dirname(db.name), 'blobs');
    db.exec(`
      CREATE TABLE IF NOT EXISTS blobs (
        id BLOB PRIMARY KEY, owner BLOB NOT NULL, size INTEGER NOT NULL, length INTEGER NOT NULL,
        expires_at INTEGER NOT NULL, recipients INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS blobs_by_owner ON blobs (owner);
      CREATE INDEX IF NOT EXISTS blobs_by_expiry ON blobs (expires_at);
      CREATE TABLE IF NOT EXISTS blob_recipients (
        blob_id BLOB NOT NULL, recipient BLOB NOT NULL, PRIMARY KEY (blob_id, recipient)
      ) WITHOUT ROWID;
    `);
    addRecipientsColumn(db);
    this.st = {
      insert: db.prepare('INSERT INTO blobs (id, owner, size, length, expires_at, recipients) VALUES (?, ?, ?, ?, ?, ?)'),
      row: db.prepare('SELECT owner, size, length, expires_at FROM blobs WHERE id = ?'),
      used: db.prepare('SELECT COALESCE(SUM(MAX(size, ?) + recipients * ?), 0) AS n FROM blobs WHERE owner = ? AND expires_at > ?'),
      // MAX: a put's length never lowers one a later put (its fsync covered this one's bytes) set.
      setLength: db.prepare('UPDATE blobs SET length = MAX(length, ?) WHERE id = ?'),
      addRecipient: db.prepare('INSERT OR IGNORE INTO blob_recipients (blob_id, recipient) VALUES (?, ?)'),
      isRecipient: db.prepare('SELECT 1 FROM blob_recipients WHERE blob_id = ? AND recipient = ?'),
      dropRecipient: db.prepare('DELETE FROM blob_recipients WHERE blob_id = ? AND recipient = ?'),
      recipientsLeft: db.prepare('SELECT COUNT(*) AS n FROM blob_recipients WHERE blob_id = ?'),
      setRecipients: db.prepare('UPDATE blobs SET recipients = ? WHERE id = ?'),
      del: db.prepare('DELETE FROM blobs WHERE id = ?'),
      delRecipients: db.prepare('DELETE FROM blob_recipients WHERE blob_id = ?'),
      expired: db.prepare('SELECT id FROM blobs WHERE expires_at <= ? LIMIT ?'),
      exists: db.prepare('SELECT 1 FROM blobs WHERE id = ?'),
    };
    if (db.name !== ':memory:' && db.name !== '') {
      ensurePrivateDir(this.dir);
      this.sweep();
      this.removeOrphans();
    }
    this.timer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.timer.unref();
    this.idleTimer = setInterval(() => this.closeIdleFiles(performance.now()), FILE_IDLE_MS);
    this.idleTimer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    clearInterval(this.idleTimer);
    for (const hex of [...this.openFiles.keys()]) this.closeFile(hex);
  }

  private file(id: Buffer): string {
    return join(this.dir, id.toString('hex'));
  }

  /**
   * Opens the blob's file; `create` (a first put) makes it if missing. Else a missing file (removed
   * by hand, or a `done` whose commit failed after the unlink) is NOT_FOUND for that request,
   * never an error that would roll back the batch.
   */
  private openFile(id: Buffer, create = false): number {
    const hex = id.toString('hex');
    const now = performance.now();
    const kept = this.openFiles.get(hex);
    // A kept file unlinked meanwhile (by hand: data gone) is opened again, to NOT_FOUND.
    if (kept && fstatSync(kept.fd).nlink > 0) {
      this.openFiles.delete(hex);
      kept.usedAt = now;
      this.openFiles.set(hex, kept);
      return kept.fd;
    }
    if (kept) this.closeFile(hex);
    this.closeIdleFiles(now);
    let fd: number;
    try {
      // Without O_EXCL: a file a crash left before its length was committed is written over.
      fd = openSync(this.file(id), create ? constants.O_RDWR | constants.O_CREAT : 'r+', PRIVATE_FILE_MODE);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new RpcError('NOT_FOUND', 'the blob\'s data is gone');
      throw e;
    }
    this.openFiles.set(hex, { fd, usedAt: now });
    for (const oldest of this.openFiles.keys()) {
      if (this.openFiles.size <= OPEN_FILES_MAX) break;
      this.closeFile(oldest);
    }
    return fd;
  }

  private closeFile(hex: string): void {
    const kept = this.openFiles.get(hex);
    if (!kept) return;
    this.openFiles.delete(hex);
    closeSync(kept.fd);
  }

  private closeIdleFiles(now: number): void {
    for (const [hex, kept] of this.openFiles) {
      // Least recently used first: the rest were used later.
      if (now - kept.usedAt < FILE_IDLE_MS) break;
      this.closeFile(hex);
    }
  }

  /**
   * A put's fsync, before its length is written: the blob's file, on the thread pool on a handle of
   * its own (a kept descriptor may be closed meanwhile), and the directory after the first put
   * made the file (its entry, or after a power cut the length would count bytes of no file).
   */
  private async syncFile(hex: string): Promise<void> {
    const dirToo = this.newFiles.delete(hex);
    await Promise.all([syncPath(join(this.dir, hex)), ...(dirToo ? [syncPath(this.dir)] : [])]);
  }

  /** Sealed size a blob of the largest allowed file has (what `create` accepts). */
  get maxSealedBytes(): number {
    return streamLayout(this.limits.maxFileBytes).sealedSize;
  }

  usedBytes(owner: Buffer): number {
    return (this.st.used.get(MIN_BLOB_CHARGE_BYTES, BLOB_RECIPIENT_CHARGE_BYTES, owner, this.clock()) as { n: number }).n;
  }

  create(owner: Buffer, size: number, recipientHandles: readonly string[]): { id: Buffer; expiresAt: number } {
    if (size > this.maxSealedBytes) throw new RpcError('BLOB_TOO_LARGE', `at most ${this.limits.maxFileBytes} bytes per file`);
    const handles = new Set(recipientHandles);
    if (this.usedBytes(owner) + blobCharge(size, handles.size) > this.limits.quotaBytes) throw new RpcError('QUOTA_EXCEEDED', `at most ${this.limits.quotaBytes} bytes of attachments waiting per account`);
    const recipients: Buffer[] = [];
    for (const h of handles) {
      const d = this.deviceByHandle(h);
      if (!d || d.handle === null) throw new RpcError('NOT_FOUND', 'no such handle');
      recipients.push(d.permKeyId);
    }
    // 128 random bits: a blob id cannot be guessed (reading needs to be named too).
    const id = randomBytes(16);
    const expiresAt = this.clock() + this.limits.ttlMs;
    // No file until the first put: a blob that never gets bytes leaves none (an account could
    // hold quota / one chunk = 16,384 such blobs; it still counts a chunk, blobCharge).
    this.st.insert.run(id, owner, size, 0, expiresAt, recipients.length);
    for (const r of recipients) this.st.addRecipient.run(id, r);
    return { id, expiresAt };
  }

  private live(id: Uint8Array): { id: Buffer; row: BlobRow } {
    const key = Buffer.from(id);
    const row = this.st.row.get(key) as BlobRow | undefined;
    if (!row || row.expires_at <= this.clock()) throw new RpcError('NOT_FOUND', 'no such blob');
    return { id: key, row };
  }

  /** The blob, when `caller` uploaded it or was named by its uploader; else NOT_FOUND (no oracle). */
  private readable(caller: Buffer, blobId: Uint8Array): { id: Buffer; row: BlobRow; owner: boolean } {
    const b = this.live(blobId);
    const owner = b.row.owner.equals(caller);
    if (!owner && this.st.isRecipient.get(b.id, caller) === undefined) throw new RpcError('NOT_FOUND', 'no such blob');
    return { ...b, owner };
  }

  /**
   * Appends `data` at `offset` when `offset` is the acknowledged length (or where the puts still
   * under way reach); anything else (a re-send of an acknowledged chunk, or a gap) writes nothing.
   * Resolves with the acknowledged length, from which the uploader continues.
   *
   * The new length is written only after the chunk's file is fsynced (then in a batch whose answers
   * wait for the -wal fsync): written in the same batch, the -wal could reach the disk before the
   * chunk, and after a power cut the relay would count bytes it does not have, answering the
   * re-sent chunk without writing it.
   */
  put(owner: Buffer, blobId: Uint8Array, offset: number, data: Uint8Array): MaybePromise<number> {
    if (this.lost !== undefined) throw new RpcError('INTERNAL', 'a blob file fsync failed: the relay must be restarted');
    const { id, row } = this.live(blobId);
    if (!row.owner.equals(owner)) throw new RpcError('NOT_FOUND', 'no such blob');
    const hex = id.toString('hex');
    const pending = this.pendingPuts.get(hex);
    if (offset !== (pending?.length ?? row.length)) {
      // The length the uploader continues from, once what is under way is on disk.
      return pending ? pending.settled.then(() => this.acknowledged(id)) : row.length;
    }
    if (offset + data.length > row.size) throw new RpcError('BAD_REQUEST', 'data beyond the declared size');
    const fd = this.openFile(id, offset === 0);
    if (offset === 0) this.newFiles.add(hex);
    let done = 0;
    while (done < data.length) done += writeSync(fd, data, done, data.length - done, offset + done);
    const length = offset + data.length;
    let syncs = this.fileSyncs.get(hex);
    if (!syncs) {
      syncs = new FileSyncs(() => this.syncFile(hex));
      this.fileSyncs.set(hex, syncs);
    }
    const written = syncs.after().then(() => {
      if (this.lost !== undefined) throw new RpcError('INTERNAL', 'a blob file fsync failed: the relay must be restarted');
      this.hooks.durableBatch?.();
      this.st.setLength.run(length, id);
      return length;
    }, (e: unknown) => {
      this.lost ??= e;
      this.hooks.syncFailed?.(e);
      throw new RpcError('INTERNAL', 'a blob file fsync failed: the relay must be restarted');
    });
    const entry = { length, settled: written.catch(() => undefined) };
    this.pendingPuts.set(hex, entry);
    void entry.settled.then(() => {
      if (this.pendingPuts.get(hex) === entry) this.pendingPuts.delete(hex);
      if (syncs.idle && this.fileSyncs.get(hex) === syncs) this.fileSyncs.delete(hex);
    });
    return written;
  }

  /** The blob's length as written. */
  private acknowledged(id: Buffer): number {
    const row = this.st.row.get(id) as BlobRow | undefined;
    if (!row) throw new RpcError('NOT_FOUND', 'no such blob');
    return row.length;
  }

  status(caller: Buffer, blobId: Uint8Array): { size: number; length: number; expiresAt: number } {
    const { row } = this.readable(caller, blobId);
    return { size: row.size, length: row.length, expiresAt: row.expires_at };
  }

  get(caller: Buffer, blobId: Uint8Array, offset: number, length: number): Uint8Array {
    const { id, row } = this.readable(caller, blobId);
    if (row.length < row.size) throw new RpcError('NOT_FOUND', 'the blob is not completely uploaded yet');
    if (offset + length > row.size) throw new RpcError('BAD_REQUEST', 'range beyond the blob');
    const out = blobReadBuffers.take(length);
    try {
      const fd = this.openFile(id);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) throw new Error('blob file shorter than its recorded length');
        done += n;
      }
    } catch (e) {
      blobReadBuffers.give(out);
      throw e;
    }
    return out;
  }

  /**
   * A recipient is done with the blob (fetched and stored it): it loses access, and the blob is
   * deleted once no recipient is left (until then it is charged for those left). The uploader's
   * `done` withdraws it for everyone.
   */
  done(caller: Buffer, blobId: Uint8Array): boolean {
    const { id, owner } = this.readable(caller, blobId);
    if (!owner) {
      this.st.dropRecipient.run(id, caller);
      const left = (this.st.recipientsLeft.get(id) as { n: number }).n;
      if (left > 0) {
        this.st.setRecipients.run(left, id);
        return false;
      }
    }
    this.remove(id);
    return true;
  }

  private remove(id: Buffer): void {
    this.st.delRecipients.run(id);
    this.st.del.run(id);
    this.closeFile(id.toString('hex'));
    try {
      unlinkSync(this.file(id));
    } catch {
      // Already gone (a previous attempt whose transaction was rolled back).
    }
  }

  /** Deletes expired blobs. Skipped while the relay's group-commit batch is open (it runs again). */
  sweep(): number {
    if (!this.db.open || this.db.inTransaction) return 0;
    let n = 0;
    for (;;) {
      const rows = this.st.expired.all(this.clock(), SWEEP_BATCH) as { id: Buffer }[];
      if (rows.length === 0) return n;
      this.db.transaction(() => {
        for (const r of rows) this.remove(r.id);
      })();
      n += rows.length;
    }
  }

  /** Files without a row (a first put in a batch that rolled back its blob's create, a crash between unlink and commit). */
  private removeOrphans(): void {
    if (!existsSync(this.dir)) return;
    for (const name of readdirSync(this.dir)) {
      if (!/^[0-9a-f]{32}$/.test(name) || this.st.exists.get(Buffer.from(name, 'hex')) === undefined) unlinkSync(join(this.dir, name));
    }
  }
}

/**
 * A relay.db from before the recipients' charge: the column, filled with the recipients each blob
 * still names (those done before the upgrade are not charged).
 */
function addRecipientsColumn(db: Database.Database): void {
  const columns = db.prepare('SELECT name FROM pragma_table_info(\'blobs\')').all() as { name: string }[];
  if (columns.some((c) => c.name === 'recipients')) return;
  db.transaction(() => {
    db.exec('ALTER TABLE blobs ADD COLUMN recipients INTEGER NOT NULL DEFAULT 0');
    db.exec('UPDATE blobs SET recipients = (SELECT COUNT(*) FROM blob_recipients r WHERE r.blob_id = blobs.id)');
  })();
}

/** The blob methods of the table, served (UNKNOWN_METHOD on a relay without a blob store). */
export function blobMethods(blobs: Blobs | undefined): Record<'blob.limits' | 'blob.create' | 'blob.put' | 'blob.status' | 'blob.get' | 'blob.done', ServedMethod> {
  const store = (): Blobs => {
    if (!blobs) throw new RpcError('UNKNOWN_METHOD', 'this relay keeps no attachments (cluster mode)');
    return blobs;
  };
  return {
    'blob.limits': serve(RELAY_METHODS['blob.limits'], (ctx) => {
      const b = store();
      const d = requireDevice(ctx);
      // The charge's terms too, so a client can tell what a create will count (blobCharge).
      return andThen(b.usedBytes(d.permKeyId), (usedBytes) => ({
        maxFileBytes: b.limits.maxFileBytes,
        quotaBytes: b.limits.quotaBytes,
        usedBytes,
        ttlMs: b.limits.ttlMs,
        minChargeBytes: MIN_BLOB_CHARGE_BYTES,
        recipientChargeBytes: BLOB_RECIPIENT_CHARGE_BYTES,
      }));
    }),
    'blob.create': serve(RELAY_METHODS['blob.create'], (ctx, p) => {
      const b = store();
      const d = requireHandle(ctx);
      return andThen(b.create(d.permKeyId, p.size, p.recipients), ({ id, expiresAt }) => ({ id: new Uint8Array(id), expiresAt }));
    }),
    'blob.put': serve(RELAY_METHODS['blob.put'], (ctx, p) => andThen(store().put(requireDevice(ctx).permKeyId, p.id, p.offset, p.data), (length) => ({ length }))),
    'blob.status': serve(RELAY_METHODS['blob.status'], (ctx, p) => store().status(requireDevice(ctx).permKeyId, p.id)),
    'blob.get': serve(RELAY_METHODS['blob.get'], (ctx, p) => andThen(store().get(requireDevice(ctx).permKeyId, p.id, p.offset, p.length), (data) => ({ data }))),
    'blob.done': serve(RELAY_METHODS['blob.done'], (ctx, p) => andThen(store().done(requireDevice(ctx).permKeyId, p.id), (deleted) => ({ deleted }))),
  };
}
