// The cluster backend: the relay's durable state in PostgreSQL, shared by any number of relay
// nodes. A pooled `pg` driver with named (prepared-once-per-connection) statements (the ops in
// pg-ops.ts); the schema is versioned and migrated by whichever node starts first, under an
// advisory lock (pg-schema.ts). Nodes wake each other with NOTIFY on a per-node channel
// (pg-listen.ts); the rows are the truth, a notification only says "look again". No temp key
// material is stored: a binding is (node, random binding id, seq).
import PQueue from 'p-queue';
import pg from 'pg';
import type { OneTimeKey, StoredIdentity } from './key-store.ts';
import { PgListener } from './pg-listen.ts';
import { num, pgOps, query } from './pg-ops.ts';
import { migrate, PgStoreError } from './pg-schema.ts';
import type { BindResult, Binding, ClusterEvent, RelayStoreBackend, StoreOps } from './store-backend.ts';
import { IDEMPOTENCY_RETENTION_MS, PURGE_BATCH, type DeviceRow, type EnqueueResult, type QueuedEnvelope } from './store.ts';

export { MIGRATIONS, migrate, nodeChannel, PgStoreError, type PgStoreErrorCode } from './pg-schema.ts';

/** Transaction advisory lock of the expiry purge ("EPHP"): one node purges at a time. */
const PURGE_LOCK = 0x45504850;

export interface PgStoreOptions {
  /** postgres://… connection string. */
  url: string;
  /** Pool size per node. */
  maxConnections?: number;
  /** Receives operational events (listener reconnects); never message content. */
  log?: (event: Record<string, unknown>) => void;
}

export class PgStoreBackend implements RelayStoreBackend {
  readonly kind = 'postgres';
  readonly pool: pg.Pool;
  /** Batches run one after another (a batch must not interleave with another). */
  private readonly serial = new PQueue({ concurrency: 1 });
  /** Device rows by handle (pg-ops.ts caches committed reads here). */
  readonly byHandle = new Map<string, DeviceRow>();
  private readonly log: (event: Record<string, unknown>) => void;
  /** The node's LISTEN connection (relay/pg-listen.ts). */
  private readonly events: PgListener;

  private constructor(o: PgStoreOptions) {
    this.log = o.log ?? (() => undefined);
    this.pool = new pg.Pool({ connectionString: o.url, max: o.maxConnections ?? 10 });
    this.events = new PgListener(o.url, this.log);
    // An idle pooled connection that dies (the server restarted) must not crash the node; the
    // pool drops it and the next query opens a new one.
    this.pool.on('error', (e) => this.log({ event: 'pg-pool-error', error: e.message }));
    // The pool hears its clients only while they are idle in it; a connection that dies while
    // checked out (or just after it was released and dropped) emits 'error' on the client, and
    // unheard that ends the process. Every client gets a listener for its whole life; its failed
    // query rejects on its own, and a dead client is dropped when released.
    this.pool.on('connect', (client) => client.on('error', () => undefined));
  }

  /** Connects and migrates the schema (the first node to start does it; the others wait and find it done). */
  static async open(o: PgStoreOptions): Promise<PgStoreBackend> {
    const s = new PgStoreBackend(o);
    try {
      await migrate(s.pool);
    } catch (e) {
      await s.pool.end();
      if (e instanceof PgStoreError) throw e;
      throw new PgStoreError('DATABASE_UNAVAILABLE', `cannot prepare the relay database: ${(e as Error).message}`);
    }
    return s;
  }

  /** Runs `f` in a transaction on its own connection (outside a batch). */
  async tx<T>(f: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    // A checked-out connection that dies (PostgreSQL restarted) emits 'error' on the client;
    // unheard, that would end the process. The failing query rejects on its own.
    let broken: Error | undefined;
    const onError = (e: Error): void => {
      broken = e;
    };
    c.on('error', onError);
    try {
      await c.query('BEGIN');
      try {
        const r = await f(c);
        await c.query('COMMIT');
        return r;
      } catch (e) {
        await c.query('ROLLBACK').catch((err: unknown) => {
          broken ??= err instanceof Error ? err : new Error(String(err));
        });
        throw e;
      }
    } finally {
      c.off('error', onError);
      // A connection that failed is dropped from the pool, not handed to the next caller.
      c.release(broken);
    }
  }

  batch<T>(fn: (ops: StoreOps) => Promise<T>): Promise<T> {
    return this.serial.add(() => this.tx((c) => fn(pgOps(c, true, this))));
  }

  /** The ops outside a batch (each its own transaction), made once. */
  private topOps: StoreOps | undefined;
  private get top(): StoreOps {
    this.topOps ??= pgOps(this.pool, false, this);
    return this.topOps;
  }

  device(permKeyId: Buffer): Promise<DeviceRow | undefined> { return this.top.device(permKeyId); }
  insertDevice(permKeyId: Buffer, permPub: Buffer, now: number): Promise<DeviceRow> { return this.top.insertDevice(permKeyId, permPub, now); }
  deviceByHandle(handle: string): Promise<DeviceRow | undefined> { return this.top.deviceByHandle(handle); }
  register(permKeyId: Buffer, handle: string): Promise<void> { return this.top.register(permKeyId, handle); }
  enqueue(sender: Buffer, senderHandle: string, recipientHandle: string, idem: string, body: Buffer, now: number, queueLimit: number, expiresAt?: number): Promise<EnqueueResult> {
    return this.top.enqueue(sender, senderHandle, recipientHandle, idem, body, now, queueLimit, expiresAt);
  }
  pending(recipient: Buffer, afterId: number, limit: number, now?: number): Promise<QueuedEnvelope[]> { return this.top.pending(recipient, afterId, limit, now); }
  withdraw(sender: Buffer, recipientHandle: string, idem: string): Promise<void> { return this.top.withdraw(sender, recipientHandle, idem); }
  ack(recipient: Buffer, ids: readonly number[]): Promise<number> { return this.top.ack(recipient, ids); }
  identity(permKeyId: Buffer): Promise<StoredIdentity | undefined> { return this.top.identity(permKeyId); }
  putIdentity(permKeyId: Buffer, id: StoredIdentity, now: number): Promise<{ reRegistered: boolean }> { return this.top.putIdentity(permKeyId, id, now); }
  addOneTime(permKeyId: Buffer, preKeys: readonly OneTimeKey[], kyberPreKeys: readonly OneTimeKey[]): Promise<{ preKeys: number; kyberPreKeys: number }> {
    return this.top.addOneTime(permKeyId, preKeys, kyberPreKeys);
  }
  preKeyCounts(permKeyId: Buffer): Promise<{ preKeys: number; kyberPreKeys: number }> { return this.top.preKeyCounts(permKeyId); }
  takeOneTime(permKeyId: Buffer): Promise<{ preKey: OneTimeKey | undefined; kyberPreKey: OneTimeKey | undefined }> { return this.top.takeOneTime(permKeyId); }
  bind(permKeyId: Buffer, node: string, bindingId: Buffer, now: number): Promise<BindResult> { return this.top.bind(permKeyId, node, bindingId, now); }
  currentBinding(permKeyId: Buffer): Promise<Binding | undefined> { return this.top.currentBinding(permKeyId); }
  unbind(permKeyId: Buffer, node: string, bindingId: Buffer): Promise<boolean> { return this.top.unbind(permKeyId, node, bindingId); }

  /** LISTENs on the node's channel (relay/pg-listen.ts); a lost connection is re-made and reported as 'resync'. */
  listen(node: string, onEvent: (e: ClusterEvent) => void): Promise<void> {
    return this.events.listen(node, onEvent);
  }

  async pruneIdempotency(now: number): Promise<void> {
    await query(this.pool, 'prune_idem', 'DELETE FROM idempotency WHERE created_at < $1', [now - IDEMPOTENCY_RETENTION_MS]);
  }

  /**
   * Deletes expired envelopes (and those stored more than `maxAgeMs` ago) in batches, each its
   * own transaction under an advisory lock, so only one node purges at a time; locked rows (an
   * ack in progress) are skipped until the next run. Returns how many went.
   */
  async purgeExpired(now: number, maxAgeMs: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.tx(async (c) => {
        const lock = await query<{ ok: boolean }>(c, 'purge_lock', 'SELECT pg_try_advisory_xact_lock($1) AS ok', [PURGE_LOCK]);
        if (!lock.rows[0]?.ok) return 0;
        const r = await query<{ n: string }>(c, 'purge_expired',
          `WITH gone AS (DELETE FROM queue WHERE id IN (
                           SELECT id FROM queue WHERE expires_at <= $1 OR created_at <= $2 LIMIT $3 FOR UPDATE SKIP LOCKED)
                         RETURNING recipient),
                per AS (SELECT recipient, count(*) AS n FROM gone GROUP BY recipient),
                upd AS (UPDATE devices d SET queued = d.queued - per.n FROM per WHERE d.perm_key_id = per.recipient RETURNING 1)
           SELECT coalesce(sum(n), 0) AS n FROM per`,
          [now, now - maxAgeMs, PURGE_BATCH]);
        return num(r.rows[0]?.n ?? 0);
      });
      total += n;
      if (n < PURGE_BATCH) return total;
    }
  }

  async close(): Promise<void> {
    this.events.closing();
    await this.serial.onIdle();
    await this.events.end();
    await this.pool.end();
  }
}
