// Attachment blobs on a cluster node (docs/protocol.md §9a): the same methods and rules as the
// embedded store (relay/blobs.ts), kept in the cluster's PostgreSQL (migration 5 of
// pg-schema.ts) so any node serves any blob. The sealed bytes are bytea rows, one per put (at
// most one stream chunk, 64 KiB + 16), keyed by their offset; TOAST stores them uncompressed
// (ciphertext does not compress). Size, acknowledged length, owner, named recipients and expiry
// are rows beside them, and every change is one transaction: no orphan files, no sweep of them.
// The relay still never has a key: it learns a file's padded sealed size, its uploader and
// whom the uploader named.
import { randomBytes } from 'node:crypto';
import { RpcError } from '../shared/protocol/errors.ts';
import { MAX_BLOB_CHUNK_BYTES } from '../shared/protocol/methods.ts';
import { streamLayout } from '../shared/protocol/stream.ts';
import { BLOB_RECIPIENT_CHARGE_BYTES, blobCharge, DEFAULT_BLOB_LIMITS, MIN_BLOB_CHARGE_BYTES, type BlobLimits, type Blobs } from './blobs.ts';
import { num, query, type Db } from './pg-ops.ts';
import type { PgStoreBackend } from './store-pg.ts';

/** Expired blobs deleted per statement, so a sweep never holds many locks for long. */
const SWEEP_BATCH = 500;
const SWEEP_INTERVAL_MS = 60_000;

interface BlobRecord {
  owner: Buffer;
  size: string;
  length: string;
  expires_at: string;
  /** The caller uploaded the blob or was named by its uploader. */
  may: boolean;
}

interface Blob {
  owner: Buffer;
  size: number;
  length: number;
  expiresAt: number;
  may: boolean;
}

export class PgBlobStore implements Blobs {
  readonly limits: BlobLimits;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** The first sweep (at start), so a caller may wait until what expired meanwhile is gone. */
  readonly started: Promise<number>;

  constructor(
    private readonly store: PgStoreBackend,
    limits: Partial<BlobLimits> = {},
    private readonly clock: () => number = Date.now,
    private readonly log: (event: Record<string, unknown>) => void = () => undefined,
  ) {
    this.limits = { ...DEFAULT_BLOB_LIMITS, ...limits };
    this.started = this.sweepLogged();
    this.timer = setInterval(() => void this.sweepLogged(), SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }

  get maxSealedBytes(): number {
    return streamLayout(this.limits.maxFileBytes).sealedSize;
  }

  async usedBytes(owner: Buffer, db: Db = this.store.pool): Promise<number> {
    const r = await query<{ n: string }>(db, 'blob_used',
      'SELECT COALESCE(SUM(GREATEST(size, $1) + recipients * $2), 0) AS n FROM blobs WHERE owner = $3 AND expires_at > $4',
      [MIN_BLOB_CHARGE_BYTES, BLOB_RECIPIENT_CHARGE_BYTES, owner, this.clock()]);
    return num(r.rows[0]?.n ?? 0);
  }

  async create(owner: Buffer, size: number, recipientHandles: readonly string[]): Promise<{ id: Buffer; expiresAt: number }> {
    if (size > this.maxSealedBytes) throw new RpcError('BLOB_TOO_LARGE', `at most ${this.limits.maxFileBytes} bytes per file`);
    const handles = [...new Set(recipientHandles)];
    const id = randomBytes(16);
    const expiresAt = this.clock() + this.limits.ttlMs;
    await this.store.tx(async (c) => {
      // Creates of one account serialise on its device row, so two nodes cannot both pass the quota.
      await query(c, 'blob_lock_owner', 'SELECT 1 FROM devices WHERE perm_key_id = $1 FOR UPDATE', [owner]);
      if (await this.usedBytes(owner, c) + blobCharge(size, handles.length) > this.limits.quotaBytes) {
        throw new RpcError('QUOTA_EXCEEDED', `at most ${this.limits.quotaBytes} bytes of attachments waiting per account`);
      }
      // Up to MAX_BLOB_RECIPIENTS handles in one statement; refused after the quota, as the embedded store does.
      const found = await query<{ perm_key_id: Buffer }>(c, 'blob_recipients_of', 'SELECT perm_key_id FROM devices WHERE handle = ANY($1::text[])', [handles]);
      if (found.rows.length !== handles.length) throw new RpcError('NOT_FOUND', 'no such handle');
      const recipients = found.rows.map((r) => r.perm_key_id);
      await query(c, 'blob_insert', 'INSERT INTO blobs (id, owner, size, length, expires_at, recipients) VALUES ($1, $2, $3, 0, $4, $5)',
        [id, owner, size, expiresAt, recipients.length]);
      await query(c, 'blob_recipients_insert',
        'INSERT INTO blob_recipients (blob_id, recipient) SELECT $1, r FROM unnest($2::bytea[]) AS r ON CONFLICT DO NOTHING', [id, recipients]);
    });
    return { id, expiresAt };
  }

  /** The live blob as `caller` may see it; NOT_FOUND when missing or expired. `lock`: FOR UPDATE (inside a transaction). */
  private async live(db: Db, caller: Buffer, blobId: Uint8Array, lock: boolean): Promise<{ id: Buffer; b: Blob }> {
    const id = Buffer.from(blobId);
    const text = `SELECT b.owner, b.size, b.length, b.expires_at,
                         (b.owner = $2 OR EXISTS (SELECT 1 FROM blob_recipients r WHERE r.blob_id = b.id AND r.recipient = $2)) AS may
                    FROM blobs b WHERE b.id = $1${lock ? ' FOR UPDATE' : ''}`;
    const r = (await query<BlobRecord>(db, lock ? 'blob_row_lock' : 'blob_row', text, [id, caller])).rows[0];
    if (!r || num(r.expires_at) <= this.clock()) throw new RpcError('NOT_FOUND', 'no such blob');
    return { id, b: { owner: r.owner, size: num(r.size), length: num(r.length), expiresAt: num(r.expires_at), may: r.may } };
  }

  /** The blob, when `caller` uploaded it or was named by its uploader; else NOT_FOUND (no oracle). */
  private async readable(db: Db, caller: Buffer, blobId: Uint8Array, lock = false): Promise<{ id: Buffer; b: Blob }> {
    const x = await this.live(db, caller, blobId, lock);
    if (!x.b.may) throw new RpcError('NOT_FOUND', 'no such blob');
    return x;
  }

  /** As BlobStore.put: appends at the acknowledged length only; returns the acknowledged length. */
  put(owner: Buffer, blobId: Uint8Array, offset: number, data: Uint8Array): Promise<number> {
    return this.store.tx(async (c) => {
      // Puts of one blob serialise on its row: of two at the same offset (a re-send racing its original) one writes.
      const { id, b } = await this.live(c, owner, blobId, true);
      if (!b.owner.equals(owner)) throw new RpcError('NOT_FOUND', 'no such blob');
      if (offset !== b.length) return b.length;
      if (offset + data.length > b.size) throw new RpcError('BAD_REQUEST', 'data beyond the declared size');
      await query(c, 'blob_chunk_insert', 'INSERT INTO blob_chunks (blob_id, off, data) VALUES ($1, $2, $3)',
        [id, offset, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
      const length = offset + data.length;
      await query(c, 'blob_set_length', 'UPDATE blobs SET length = $1 WHERE id = $2', [length, id]);
      return length;
    });
  }

  async status(caller: Buffer, blobId: Uint8Array): Promise<{ size: number; length: number; expiresAt: number }> {
    const { b } = await this.readable(this.store.pool, caller, blobId);
    return { size: b.size, length: b.length, expiresAt: b.expiresAt };
  }

  async get(caller: Buffer, blobId: Uint8Array, offset: number, length: number): Promise<Uint8Array> {
    const { id, b } = await this.readable(this.store.pool, caller, blobId);
    if (b.length < b.size) throw new RpcError('NOT_FOUND', 'the blob is not completely uploaded yet');
    if (offset + length > b.size) throw new RpcError('BAD_REQUEST', 'range beyond the blob');
    // A chunk holds at most MAX_BLOB_CHUNK_BYTES, so only chunks starting less than that before
    // `offset` can overlap the range: an index range scan on (blob_id, off).
    const rows = (await query<{ off: string; data: Buffer }>(this.store.pool, 'blob_chunks_range',
      'SELECT off, data FROM blob_chunks WHERE blob_id = $1 AND off > $2 AND off < $3 ORDER BY off',
      [id, offset - MAX_BLOB_CHUNK_BYTES, offset + length])).rows;
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    for (const r of rows) {
      const start = num(r.off);
      const from = Math.max(offset, start);
      const to = Math.min(offset + length, start + r.data.length);
      if (from !== offset + filled) break;
      if (to > from) filled += r.data.copy(out, filled, from - start, to - start);
    }
    // Rows deleted meanwhile (the blob was withdrawn or expired between the two reads).
    if (filled !== length) throw new RpcError('NOT_FOUND', 'the blob\'s data is gone');
    return out;
  }

  /** As BlobStore.done: a recipient loses access, the blob goes once none is left; the uploader's withdraws it. */
  done(caller: Buffer, blobId: Uint8Array): Promise<boolean> {
    return this.store.tx(async (c) => {
      // Locked: of two last recipients done at once on two nodes, the second sees the first's delete.
      const { id, b } = await this.readable(c, caller, blobId, true);
      if (!b.owner.equals(caller)) {
        await query(c, 'blob_recipient_drop', 'DELETE FROM blob_recipients WHERE blob_id = $1 AND recipient = $2', [id, caller]);
        const left = num((await query<{ n: string }>(c, 'blob_recipients_left', 'SELECT count(*) AS n FROM blob_recipients WHERE blob_id = $1', [id])).rows[0]?.n ?? 0);
        if (left > 0) {
          // Charged for the recipients left (relay/blobs.ts BLOB_RECIPIENT_CHARGE_BYTES).
          await query(c, 'blob_set_recipients', 'UPDATE blobs SET recipients = $1 WHERE id = $2', [left, id]);
          return false;
        }
      }
      // Its chunks and recipient rows go with it (ON DELETE CASCADE).
      await query(c, 'blob_delete', 'DELETE FROM blobs WHERE id = $1', [id]);
      return true;
    });
  }

  /**
   * Deletes expired blobs, SWEEP_BATCH per statement; every node sweeps, skipping rows another
   * node (or a put) holds. Returns how many went.
   */
  async sweep(): Promise<number> {
    let n = 0;
    for (;;) {
      if (this.closed) return n;
      const r = await query(this.store.pool, 'blob_sweep',
        'DELETE FROM blobs WHERE id IN (SELECT id FROM blobs WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)', [this.clock(), SWEEP_BATCH]);
      n += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) < SWEEP_BATCH) return n;
    }
  }

  private sweepLogged(): Promise<number> {
    return this.sweep().catch((e: unknown) => {
      // PostgreSQL away (restarting) or the pool closed: the next sweep tries again.
      if (!this.closed) this.log({ event: 'blob-sweep-failed', error: String(e) });
      return 0;
    });
  }
}
