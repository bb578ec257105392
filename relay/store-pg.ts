// The cluster backend: the relay's durable state in PostgreSQL, shared by any number of relay
// nodes. A pooled `pg` driver with named (prepared-once-per-connection) statements; the schema
// is versioned and migrated by whichever node starts first, under an advisory lock. Nodes wake
// each other with NOTIFY on a per-node channel; the rows are the truth, a notification only says
// "look again". No temp key material is stored: a binding is (node, random binding id, seq).
import PQueue from 'p-queue';
import pg from 'pg';
import { RpcError } from '../shared/protocol/errors.ts';
import { CodedError } from '../shared/errors.ts';
import { DEFAULT_ENVELOPE_TTL_MS, IDEMPOTENCY_RETENTION_MS, PURGE_BATCH, type DeviceRow, type EnqueueResult, type QueuedEnvelope } from './store.ts';
import { identityFromRow, MAX_ONE_TIME_KEYS, type IdentityRow, type OneTimeKey, type StoredIdentity } from './key-store.ts';
import { type BindResult, type Binding, type ClusterEvent, type RelayStoreBackend, type StoreOps } from './store-backend.ts';

export type PgStoreErrorCode = 'BAD_NODE_ID' | 'SCHEMA_TOO_NEW' | 'DATABASE_UNAVAILABLE';

export class PgStoreError extends CodedError<PgStoreErrorCode> {}

/** pg_advisory_lock key held while migrating ("EPHE"). */
const MIGRATION_LOCK = 0x45504845;
/** Transaction advisory lock of the expiry purge ("EPHP"): one node purges at a time. */
const PURGE_LOCK = 0x45504850;

/** Versioned schema; a migration is never edited once released, only followed by another. */
export const MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE devices (
        perm_key_id bytea PRIMARY KEY,
        perm_pub bytea NOT NULL,
        handle text UNIQUE,
        created_at bigint NOT NULL,
        -- Envelopes queued for the device, kept under its row lock so the queue limit check is
        -- one read, not a count of up to the limit's rows on every send.
        queued bigint NOT NULL DEFAULT 0
      );
      CREATE SEQUENCE queue_id_seq;
      CREATE TABLE queue (
        id bigint PRIMARY KEY,
        recipient bytea NOT NULL,
        sender_handle text NOT NULL,
        body bytea NOT NULL,
        created_at bigint NOT NULL
      );
      CREATE INDEX queue_by_recipient ON queue (recipient, id);
      CREATE TABLE idempotency (
        sender bytea NOT NULL,
        idem text NOT NULL,
        queue_id bigint NOT NULL,
        created_at bigint NOT NULL,
        PRIMARY KEY (sender, idem)
      );
      CREATE INDEX idempotency_by_time ON idempotency (created_at);
      CREATE TABLE prekey_identity (
        perm_key_id bytea PRIMARY KEY,
        registration_id integer NOT NULL,
        device_id integer NOT NULL,
        identity_key bytea NOT NULL,
        signed_id integer NOT NULL,
        signed_pub bytea NOT NULL,
        signed_sig bytea NOT NULL,
        kyber_id integer NOT NULL,
        kyber_pub bytea NOT NULL,
        kyber_sig bytea NOT NULL,
        updated_at bigint NOT NULL
      );
      CREATE TABLE prekey_one_time (
        seq bigserial PRIMARY KEY,
        perm_key_id bytea NOT NULL,
        kind smallint NOT NULL,
        key_id integer NOT NULL,
        public_key bytea NOT NULL,
        signature bytea,
        UNIQUE (perm_key_id, kind, key_id)
      );
      CREATE INDEX prekey_one_time_by_owner ON prekey_one_time (perm_key_id, kind, seq);
      CREATE TABLE bindings (
        perm_key_id bytea PRIMARY KEY REFERENCES devices (perm_key_id),
        node text NOT NULL,
        binding_id bytea NOT NULL,
        seq bigint NOT NULL,
        bound_at bigint NOT NULL
      );
    `,
  },
  {
    // A send in one round trip instead of four. Each statement of a VOLATILE plpgsql function
    // takes a fresh snapshot, so what it reads after taking the recipient's row lock is current.
    version: 2,
    sql: `
      CREATE FUNCTION ephemera_enqueue(p_sender bytea, p_idem text, p_recipient bytea, p_sender_handle text,
                                       p_body bytea, p_now bigint, p_limit bigint,
                                       OUT queue_id bigint, OUT duplicate boolean)
      LANGUAGE plpgsql VOLATILE AS $fn$
      DECLARE
        v_node text;
        v_n bigint;
      BEGIN
        -- Sends to one recipient (and its binds) serialise here: its ids commit in id order,
        -- the queue limit is exact, and the node read below holds the binding at commit.
        SELECT d.queued INTO v_n FROM devices d WHERE d.perm_key_id = p_recipient FOR UPDATE;
        IF NOT FOUND THEN RAISE EXCEPTION 'recipient row vanished'; END IF;
        duplicate := true;
        SELECT i.queue_id INTO queue_id FROM idempotency i WHERE i.sender = p_sender AND i.idem = p_idem;
        IF FOUND THEN RETURN; END IF;
        duplicate := false;
        IF v_n >= p_limit THEN queue_id := NULL; RETURN; END IF;
        queue_id := nextval('queue_id_seq');
        INSERT INTO idempotency (sender, idem, queue_id, created_at) VALUES (p_sender, p_idem, queue_id, p_now)
          ON CONFLICT (sender, idem) DO NOTHING;
        IF NOT FOUND THEN
          -- The same key, sent at once to another recipient, won: this is its duplicate.
          duplicate := true;
          SELECT i.queue_id INTO queue_id FROM idempotency i WHERE i.sender = p_sender AND i.idem = p_idem;
          RETURN;
        END IF;
        INSERT INTO queue (id, recipient, sender_handle, body, created_at) VALUES (queue_id, p_recipient, p_sender_handle, p_body, p_now);
        UPDATE devices SET queued = queued + 1 WHERE perm_key_id = p_recipient;
        SELECT b.node INTO v_node FROM bindings b WHERE b.perm_key_id = p_recipient;
        IF v_node IS NOT NULL THEN
          PERFORM pg_notify('ephemera_node_' || v_node, 'q:' || encode(p_recipient, 'hex'));
        END IF;
      END
      $fn$;
    `,
  },
  {
    // Envelopes expire (docs/operations.md "Envelope expiry"): the queue keeps when, and the
    // enqueue function takes it. What was queued before gets the default lifetime from when it
    // was stored. The seven-argument function stays, calling the new one with that default, so
    // nodes not yet upgraded keep sending until they are restarted.
    version: 3,
    sql: `
      ALTER TABLE queue ADD COLUMN expires_at bigint;
      UPDATE queue SET expires_at = created_at + ${DEFAULT_ENVELOPE_TTL_MS};
      ALTER TABLE queue ALTER COLUMN expires_at SET NOT NULL;
      CREATE INDEX queue_by_expiry ON queue (expires_at);
      CREATE FUNCTION ephemera_enqueue(p_sender bytea, p_idem text, p_recipient bytea, p_sender_handle text,
                                       p_body bytea, p_now bigint, p_limit bigint, p_expires_at bigint,
                                       OUT queue_id bigint, OUT duplicate boolean)
      LANGUAGE plpgsql VOLATILE AS $fn$
      DECLARE
        v_node text;
        v_n bigint;
      BEGIN
        SELECT d.queued INTO v_n FROM devices d WHERE d.perm_key_id = p_recipient FOR UPDATE;
        IF NOT FOUND THEN RAISE EXCEPTION 'recipient row vanished'; END IF;
        duplicate := true;
        SELECT i.queue_id INTO queue_id FROM idempotency i WHERE i.sender = p_sender AND i.idem = p_idem;
        IF FOUND THEN RETURN; END IF;
        duplicate := false;
        IF v_n >= p_limit THEN queue_id := NULL; RETURN; END IF;
        queue_id := nextval('queue_id_seq');
        INSERT INTO idempotency (sender, idem, queue_id, created_at) VALUES (p_sender, p_idem, queue_id, p_now)
          ON CONFLICT (sender, idem) DO NOTHING;
        IF NOT FOUND THEN
          duplicate := true;
          SELECT i.queue_id INTO queue_id FROM idempotency i WHERE i.sender = p_sender AND i.idem = p_idem;
          RETURN;
        END IF;
        INSERT INTO queue (id, recipient, sender_handle, body, created_at, expires_at)
          VALUES (queue_id, p_recipient, p_sender_handle, p_body, p_now, p_expires_at);
        UPDATE devices SET queued = queued + 1 WHERE perm_key_id = p_recipient;
        SELECT b.node INTO v_node FROM bindings b WHERE b.perm_key_id = p_recipient;
        IF v_node IS NOT NULL THEN
          PERFORM pg_notify('ephemera_node_' || v_node, 'q:' || encode(p_recipient, 'hex'));
        END IF;
      END
      $fn$;
      CREATE OR REPLACE FUNCTION ephemera_enqueue(p_sender bytea, p_idem text, p_recipient bytea, p_sender_handle text,
                                                  p_body bytea, p_now bigint, p_limit bigint,
                                                  OUT queue_id bigint, OUT duplicate boolean)
      LANGUAGE sql VOLATILE AS $fn$
        SELECT e.queue_id, e.duplicate FROM ephemera_enqueue(p_sender, p_idem, p_recipient, p_sender_handle, p_body, p_now, p_limit,
                                                           p_now + ${DEFAULT_ENVELOPE_TTL_MS}) e
      $fn$;
    `,
  },
];

const NODE_ID = /^[a-z0-9_]{1,40}$/;
const HANDLE_CACHE_LIMIT = 100_000;

export function nodeChannel(node: string): string {
  if (!NODE_ID.test(node)) throw new PgStoreError('BAD_NODE_ID', 'a node id is 1-40 of a-z, 0-9, _');
  return `ephemera_node_${node}`;
}

/** Applies missing migrations; concurrent starters wait on the advisory lock, then find nothing to do. */
export async function migrate(pool: pg.Pool): Promise<number> {
  const c = await pool.connect();
  try {
    await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await c.query('CREATE TABLE IF NOT EXISTS ephemera_schema (version integer PRIMARY KEY, applied_at bigint NOT NULL)');
      const done = new Set((await c.query<{ version: number }>('SELECT version FROM ephemera_schema')).rows.map((r) => r.version));
      const known = Math.max(...MIGRATIONS.map((m) => m.version));
      const newest = Math.max(0, ...done);
      if (newest > known) throw new PgStoreError('SCHEMA_TOO_NEW', `the database schema is version ${newest}; this relay knows up to ${known}: upgrade this node`);
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await c.query('BEGIN');
        try {
          await c.query(m.sql);
          await c.query('INSERT INTO ephemera_schema (version, applied_at) VALUES ($1, $2)', [m.version, Date.now()]);
          await c.query('COMMIT');
        } catch (e) {
          await c.query('ROLLBACK');
          throw e;
        }
      }
      return known;
    } finally {
      await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    c.release();
  }
}

type Db = pg.PoolClient | pg.Pool;

interface DeviceRecord { perm_key_id: Buffer; perm_pub: Buffer; handle: string | null }

const num = (v: string | number): number => (typeof v === 'number' ? v : Number(v));

function toRow(r: DeviceRecord | undefined): DeviceRow | undefined {
  return r ? { permKeyId: r.perm_key_id, permPub: r.perm_pub, handle: r.handle } : undefined;
}

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
  private readonly byHandle = new Map<string, DeviceRow>();
  private readonly url: string;
  private readonly log: (event: Record<string, unknown>) => void;
  private listener: pg.Client | undefined;
  private closed = false;

  private constructor(o: PgStoreOptions) {
    this.url = o.url;
    this.log = o.log ?? (() => undefined);
    this.pool = new pg.Pool({ connectionString: o.url, max: o.maxConnections ?? 10 });
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

  private q<R extends pg.QueryResultRow>(db: Db, name: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    return db.query<R>({ name, text, values });
  }

  /** Runs `f` in a transaction on its own connection (outside a batch). */
  private async tx<T>(f: (c: pg.PoolClient) => Promise<T>): Promise<T> {
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

  /** The ops on one connection; `inTx` when that connection is inside a batch's transaction. */
  private ops(db: Db, inTx: boolean): StoreOps {
    const atomic = async <T>(f: (c: Db) => Promise<T>): Promise<T> => {
      if (!inTx) return this.tx(f);
      // Inside a batch a failing statement would abort the whole transaction: a savepoint
      // keeps a refused call (handle taken) from costing the batch.
      await db.query('SAVEPOINT op');
      try {
        const r = await f(db);
        await db.query('RELEASE SAVEPOINT op');
        return r;
      } catch (e) {
        await db.query('ROLLBACK TO SAVEPOINT op');
        throw e;
      }
    };
    const device = async (permKeyId: Buffer): Promise<DeviceRow | undefined> =>
      toRow((await this.q<DeviceRecord>(db, 'device', 'SELECT perm_key_id, perm_pub, handle FROM devices WHERE perm_key_id = $1', [permKeyId])).rows[0]);
    const deviceByHandle = async (handle: string): Promise<DeviceRow | undefined> => {
      const hit = this.byHandle.get(handle);
      if (hit) return hit;
      const row = toRow((await this.q<DeviceRecord>(db, 'device_by_handle', 'SELECT perm_key_id, perm_pub, handle FROM devices WHERE handle = $1', [handle])).rows[0]);
      // A handle, once set, never changes or goes away: cached rows stay true (on any node).
      // Inside a batch the row may still be rolled back, so only committed reads are cached.
      if (row && !inTx) {
        if (this.byHandle.size >= HANDLE_CACHE_LIMIT) this.byHandle.clear();
        this.byHandle.set(handle, row);
      }
      return row;
    };
    /**
     * Locks the device row. Sends to a device and binds of it serialise on this lock, so queue
     * ids of one recipient commit in id order (a pushing node's cursor never passes an id still
     * uncommitted), the queue limit is exact, and a send notifies the node that holds the
     * binding at its commit. What is read under the lock must be read by a later statement: a
     * statement that waited for the lock still answers from the snapshot it started with.
     */
    const lockDevice = async (c: Db, permKeyId: Buffer): Promise<boolean> =>
      (await this.q(c, 'lock_device', 'SELECT 1 FROM devices WHERE perm_key_id = $1 FOR UPDATE', [permKeyId])).rowCount === 1;

    return {
      device,
      deviceByHandle,
      insertDevice: async (permKeyId, permPub, now) => {
        await this.q(db, 'insert_device', 'INSERT INTO devices (perm_key_id, perm_pub, created_at) VALUES ($1, $2, $3) ON CONFLICT (perm_key_id) DO NOTHING', [permKeyId, permPub, now]);
        const row = await device(permKeyId);
        if (!row) throw new Error('device row vanished');
        return row;
      },
      register: (permKeyId, handle) => atomic(async (c) => {
        const me = (await this.q<{ handle: string | null }>(c, 'device_for_update', 'SELECT handle FROM devices WHERE perm_key_id = $1 FOR UPDATE', [permKeyId])).rows[0];
        if (!me) throw new RpcError('INTERNAL', 'unknown device');
        if (me.handle === handle) return;
        if (me.handle !== null) throw new RpcError('BAD_REQUEST', 'this device already has a handle');
        try {
          const r = await this.q(c, 'set_handle', 'UPDATE devices SET handle = $1 WHERE perm_key_id = $2 AND NOT EXISTS (SELECT 1 FROM devices WHERE handle = $1)', [handle, permKeyId]);
          if (r.rowCount === 0) throw new RpcError('HANDLE_TAKEN');
        } catch (e) {
          // Another node claimed it between the check and the write.
          if ((e as { code?: string }).code === '23505') throw new RpcError('HANDLE_TAKEN');
          throw e;
        }
      }),
      enqueue: async (sender, senderHandle, recipientHandle, idem, body, now, queueLimit, expiresAt) => {
        const recipient = await deviceByHandle(recipientHandle);
        if (!recipient) throw new RpcError('NOT_FOUND', 'no such handle');
        const run = async (c: Db): Promise<EnqueueResult> => {
          const r = (await this.q<{ queue_id: string | null; duplicate: boolean }>(c, 'enqueue_expiring',
            'SELECT queue_id, duplicate FROM ephemera_enqueue($1, $2, $3, $4, $5, $6, $7, $8)',
            [sender, idem, recipient.permKeyId, senderHandle, body, now, queueLimit, expiresAt ?? now + DEFAULT_ENVELOPE_TTL_MS])).rows[0]!;
          // A re-send of a stored envelope is answered as a duplicate, also when the queue is full.
          if (r.queue_id === null) throw new RpcError('QUEUE_FULL');
          // The id comes from a sequence: never reused, also after a rollback or a restart.
          return { id: num(r.queue_id), duplicate: r.duplicate, recipient: recipient.permKeyId };
        };
        // Every refusal above comes before the first write, so inside a batch no savepoint is needed.
        return inTx ? run(db) : this.tx(run);
      },
      pending: async (recipient, afterId, limit, now) => {
        // An expired envelope is never delivered, even before the purge has deleted it.
        const r = await this.q<{ id: string; sender_handle: string; body: Buffer; created_at: string }>(db, 'pending_unexpired',
          'SELECT id, sender_handle, body, created_at FROM queue WHERE recipient = $1 AND id > $2 AND expires_at > $4 ORDER BY id LIMIT $3', [recipient, afterId, limit, now ?? 0]);
        return r.rows.map((x): QueuedEnvelope => ({ id: num(x.id), from: x.sender_handle, body: x.body, sentAt: num(x.created_at) }));
      },
      withdraw: async (sender, recipientHandle, idem) => {
        const recipient = await deviceByHandle(recipientHandle);
        if (!recipient) return;
        // The idempotency record stays: a late re-send of the same key is a duplicate, not queued again.
        await this.q(db, 'withdraw',
          `WITH gone AS (DELETE FROM queue q USING idempotency i
                          WHERE i.sender = $1 AND i.idem = $2 AND q.id = i.queue_id AND q.recipient = $3 RETURNING q.recipient)
           UPDATE devices d SET queued = d.queued - 1 FROM gone WHERE d.perm_key_id = gone.recipient`,
          [sender, idem, recipient.permKeyId]);
      },
      ack: async (recipient, ids) => {
        if (ids.length === 0) return 0;
        // The count goes down with the rows, in the same statement (and transaction).
        const r = await this.q<{ n: string }>(db, 'ack',
          `WITH gone AS (DELETE FROM queue WHERE recipient = $1 AND id = ANY($2::bigint[]) RETURNING 1),
                n AS (SELECT count(*) AS n FROM gone)
           UPDATE devices SET queued = queued - n.n FROM n WHERE perm_key_id = $1 AND n.n > 0 RETURNING n.n`,
          [recipient, ids.map(String)]);
        return r.rows[0] ? num(r.rows[0].n) : 0;
      },

      identity: async (permKeyId) => {
        const r = (await this.q<IdentityRow>(db, 'prekey_identity',
          'SELECT registration_id, device_id, identity_key, signed_id, signed_pub, signed_sig, kyber_id, kyber_pub, kyber_sig FROM prekey_identity WHERE perm_key_id = $1', [permKeyId])).rows[0];
        return r ? identityFromRow(r) : undefined;
      },
      putIdentity: (permKeyId, id, now) => atomic(async (c) => {
        const old = (await this.q<{ identity_key: Buffer }>(c, 'prekey_identity_lock', 'SELECT identity_key FROM prekey_identity WHERE perm_key_id = $1 FOR UPDATE', [permKeyId])).rows[0];
        // A different identity key is a re-registration: the old one-time keys belonged to the old identity.
        const reRegistered = old !== undefined && !old.identity_key.equals(id.identityKey);
        if (reRegistered) await this.q(c, 'prekey_delete_one_time', 'DELETE FROM prekey_one_time WHERE perm_key_id = $1', [permKeyId]);
        await this.q(c, 'prekey_upsert_identity',
          `INSERT INTO prekey_identity (perm_key_id, registration_id, device_id, identity_key, signed_id, signed_pub, signed_sig, kyber_id, kyber_pub, kyber_sig, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (perm_key_id) DO UPDATE SET registration_id = excluded.registration_id, device_id = excluded.device_id,
             identity_key = excluded.identity_key, signed_id = excluded.signed_id, signed_pub = excluded.signed_pub,
             signed_sig = excluded.signed_sig, kyber_id = excluded.kyber_id, kyber_pub = excluded.kyber_pub,
             kyber_sig = excluded.kyber_sig, updated_at = excluded.updated_at`,
          [permKeyId, id.registrationId, id.deviceId, id.identityKey, id.signedPreKey.id, id.signedPreKey.publicKey, id.signedPreKey.signature,
            id.kyberLastResort.id, id.kyberLastResort.publicKey, id.kyberLastResort.signature, now]);
        return { reRegistered };
      }),
      addOneTime: (permKeyId, preKeys, kyberPreKeys) => atomic(async (c) => {
        // Uploads of one device serialise on its row, so the per-kind cap holds across nodes.
        await lockDevice(c, permKeyId);
        const add = async (kind: 0 | 1, keys: readonly OneTimeKey[]): Promise<number> => {
          const have = (await this.q<{ n: string }>(c, 'prekey_count', 'SELECT count(*) AS n FROM prekey_one_time WHERE perm_key_id = $1 AND kind = $2', [permKeyId, kind])).rows[0]!;
          let room = MAX_ONE_TIME_KEYS - num(have.n);
          let added = 0;
          for (const k of keys) {
            if (room <= 0) break;
            const r = await this.q(c, 'prekey_insert_one_time',
              'INSERT INTO prekey_one_time (perm_key_id, kind, key_id, public_key, signature) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (perm_key_id, kind, key_id) DO NOTHING',
              [permKeyId, kind, k.id, k.publicKey, k.signature ?? null]);
            added += r.rowCount ?? 0;
            room -= r.rowCount ?? 0;
          }
          return added;
        };
        return { preKeys: await add(0, preKeys), kyberPreKeys: await add(1, kyberPreKeys) };
      }),
      preKeyCounts: async (permKeyId) => {
        const r = (await this.q<{ a: string; b: string }>(db, 'prekey_counts',
          'SELECT count(*) FILTER (WHERE kind = 0) AS a, count(*) FILTER (WHERE kind = 1) AS b FROM prekey_one_time WHERE perm_key_id = $1', [permKeyId])).rows[0]!;
        return { preKeys: num(r.a), kyberPreKeys: num(r.b) };
      },
      takeOneTime: (permKeyId) => atomic(async (c) => {
        // SKIP LOCKED: two nodes taking keys of one device at once get different keys, never the same.
        const take = async (kind: 0 | 1): Promise<OneTimeKey | undefined> => {
          const r = (await this.q<{ key_id: number; public_key: Buffer; signature: Buffer | null }>(c, 'prekey_take',
            `DELETE FROM prekey_one_time WHERE seq = (
               SELECT seq FROM prekey_one_time WHERE perm_key_id = $1 AND kind = $2 ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING key_id, public_key, signature`, [permKeyId, kind])).rows[0];
          if (!r) return undefined;
          return r.signature ? { id: r.key_id, publicKey: r.public_key, signature: r.signature } : { id: r.key_id, publicKey: r.public_key };
        };
        return { preKey: await take(0), kyberPreKey: await take(1) };
      }),

      bind: (permKeyId, node, bindingId, now) => atomic(async (c): Promise<BindResult> => {
        nodeChannel(node);
        if (!(await lockDevice(c, permKeyId))) throw new RpcError('INTERNAL', 'unknown device');
        const old = (await this.q<{ node: string; binding_id: Buffer; seq: string }>(c, 'binding', 'SELECT node, binding_id, seq FROM bindings WHERE perm_key_id = $1', [permKeyId])).rows[0];
        const previous: Binding | undefined = old ? { node: old.node, bindingId: old.binding_id, seq: num(old.seq) } : undefined;
        const seq = (previous?.seq ?? 0) + 1;
        await this.q(c, 'bind_upsert',
          `INSERT INTO bindings (perm_key_id, node, binding_id, seq, bound_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (perm_key_id) DO UPDATE SET node = excluded.node, binding_id = excluded.binding_id, seq = excluded.seq, bound_at = excluded.bound_at`,
          [permKeyId, node, bindingId, seq, now]);
        if (previous && !(previous.node === node && previous.bindingId.equals(bindingId))) {
          await this.notify(c, previous.node, `u:${permKeyId.toString('hex')}:${previous.bindingId.toString('hex')}`);
        }
        return { current: { node, bindingId: Buffer.from(bindingId), seq }, previous };
      }),
      currentBinding: async (permKeyId) => {
        const r = (await this.q<{ node: string; binding_id: Buffer; seq: string }>(db, 'binding', 'SELECT node, binding_id, seq FROM bindings WHERE perm_key_id = $1', [permKeyId])).rows[0];
        return r ? { node: r.node, bindingId: r.binding_id, seq: num(r.seq) } : undefined;
      },
      unbind: async (permKeyId, node, bindingId) => {
        const r = await this.q(db, 'unbind', 'DELETE FROM bindings WHERE perm_key_id = $1 AND node = $2 AND binding_id = $3', [permKeyId, node, bindingId]);
        return (r.rowCount ?? 0) > 0;
      },
    };
  }

  /** NOTIFY inside the caller's transaction: delivered at commit, dropped with a rollback. */
  private async notify(c: Db, node: string, payload: string): Promise<void> {
    await this.q(c, 'notify', 'SELECT pg_notify($1, $2)', [nodeChannel(node), payload]);
  }

  batch<T>(fn: (ops: StoreOps) => Promise<T>): Promise<T> {
    return this.serial.add(() => this.tx((c) => fn(this.ops(c, true))));
  }

  /** The ops outside a batch (each its own transaction), made once. */
  private topOps: StoreOps | undefined;
  private get top(): StoreOps {
    this.topOps ??= this.ops(this.pool, false);
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

  /**
   * LISTENs on the node's channel on a connection of its own. When that connection is lost
   * (PostgreSQL restarted) it reconnects with backoff and reports 'resync': notifications sent
   * meanwhile are gone, so the node must re-read its devices' bindings and queues.
   */
  async listen(node: string, onEvent: (e: ClusterEvent) => void): Promise<void> {
    const channel = nodeChannel(node);
    // One node per store object: its events go to one place.
    if (this.listener) throw new Error('this store already listens');
    let delay = 100;
    const connect = async (): Promise<void> => {
      const c = new pg.Client({ connectionString: this.url });
      c.on('notification', (m) => {
        const e = parseEvent(m.payload ?? '');
        if (e) onEvent(e);
      });
      const lost = (err?: Error): void => {
        if (this.listener !== c) return;
        this.listener = undefined;
        this.log({ event: 'pg-listener-lost', error: err?.message ?? 'ended' });
        c.removeAllListeners('end');
        void c.end().catch(() => undefined);
        if (this.closed) return;
        const retry = (): void => {
          if (this.closed) return;
          connect().then(() => {
            delay = 100;
            onEvent({ kind: 'resync' });
          }, () => {
            delay = Math.min(delay * 2, 5000);
            setTimeout(retry, delay * (0.5 + Math.random() / 2));
          });
        };
        setTimeout(retry, delay);
      };
      c.on('error', lost);
      c.on('end', () => lost());
      this.listener = c;
      try {
        await c.connect();
        await c.query(`LISTEN ${channel}`);
      } catch (e) {
        this.listener = undefined;
        c.removeAllListeners('end');
        c.removeAllListeners('error');
        c.on('error', () => undefined);
        await c.end().catch(() => undefined);
        throw e;
      }
    };
    await connect();
  }

  async pruneIdempotency(now: number): Promise<void> {
    await this.q(this.pool, 'prune_idem', 'DELETE FROM idempotency WHERE created_at < $1', [now - IDEMPOTENCY_RETENTION_MS]);
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
        const lock = await this.q<{ ok: boolean }>(c, 'purge_lock', 'SELECT pg_try_advisory_xact_lock($1) AS ok', [PURGE_LOCK]);
        if (!lock.rows[0]?.ok) return 0;
        const r = await this.q<{ n: string }>(c, 'purge_expired',
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
    this.closed = true;
    await this.serial.onIdle();
    const l = this.listener;
    this.listener = undefined;
    if (l) await l.end().catch(() => undefined);
    await this.pool.end();
  }
}

function parseEvent(p: string): ClusterEvent | undefined {
  const m = /^(?:q:([0-9a-f]{2,128})|u:([0-9a-f]{2,128}):([0-9a-f]{2,128}))$/.exec(p);
  if (!m) return undefined;
  if (m[1] !== undefined) return { kind: 'queued', device: Buffer.from(m[1], 'hex') };
  return { kind: 'unbind', device: Buffer.from(m[2]!, 'hex'), bindingId: Buffer.from(m[3]!, 'hex') };
}
