// The relay store's operations in PostgreSQL (StoreOps of relay/store-backend.ts) on one
// connection: the pool (each call its own transaction) or a batch's connection (inside its
// transaction, with a savepoint around calls that may be refused).
import type pg from 'pg';
import { RpcError } from '../shared/protocol/errors.ts';
import { identityFromRow, MAX_ONE_TIME_KEYS, type IdentityRow, type OneTimeKey } from './key-store.ts';
import { nodeChannel } from './pg-schema.ts';
import type { BindResult, Binding, StoreOps } from './store-backend.ts';
import { DEFAULT_ENVELOPE_TTL_MS, type DeviceRow, type EnqueueResult, type QueuedEnvelope } from './store.ts';

const HANDLE_CACHE_LIMIT = 100_000;

export type Db = pg.PoolClient | pg.Pool;

interface DeviceRecord { perm_key_id: Buffer; perm_pub: Buffer; handle: string | null }

export const num = (v: string | number): number => (typeof v === 'number' ? v : Number(v));

function toRow(r: DeviceRecord | undefined): DeviceRow | undefined {
  return r ? { permKeyId: r.perm_key_id, permPub: r.perm_pub, handle: r.handle } : undefined;
}

/** A named query: prepared once per connection. */
export function query<R extends pg.QueryResultRow>(db: Db, name: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
  return db.query<R>({ name, text, values });
}

/** What the ops need from the store that makes them. */
export interface OpsHost {
  /** Runs `f` in a transaction on its own connection (outside a batch). */
  tx<T>(f: (c: pg.PoolClient) => Promise<T>): Promise<T>;
  /** Device rows by handle, committed reads only (a handle once set never changes). */
  byHandle: Map<string, DeviceRow>;
}

/** The ops on one connection; `inTx` when that connection is inside a batch's transaction. */
export function pgOps(db: Db, inTx: boolean, host: OpsHost): StoreOps {
  const atomic = async <T>(f: (c: Db) => Promise<T>): Promise<T> => {
    if (!inTx) return host.tx(f);
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
    toRow((await query<DeviceRecord>(db, 'device', 'SELECT perm_key_id, perm_pub, handle FROM devices WHERE perm_key_id = $1', [permKeyId])).rows[0]);
  const deviceByHandle = async (handle: string): Promise<DeviceRow | undefined> => {
    const hit = host.byHandle.get(handle);
    if (hit) return hit;
    const row = toRow((await query<DeviceRecord>(db, 'device_by_handle', 'SELECT perm_key_id, perm_pub, handle FROM devices WHERE handle = $1', [handle])).rows[0]);
    // A handle, once set, never changes or goes away: cached rows stay true (on any node).
    // Inside a batch the row may still be rolled back, so only committed reads are cached.
    if (row && !inTx) {
      if (host.byHandle.size >= HANDLE_CACHE_LIMIT) host.byHandle.clear();
      host.byHandle.set(handle, row);
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
    (await query(c, 'lock_device', 'SELECT 1 FROM devices WHERE perm_key_id = $1 FOR UPDATE', [permKeyId])).rowCount === 1;

  return {
    device,
    deviceByHandle,
    insertDevice: async (permKeyId, permPub, now) => {
      await query(db, 'insert_device', 'INSERT INTO devices (perm_key_id, perm_pub, created_at) VALUES ($1, $2, $3) ON CONFLICT (perm_key_id) DO NOTHING', [permKeyId, permPub, now]);
      const row = await device(permKeyId);
      if (!row) throw new Error('device row vanished');
      return row;
    },
    register: (permKeyId, handle) => atomic(async (c) => {
      const me = (await query<{ handle: string | null }>(c, 'device_for_update', 'SELECT handle FROM devices WHERE perm_key_id = $1 FOR UPDATE', [permKeyId])).rows[0];
      if (!me) throw new RpcError('INTERNAL', 'unknown device');
      if (me.handle === handle) return;
      if (me.handle !== null) throw new RpcError('BAD_REQUEST', 'this device already has a handle');
      try {
        const r = await query(c, 'set_handle', 'UPDATE devices SET handle = $1 WHERE perm_key_id = $2 AND NOT EXISTS (SELECT 1 FROM devices WHERE handle = $1)', [handle, permKeyId]);
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
        const r = (await query<{ queue_id: string | null; duplicate: boolean }>(c, 'enqueue_expiring',
          'SELECT queue_id, duplicate FROM ephemera_enqueue($1, $2, $3, $4, $5, $6, $7, $8)',
          [sender, idem, recipient.permKeyId, senderHandle, body, now, queueLimit, expiresAt ?? now + DEFAULT_ENVELOPE_TTL_MS])).rows[0]!;
        // A re-send of a stored envelope is answered as a duplicate, also when the queue is full.
        if (r.queue_id === null) throw new RpcError('QUEUE_FULL');
        // The id comes from a sequence: never reused, also after a rollback or a restart.
        return { id: num(r.queue_id), duplicate: r.duplicate, recipient: recipient.permKeyId };
      };
      // Every refusal above comes before the first write, so inside a batch no savepoint is needed.
      return inTx ? run(db) : host.tx(run);
    },
    pending: async (recipient, afterId, limit, now) => {
      // An expired envelope is never delivered, even before the purge has deleted it.
      const r = await query<{ id: string; sender_handle: string; body: Buffer; created_at: string }>(db, 'pending_unexpired',
        'SELECT id, sender_handle, body, created_at FROM queue WHERE recipient = $1 AND id > $2 AND expires_at > $4 ORDER BY id LIMIT $3', [recipient, afterId, limit, now ?? 0]);
      return r.rows.map((x): QueuedEnvelope => ({ id: num(x.id), from: x.sender_handle, body: x.body, sentAt: num(x.created_at) }));
    },
    withdraw: async (sender, recipientHandle, idem) => {
      const recipient = await deviceByHandle(recipientHandle);
      if (!recipient) return;
      // The idempotency record stays: a late re-send of the same key is a duplicate, not queued again.
      await query(db, 'withdraw',
        `WITH gone AS (DELETE FROM queue q USING idempotency i
                        WHERE i.sender = $1 AND i.idem = $2 AND q.id = i.queue_id AND q.recipient = $3 RETURNING q.recipient)
         UPDATE devices d SET queued = d.queued - 1 FROM gone WHERE d.perm_key_id = gone.recipient`,
        [sender, idem, recipient.permKeyId]);
    },
    ack: async (recipient, ids) => {
      if (ids.length === 0) return 0;
      // The count goes down with the rows, in the same statement (and transaction).
      const r = await query<{ n: string }>(db, 'ack',
        `WITH gone AS (DELETE FROM queue WHERE recipient = $1 AND id = ANY($2::bigint[]) RETURNING 1),
              n AS (SELECT count(*) AS n FROM gone)
         UPDATE devices SET queued = queued - n.n FROM n WHERE perm_key_id = $1 AND n.n > 0 RETURNING n.n`,
        [recipient, ids.map(String)]);
      return r.rows[0] ? num(r.rows[0].n) : 0;
    },

    identity: async (permKeyId) => {
      const r = (await query<IdentityRow>(db, 'prekey_identity',
        'SELECT registration_id, device_id, identity_key, signed_id, signed_pub, signed_sig, kyber_id, kyber_pub, kyber_sig FROM prekey_identity WHERE perm_key_id = $1', [permKeyId])).rows[0];
      return r ? identityFromRow(r) : undefined;
    },
    putIdentity: (permKeyId, id, now) => atomic(async (c) => {
      const old = (await query<{ identity_key: Buffer }>(c, 'prekey_identity_lock', 'SELECT identity_key FROM prekey_identity WHERE perm_key_id = $1 FOR UPDATE', [permKeyId])).rows[0];
      // A different identity key is a re-registration: the old one-time keys belonged to the old identity.
      const reRegistered = old !== undefined && !old.identity_key.equals(id.identityKey);
      if (reRegistered) await query(c, 'prekey_delete_one_time', 'DELETE FROM prekey_one_time WHERE perm_key_id = $1', [permKeyId]);
      await query(c, 'prekey_upsert_identity',
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
        const have = (await query<{ n: string }>(c, 'prekey_count', 'SELECT count(*) AS n FROM prekey_one_time WHERE perm_key_id = $1 AND kind = $2', [permKeyId, kind])).rows[0]!;
        let room = MAX_ONE_TIME_KEYS - num(have.n);
        let added = 0;
        for (const k of keys) {
          if (room <= 0) break;
          const r = await query(c, 'prekey_insert_one_time',
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
      const r = (await query<{ a: string; b: string }>(db, 'prekey_counts',
        'SELECT count(*) FILTER (WHERE kind = 0) AS a, count(*) FILTER (WHERE kind = 1) AS b FROM prekey_one_time WHERE perm_key_id = $1', [permKeyId])).rows[0]!;
      return { preKeys: num(r.a), kyberPreKeys: num(r.b) };
    },
    takeOneTime: (permKeyId) => atomic(async (c) => {
      // SKIP LOCKED: two nodes taking keys of one device at once get different keys, never the same.
      const take = async (kind: 0 | 1): Promise<OneTimeKey | undefined> => {
        const r = (await query<{ key_id: number; public_key: Buffer; signature: Buffer | null }>(c, 'prekey_take',
          `DELETE FROM prekey_one_time WHERE seq = (
             SELECT seq FROM prekey_one_time WHERE perm_key_id = $1 AND kind = $2 ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING key_id, public_key, signature`, [permKeyId, kind])).rows[0];
        if (!r) return undefined;
        return r.signature ? { id: r.key_id, publicKey: r.public_key, signature: r.signature } : { id: r.key_id, publicKey: r.public_key };
      };
      return { preKey: await take(0), kyberPreKey: await take(1) };
    }),

    bind: async (permKeyId, node, bindingId, now) => {
      nodeChannel(node);
      // One statement (migration 6); inside a batch under a savepoint like every refusable call.
      const run = async (c: Db): Promise<BindResult> => {
        const r = (await query<{ known: boolean; seq: string | null; prev_node: string | null; prev_binding_id: Buffer | null; prev_seq: string | null }>(c, 'bind_one',
          'SELECT known, seq, prev_node, prev_binding_id, prev_seq FROM ephemera_bind($1, $2, $3, $4)', [permKeyId, node, bindingId, now])).rows[0];
        if (!r?.known || r.seq === null) throw new RpcError('INTERNAL', 'unknown device');
        const previous: Binding | undefined = r.prev_node !== null && r.prev_binding_id !== null && r.prev_seq !== null
          ? { node: r.prev_node, bindingId: r.prev_binding_id, seq: num(r.prev_seq) } : undefined;
        return { current: { node, bindingId: Buffer.from(bindingId), seq: num(r.seq) }, previous };
      };
      return inTx ? atomic(run) : run(db);
    },
    currentBinding: async (permKeyId) => {
      const r = (await query<{ node: string; binding_id: Buffer; seq: string }>(db, 'binding', 'SELECT node, binding_id, seq FROM bindings WHERE perm_key_id = $1', [permKeyId])).rows[0];
      return r ? { node: r.node, bindingId: r.binding_id, seq: num(r.seq) } : undefined;
    },
    unbind: async (permKeyId, node, bindingId) => {
      const r = await query(db, 'unbind', 'DELETE FROM bindings WHERE perm_key_id = $1 AND node = $2 AND binding_id = $3', [permKeyId, node, bindingId]);
      return (r.rowCount ?? 0) > 0;
    },
  };
}
