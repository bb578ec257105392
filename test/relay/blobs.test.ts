// Attachment blobs at the relay (relay/blobs.ts, docs/protocol.md §9a): only the uploader and
// the recipients it named can read; puts continue at the acknowledged length (a re-sent chunk
// is not written twice); limits, quota and TTL hold; the bytes are files in DIR/blobs (a
// cluster node: rows in PostgreSQL, relay/blobs-pg.ts), deleted once every recipient is done or
// the blob expired. The same suite runs against both backends (PostgreSQL: pg-harness.ts).
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { RpcError } from '../../shared/protocol/errors.ts';
import { MAX_BLOB_CHUNK_BYTES, MAX_BLOB_RECIPIENTS } from '../../shared/protocol/methods.ts';
import { streamLayout } from '../../shared/protocol/stream.ts';
import type { RelayOptions, RunningRelay } from '../../relay/relay.ts';
import { blobChargeOf, blobFits, blobLimitsOf, readBlobLimits } from '../../main/net/blob-limits.ts';
import { PermanentKey } from '../../main/net/permanent-key.ts';
import { MemoryPermanentKeyStore } from '../../main/net/stores.ts';
import { inProcessRelay, makeClient, tempDir, type TestClient } from '../net/harness.ts';
import { PgBlobStore } from '../../relay/blobs-pg.ts';
import { BLOB_RECIPIENT_CHARGE_BYTES, BlobStore, MIN_BLOB_CHARGE_BYTES } from '../../relay/blobs.ts';
import { RawSession } from './raw-session.ts';
import { startPostgres, type TestPostgres } from './pg-harness.ts';

const dirs: { cleanup: () => void }[] = [];
const relays: RunningRelay[] = [];
const clients: TestClient[] = [];

let pgServer: TestPostgres | undefined;
afterAll(async () => {
  for (const c of clients) await c.client.stop();
  for (const r of relays) await r.close();
  for (const d of dirs) d.cleanup();
  await pgServer?.stop();
});

/** Where a test's relay keeps its blobs, and how the test looks at them behind the relay's back. */
interface Store {
  /** Relay options naming the store (PostgreSQL: a fresh database per test; restarts reuse it). */
  options: Partial<RelayOptions>;
  /** Hex ids of the blobs stored (a record or bytes), sorted. */
  stored(dir: string): Promise<string[]>;
  /** The stored bytes of one blob. */
  bytes(dir: string, idHex: string): Promise<Buffer>;
  /** Removes a blob's bytes (not its record), as a disk fault or an operator would. */
  lose(dir: string, idHex: string): Promise<void>;
  /** Registers devices with these handles behind the relay's back (a thousand clients would be slow). */
  addHandles(dir: string, handles: readonly string[]): Promise<void>;
  /** blob_recipients rows stored. */
  recipientRows(dir: string): Promise<number>;
}

/** relay.db beside the relay's own connection (WAL), for what the SQLite store keeps. */
function withRelayDb<T>(dir: string, f: (db: Database.Database) => T): T {
  const db = new Database(join(dir, 'relay.db'));
  try {
    db.pragma('busy_timeout = 5000');
    return f(db);
  } finally {
    db.close();
  }
}

async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(text, values)).rows;
  } finally {
    await c.end();
  }
}

const backends: { name: string; open(): Promise<Store> }[] = [
  {
    name: 'SQLite',
    async open() {
      return {
        options: {},
        // A blob's record or its file counts as stored (a blob gets its file from its first put).
        stored: async (dir) => [...new Set([...blobFiles(dir), ...(existsSync(join(dir, 'relay.db'))
          ? withRelayDb(dir, (db) => (db.prepare('SELECT lower(hex(id)) AS id FROM blobs').all() as { id: string }[]).map((r) => r.id))
          : [])])].sort(),
        bytes: async (dir, idHex) => readFileSync(join(dir, 'blobs', idHex)),
        lose: async (dir, idHex) => unlinkSync(join(dir, 'blobs', idHex)),
        addHandles: async (dir, handles) => withRelayDb(dir, (db) => {
          const insert = db.prepare('INSERT INTO devices (perm_key_id, perm_pub, handle, created_at) VALUES (?, ?, ?, ?)');
          db.transaction(() => {
            for (const h of handles) insert.run(randomBytes(8), randomBytes(32), h, Date.now());
          })();
        }),
        recipientRows: async (dir) => withRelayDb(dir, (db) => (db.prepare('SELECT COUNT(*) AS n FROM blob_recipients').get() as { n: number }).n),
      };
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      pgServer ??= await startPostgres();
      const url = await pgServer.createDatabase();
      return {
        options: { database: url },
        // A blob's record or any of its chunks counts as stored.
        stored: async () => (await sql<{ id: string }>(url, `SELECT encode(id, 'hex') AS id FROM blobs
                                                               UNION SELECT encode(blob_id, 'hex') FROM blob_chunks ORDER BY 1`)).map((r) => r.id),
        bytes: async (_dir, idHex) => Buffer.concat((await sql<{ data: Buffer }>(url, 'SELECT data FROM blob_chunks WHERE blob_id = $1 ORDER BY off', [Buffer.from(idHex, 'hex')])).map((r) => r.data)),
        lose: async (_dir, idHex) => void await sql(url, 'DELETE FROM blob_chunks WHERE blob_id = $1', [Buffer.from(idHex, 'hex')]),
        addHandles: async (_dir, handles) => void await sql(url, `INSERT INTO devices (perm_key_id, perm_pub, handle, created_at)
                                                                    SELECT substring(sha256(convert_to(h, 'UTF8')) from 1 for 8), sha256(convert_to(h, 'UTF8')), h, $2
                                                                      FROM unnest($1::text[]) AS h`, [handles, Date.now()]),
        recipientRows: async () => Number((await sql<{ n: string }>(url, 'SELECT count(*) AS n FROM blob_recipients'))[0]?.n),
      };
    },
  },
];

let store: Store;

async function relayIn(dir: string, o: Partial<RelayOptions> = {}): Promise<RunningRelay> {
  const r = await inProcessRelay(dir, { ...store.options, ...o });
  relays.push(r);
  // PostgreSQL: what expired while no node ran is swept at start, in the background; wait for it.
  if (r.core.blobs instanceof PgBlobStore) await r.core.blobs.started;
  return r;
}

async function user(relay: RunningRelay, handle: string, permanentKey?: PermanentKey): Promise<TestClient> {
  const c = await makeClient(relay.descriptor, permanentKey ? { permanentKey } : {});
  clients.push(c);
  await c.client.start();
  await c.client.call('register', { handle });
  return c;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(RpcError);
  return (e as RpcError).code;
}

function blobFiles(dir: string): string[] {
  const d = join(dir, 'blobs');
  return existsSync(d) ? readdirSync(d) : [];
}

describe.each(backends)('relay blobs ($name)', (backend) => {
  beforeEach(async () => {
    store = await backend.open();
  });

  it('an unbound temp key may not call any blob method', async () => {
    const d = tempDir('blob-unbound');
    dirs.push(d);
    const relay = await relayIn(d.dir);
    const s = await RawSession.connect(relay);
    const key = await s.handshake();
    for (const m of ['blob.limits', 'blob.create', 'blob.put', 'blob.status', 'blob.get', 'blob.done']) {
      expect(await s.call(key, m, { id: new Uint8Array(16), size: 1, recipients: ['bob'], offset: 0, length: 1, data: new Uint8Array(1) })).toMatchObject({ kind: 'error', code: 'AUTH_KEY_UNBOUND' });
    }
    s.ws.close();
  });

  it('uploads at the acknowledged length, serves only the named recipient, and deletes the file when done', async () => {
    const d = tempDir('blob-flow');
    dirs.push(d);
    const relay = await relayIn(d.dir);
    const alice = await user(relay, 'alice');
    const bob = await user(relay, 'bob');
    const carol = await user(relay, 'carol');
    const content = randomBytes(MAX_BLOB_CHUNK_BYTES * 2 + 1000);
    const { id } = await alice.client.call('blob.create', { size: content.length, recipients: ['bob'] });
    expect(id).toHaveLength(16);
    const c0 = content.subarray(0, MAX_BLOB_CHUNK_BYTES);
    const c1 = content.subarray(MAX_BLOB_CHUNK_BYTES, 2 * MAX_BLOB_CHUNK_BYTES);
    const c2 = content.subarray(2 * MAX_BLOB_CHUNK_BYTES);
    expect(await alice.client.call('blob.put', { id, offset: 0, data: c0 })).toEqual({ length: c0.length });
    // A re-send of the acknowledged chunk (its answer was lost) writes nothing and says where to go on.
    expect(await alice.client.call('blob.put', { id, offset: 0, data: randomBytes(c0.length) })).toEqual({ length: c0.length });
    // A gap is not written either.
    expect(await alice.client.call('blob.put', { id, offset: 2 * MAX_BLOB_CHUNK_BYTES, data: c2 })).toEqual({ length: c0.length });
    // Only the uploader puts; others do not learn the blob exists.
    expect(await refusal(bob.client.call('blob.put', { id, offset: c0.length, data: c1 }))).toBe('NOT_FOUND');
    // Not readable before it is complete.
    expect(await refusal(bob.client.call('blob.get', { id, offset: 0, length: 10 }))).toBe('NOT_FOUND');
    expect(await alice.client.call('blob.put', { id, offset: c0.length, data: c1 })).toEqual({ length: 2 * c0.length });
    expect(await alice.client.call('blob.put', { id, offset: 2 * c0.length, data: c2 })).toEqual({ length: content.length });
    expect(await refusal(alice.client.call('blob.put', { id, offset: content.length, data: new Uint8Array(1) }))).toBe('BAD_REQUEST');

    // On disk: one file, exactly the bytes uploaded (the relay stores ciphertext as given).
    const files = await store.stored(d.dir);
    expect(files).toEqual([Buffer.from(id).toString('hex')]);
    expect((await store.bytes(d.dir, files[0] as string)).equals(content)).toBe(true);

    expect(await bob.client.call('blob.status', { id })).toMatchObject({ size: content.length, length: content.length });
    const got: Uint8Array[] = [];
    for (let off = 0; off < content.length; off += MAX_BLOB_CHUNK_BYTES) {
      got.push((await bob.client.call('blob.get', { id, offset: off, length: Math.min(MAX_BLOB_CHUNK_BYTES, content.length - off) })).data);
    }
    expect(Buffer.concat(got).equals(content)).toBe(true);
    expect(await refusal(bob.client.call('blob.get', { id, offset: content.length - 1, length: 2 }))).toBe('BAD_REQUEST');
    // Carol was not named: the same answer as for an id that does not exist.
    expect(await refusal(carol.client.call('blob.get', { id, offset: 0, length: 10 }))).toBe('NOT_FOUND');
    expect(await refusal(carol.client.call('blob.status', { id }))).toBe('NOT_FOUND');
    expect(await refusal(carol.client.call('blob.done', { id }))).toBe('NOT_FOUND');
    expect(await refusal(bob.client.call('blob.get', { id: randomBytes(16), offset: 0, length: 10 }))).toBe('NOT_FOUND');

    // Its file removed behind the relay's back: NOT_FOUND for that request, the connection lives on.
    const second = await alice.client.call('blob.create', { size: 10, recipients: ['bob'] });
    await alice.client.call('blob.put', { id: second.id, offset: 0, data: randomBytes(10) });
    await store.lose(d.dir, Buffer.from(second.id).toString('hex'));
    expect(await refusal(bob.client.call('blob.get', { id: second.id, offset: 0, length: 10 }))).toBe('NOT_FOUND');
    expect((await bob.client.call('blob.status', { id })).length).toBe(content.length);
    await alice.client.call('blob.done', { id: second.id });

    expect(await bob.client.call('blob.done', { id })).toEqual({ deleted: true });
    expect(await store.stored(d.dir)).toEqual([]);
    expect(await refusal(alice.client.call('blob.status', { id }))).toBe('NOT_FOUND');
  });

  it('keeps the blob until every named recipient is done; the uploader can withdraw it', async () => {
    const d = tempDir('blob-many');
    dirs.push(d);
    const relay = await relayIn(d.dir);
    const alice = await user(relay, 'alice');
    const bob = await user(relay, 'bob');
    const carol = await user(relay, 'carol');
    const { id } = await alice.client.call('blob.create', { size: 10, recipients: ['bob', 'carol', 'bob'] });
    // Charged for two recipients (bob named twice is one), then for the one left once bob is done.
    expect((await alice.client.call('blob.limits', null)).usedBytes).toBe(MIN_BLOB_CHARGE_BYTES + 2 * BLOB_RECIPIENT_CHARGE_BYTES);
    await alice.client.call('blob.put', { id, offset: 0, data: randomBytes(10) });
    expect(await bob.client.call('blob.done', { id })).toEqual({ deleted: false });
    expect((await alice.client.call('blob.limits', null)).usedBytes).toBe(MIN_BLOB_CHARGE_BYTES + BLOB_RECIPIENT_CHARGE_BYTES);
    expect(await refusal(bob.client.call('blob.get', { id, offset: 0, length: 10 }))).toBe('NOT_FOUND');
    expect((await carol.client.call('blob.get', { id, offset: 0, length: 10 })).data).toHaveLength(10);
    expect(await carol.client.call('blob.done', { id })).toEqual({ deleted: true });
    const second = await alice.client.call('blob.create', { size: 10, recipients: ['bob'] });
    expect(await alice.client.call('blob.done', { id: second.id })).toEqual({ deleted: true });
    expect(await refusal(bob.client.call('blob.status', { id: second.id }))).toBe('NOT_FOUND');
    expect(await store.stored(d.dir)).toEqual([]);
    expect(await refusal(alice.client.call('blob.create', { size: 10, recipients: ['nobody'] }))).toBe('NOT_FOUND');
  });

  it('refuses files over the configured limit and uploads over the account quota; limits are stated', async () => {
    const d = tempDir('blob-limits');
    dirs.push(d);
    const relay = await relayIn(d.dir, { blobMaxFileBytes: 1_000_000, blobQuotaBytes: 1_500_000, blobTtlMs: 3_600_000 });
    const alice = await user(relay, 'alice');
    await user(relay, 'bob');
    const max = streamLayout(1_000_000).sealedSize;
    expect(await alice.client.call('blob.limits', null)).toEqual({
      maxFileBytes: 1_000_000, quotaBytes: 1_500_000, usedBytes: 0, ttlMs: 3_600_000, minChargeBytes: MIN_BLOB_CHARGE_BYTES, recipientChargeBytes: BLOB_RECIPIENT_CHARGE_BYTES,
    });
    expect(await refusal(alice.client.call('blob.create', { size: max + 1, recipients: ['bob'] }))).toBe('BLOB_TOO_LARGE');
    const first = await alice.client.call('blob.create', { size: max, recipients: ['bob'] });
    expect((await alice.client.call('blob.limits', null)).usedBytes).toBe(max + BLOB_RECIPIENT_CHARGE_BYTES);
    expect(await refusal(alice.client.call('blob.create', { size: max, recipients: ['bob'] }))).toBe('QUOTA_EXCEEDED');
    await alice.client.call('blob.done', { id: first.id });
    await alice.client.call('blob.create', { size: max, recipients: ['bob'] });
  });

  it('blob.limits states the charge: what the client computes from it is what the relay counts and refuses, to the byte', async () => {
    const d = tempDir('blob-limits-charge');
    dirs.push(d);
    const relay = await relayIn(d.dir, { blobQuotaBytes: 1_000_000 });
    const alice = await user(relay, 'alice');
    await user(relay, 'bob');
    await user(relay, 'carol');
    const two = ['bob', 'carol'];
    const before = await readBlobLimits(alice.client);
    expect(before.charge).toEqual({ minBytes: MIN_BLOB_CHARGE_BYTES, perRecipientBytes: BLOB_RECIPIENT_CHARGE_BYTES });
    await alice.client.call('blob.create', { size: 1, recipients: two });
    const after = await readBlobLimits(alice.client);
    expect(after.usedBytes).toBe(blobChargeOf(before, 1, 2));
    // The largest blob to both that still fits, by the client's reading, and one byte more.
    const edge = after.quotaBytes - after.usedBytes - 2 * BLOB_RECIPIENT_CHARGE_BYTES;
    expect([blobFits(after, edge, 2), blobFits(after, edge + 1, 2)]).toEqual([true, false]);
    expect(await refusal(alice.client.call('blob.create', { size: edge + 1, recipients: two }))).toBe('QUOTA_EXCEEDED');
    await alice.client.call('blob.create', { size: edge, recipients: two });
    expect((await readBlobLimits(alice.client)).usedBytes).toBe(after.quotaBytes);
    // A relay that does not state the charge (before stop 23) is read as not saying, not as free.
    const older = blobLimitsOf({ maxFileBytes: 1, quotaBytes: 2, usedBytes: 0, ttlMs: 3 });
    expect([older.charge, blobChargeOf(older, 1, 2), blobFits(older, 1, 2)]).toEqual([undefined, undefined, undefined]);
  });

  it('a tiny blob counts one chunk against the quota, so many one-byte creates cannot pile up rows and files', async () => {
    const d = tempDir('blob-tiny');
    dirs.push(d);
    const relay = await relayIn(d.dir, { blobQuotaBytes: 1_000_000 });
    const alice = await user(relay, 'alice');
    await user(relay, 'bob');
    let created = 0;
    for (; created < 100; created++) {
      const r = await alice.client.call('blob.create', { size: 1, recipients: ['bob'] }).then(() => 'ok', (e: unknown) => (e instanceof RpcError ? e.code : 'other'));
      if (r !== 'ok') {
        expect(r).toBe('QUOTA_EXCEEDED');
        break;
      }
    }
    const each = MAX_BLOB_CHUNK_BYTES + BLOB_RECIPIENT_CHARGE_BYTES;
    expect(created).toBe(Math.floor(1_000_000 / each));
    expect((await alice.client.call('blob.limits', null)).usedBytes).toBe(created * each);
    expect(await store.stored(d.dir)).toHaveLength(created);
  });

  it('charges every named recipient: never-uploaded blobs naming 1,000 recipients cannot pile up rows; done and expiry release it', async () => {
    const d = tempDir('blob-recipients-charge');
    dirs.push(d);
    let now = Date.now();
    const clock = (): number => now;
    const quota = 4 * 1024 * 1024;
    const relay = await relayIn(d.dir, { clock, blobQuotaBytes: quota, blobTtlMs: 3_600_000 });
    const alice = await user(relay, 'alice');
    const members = Array.from({ length: MAX_BLOB_RECIPIENTS }, (_, i) => `member_${i}`);
    await store.addHandles(d.dir, members);
    const create = (): Promise<string> => alice.client.call('blob.create', { size: 1, recipients: members })
      .then(({ id }) => Buffer.from(id).toString('hex'), (e: unknown) => (e instanceof RpcError ? e.code : 'other'));
    const each = MIN_BLOB_CHARGE_BYTES + MAX_BLOB_RECIPIENTS * BLOB_RECIPIENT_CHARGE_BYTES;
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      const r = await create();
      if (r === 'QUOTA_EXCEEDED') break;
      expect(r).toMatch(/^[0-9a-f]{32}$/);
      ids.push(r);
    }
    // 3 blobs, 3,000 rows (charged one chunk each, before the recipients' charge: 63 blobs, 63,000 rows).
    expect(ids).toHaveLength(Math.floor(quota / each));
    expect((await alice.client.call('blob.limits', null)).usedBytes).toBe(ids.length * each);
    expect(await store.recipientRows(d.dir)).toBe(ids.length * MAX_BLOB_RECIPIENTS);
    // The uploader's withdrawal releases the blob's whole charge: one more fits, then no more.
    await alice.client.call('blob.done', { id: Buffer.from(ids[0]!, 'hex') });
    expect((await alice.client.call('blob.limits', null)).usedBytes).toBe((ids.length - 1) * each);
    expect(await create()).toMatch(/^[0-9a-f]{32}$/);
    expect(await create()).toBe('QUOTA_EXCEEDED');
    // Expired blobs count nothing, and the sweep removes their recipient rows.
    now += 3_600_001;
    expect((await alice.client.call('blob.limits', null)).usedBytes).toBe(0);
    await (relay.core.blobs as BlobStore | PgBlobStore).sweep();
    expect(await store.recipientRows(d.dir)).toBe(0);
    expect(await store.stored(d.dir)).toEqual([]);
  });

  it('a file for a 1,000-member group fits the default quota, charged 1 KiB per member beside its size', async () => {
    const d = tempDir('blob-group');
    dirs.push(d);
    const relay = await relayIn(d.dir);
    const alice = await user(relay, 'alice');
    const members = Array.from({ length: MAX_BLOB_RECIPIENTS }, (_, i) => `member_${i}`);
    await store.addHandles(d.dir, members);
    const { maxFileBytes, quotaBytes } = await alice.client.call('blob.limits', null);
    const largest = streamLayout(maxFileBytes).sealedSize;
    const charge = largest + MAX_BLOB_RECIPIENTS * BLOB_RECIPIENT_CHARGE_BYTES;
    // Ten 100 MiB files to the group at once within 1 GiB (as many as without the members' charge).
    expect(Math.floor(quotaBytes / charge)).toBe(10);
    for (let i = 0; i < 10; i++) await alice.client.call('blob.create', { size: largest, recipients: members });
    expect((await alice.client.call('blob.limits', null)).usedBytes).toBe(10 * charge);
    expect(await refusal(alice.client.call('blob.create', { size: largest, recipients: members }))).toBe('QUOTA_EXCEEDED');
  });

  it('keeps the acknowledged length across a restart and deletes expired blobs (TTL in relay time)', async () => {
    const d = tempDir('blob-ttl');
    dirs.push(d);
    let now = Date.now();
    const clock = (): number => now;
    const relay = await relayIn(d.dir, { clock, blobTtlMs: 3_600_000 });
    const key = await PermanentKey.loadOrCreate(new MemoryPermanentKeyStore());
    const alice = await user(relay, 'alice', key);
    await user(relay, 'bob');
    const { id, expiresAt } = await alice.client.call('blob.create', { size: 100, recipients: ['bob'] });
    expect(expiresAt).toBe(now + 3_600_000);
    await alice.client.call('blob.put', { id, offset: 0, data: randomBytes(40) });
    await alice.client.stop();
    await relay.close();
    const again = await relayIn(d.dir, { clock, blobTtlMs: 3_600_000, port: relay.port });
    const alice2 = await makeClient(again.descriptor, { permanentKey: key });
    clients.push(alice2);
    await alice2.client.start();
    expect(await alice2.client.call('blob.status', { id })).toMatchObject({ size: 100, length: 40 });
    await again.close();
    now += 3_600_001;
    expect(await store.stored(d.dir)).toHaveLength(1);
    await relayIn(d.dir, { clock, blobTtlMs: 3_600_000 });
    expect(await store.stored(d.dir)).toEqual([]);
  });
});
