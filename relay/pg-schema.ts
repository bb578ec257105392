// The cluster's PostgreSQL schema: versioned migrations, applied by whichever node starts first
// under an advisory lock (the others wait, then find nothing to do), and the per-node NOTIFY
// channel names.
import type pg from 'pg';
import { CodedError } from '../shared/errors.ts';
import { DEFAULT_ENVELOPE_TTL_MS } from './store.ts';

export type PgStoreErrorCode = 'BAD_NODE_ID' | 'SCHEMA_TOO_NEW' | 'DATABASE_UNAVAILABLE';

export class PgStoreError extends CodedError<PgStoreErrorCode> {}

/** pg_advisory_lock key held while migrating ("EPHE"). */
const MIGRATION_LOCK = 0x45504845;

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
  {
    // Group commit (relay/pg-group-commit.ts): the sends and acks that arrive together, each
    // kind in one statement (one round trip, one transaction), with one notification per node
    // and batch naming every recipient of that node that got an envelope ('q:' then ids in hex,
    // comma separated, 200 at most per notification). Every recipient row is locked first, in
    // key order, so batches of different nodes never deadlock on each other.
    version: 4,
    sql: `
      CREATE FUNCTION ephemera_enqueue_many(p_sender bytea[], p_idem text[], p_recipient bytea[], p_sender_handle text[],
                                            p_body bytea[], p_now bigint[], p_limit bigint[], p_expires_at bigint[],
                                            OUT ord integer, OUT queue_id bigint, OUT duplicate boolean)
      RETURNS SETOF record LANGUAGE plpgsql VOLATILE AS $fn$
      DECLARE
        v_n bigint;
        v_woken bytea[] := '{}';
        v_note record;
      BEGIN
        PERFORM 1 FROM devices d WHERE d.perm_key_id = ANY(p_recipient) ORDER BY d.perm_key_id FOR UPDATE;
        FOR i IN 1 .. coalesce(array_length(p_sender, 1), 0) LOOP
          ord := i;
          duplicate := true;
          SELECT x.queue_id INTO queue_id FROM idempotency x WHERE x.sender = p_sender[i] AND x.idem = p_idem[i];
          IF FOUND THEN RETURN NEXT; CONTINUE; END IF;
          duplicate := false;
          SELECT d.queued INTO v_n FROM devices d WHERE d.perm_key_id = p_recipient[i];
          IF NOT FOUND THEN RAISE EXCEPTION 'recipient row vanished'; END IF;
          IF v_n >= p_limit[i] THEN queue_id := NULL; RETURN NEXT; CONTINUE; END IF;
          queue_id := nextval('queue_id_seq');
          INSERT INTO idempotency (sender, idem, queue_id, created_at) VALUES (p_sender[i], p_idem[i], queue_id, p_now[i])
            ON CONFLICT (sender, idem) DO NOTHING;
          IF NOT FOUND THEN
            duplicate := true;
            SELECT x.queue_id INTO queue_id FROM idempotency x WHERE x.sender = p_sender[i] AND x.idem = p_idem[i];
            RETURN NEXT; CONTINUE;
          END IF;
          INSERT INTO queue (id, recipient, sender_handle, body, created_at, expires_at)
            VALUES (queue_id, p_recipient[i], p_sender_handle[i], p_body[i], p_now[i], p_expires_at[i]);
          UPDATE devices SET queued = queued + 1 WHERE perm_key_id = p_recipient[i];
          v_woken := v_woken || p_recipient[i];
          RETURN NEXT;
        END LOOP;
        FOR v_note IN
          SELECT w.node, string_agg(encode(w.perm_key_id, 'hex'), ',') AS ids
            FROM (SELECT b.node, b.perm_key_id, (row_number() OVER (PARTITION BY b.node ORDER BY b.perm_key_id) - 1) / 200 AS chunk
                    FROM bindings b WHERE b.perm_key_id IN (SELECT DISTINCT unnest(v_woken))) w
           GROUP BY w.node, w.chunk
        LOOP
          PERFORM pg_notify('ephemera_node_' || v_note.node, 'q:' || v_note.ids);
        END LOOP;
      END
      $fn$;
      CREATE FUNCTION ephemera_ack_many(p_recipient bytea[], p_id bigint[])
      RETURNS TABLE (recipient bytea, id bigint) LANGUAGE plpgsql VOLATILE AS $fn$
      BEGIN
        PERFORM 1 FROM devices d WHERE d.perm_key_id = ANY(p_recipient) ORDER BY d.perm_key_id FOR UPDATE;
        RETURN QUERY
          WITH gone AS (DELETE FROM queue q USING unnest(p_recipient, p_id) AS a(r, i)
                         WHERE q.recipient = a.r AND q.id = a.i RETURNING q.recipient, q.id),
               per AS (SELECT g.recipient, count(*) AS n FROM gone g GROUP BY g.recipient),
               upd AS (UPDATE devices d SET queued = d.queued - per.n FROM per WHERE d.perm_key_id = per.recipient RETURNING 1)
          SELECT g.recipient, g.id FROM gone g;
      END
      $fn$;
    `,
  },
  {
    // Attachment blobs (relay/blobs-pg.ts): the sealed bytes as one bytea row per put, beside
    // the blob's size, acknowledged length, owner, expiry and named recipients. EXTERNAL: TOAST
    // keeps the chunks out of line without trying to compress ciphertext.
    version: 5,
    sql: `
      CREATE TABLE blobs (
        id bytea PRIMARY KEY,
        owner bytea NOT NULL,
        size bigint NOT NULL,
        length bigint NOT NULL,
        expires_at bigint NOT NULL
      );
      CREATE INDEX blobs_by_owner ON blobs (owner);
      CREATE INDEX blobs_by_expiry ON blobs (expires_at);
      CREATE TABLE blob_recipients (
        blob_id bytea NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
        recipient bytea NOT NULL,
        PRIMARY KEY (blob_id, recipient)
      );
      CREATE TABLE blob_chunks (
        blob_id bytea NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
        off bigint NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (blob_id, off)
      );
      ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
    `,
  },
  {
    // A bind in one statement (one round trip instead of a transaction of five): the device row
    // locked, the previous binding read after the lock (a volatile function's statements each
    // see what committed before them), replaced, and its node told to forget its key at commit.
    // After a node dies its clients all re-bind at once; this keeps the pool free for them.
    // Nothing else changes: nodes of version 5 keep binding with their statements.
    version: 6,
    sql: `
      CREATE FUNCTION ephemera_bind(p_perm_key_id bytea, p_node text, p_binding_id bytea, p_now bigint,
                                    OUT known boolean, OUT seq bigint,
                                    OUT prev_node text, OUT prev_binding_id bytea, OUT prev_seq bigint)
      LANGUAGE plpgsql VOLATILE AS $fn$
      BEGIN
        PERFORM 1 FROM devices d WHERE d.perm_key_id = p_perm_key_id FOR UPDATE;
        known := FOUND;
        IF NOT known THEN RETURN; END IF;
        SELECT b.node, b.binding_id, b.seq INTO prev_node, prev_binding_id, prev_seq FROM bindings b WHERE b.perm_key_id = p_perm_key_id;
        seq := coalesce(prev_seq, 0) + 1;
        INSERT INTO bindings (perm_key_id, node, binding_id, seq, bound_at) VALUES (p_perm_key_id, p_node, p_binding_id, seq, p_now)
          ON CONFLICT (perm_key_id) DO UPDATE SET node = excluded.node, binding_id = excluded.binding_id, seq = excluded.seq, bound_at = excluded.bound_at;
        IF prev_node IS NOT NULL AND NOT (prev_node = p_node AND prev_binding_id = p_binding_id) THEN
          PERFORM pg_notify('ephemera_node_' || prev_node, 'u:' || encode(p_perm_key_id, 'hex') || ':' || encode(prev_binding_id, 'hex'));
        END IF;
      END
      $fn$;
    `,
  },
  {
    // The recipients a blob still names, counted against its uploader's quota (relay/blobs.ts
    // BLOB_RECIPIENT_CHARGE_BYTES), so the quota bounds blob_recipients rows too. Existing blobs
    // are charged for the recipients they still name. A node of version 6 still running inserts 0
    // (its blobs are charged as before until they go).
    version: 7,
    sql: `
      ALTER TABLE blobs ADD COLUMN recipients integer NOT NULL DEFAULT 0;
      UPDATE blobs SET recipients = (SELECT count(*) FROM blob_recipients r WHERE r.blob_id = blobs.id);
    `,
  },
];

const NODE_ID = /^[a-z0-9_]{1,40}$/;

/** The NOTIFY channel of a node (its id is checked: it becomes part of a LISTEN statement). */
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
