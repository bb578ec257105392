// Envelope expiry and withdrawal at the relay (docs/protocol.md `send` ttl, `withdraw`):
// an expired envelope is never handed out and is purged; a sender withdraws its own
// still-queued envelope by idempotency key, and a re-send of that key is not queued again.
// The store suite runs on SQLite and on a throwaway PostgreSQL (pg-harness.ts); the protocol
// suite on a real relay over loopback.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startEnvelopePurge } from '../../relay/expiry.ts';
import { DEFAULT_ENVELOPE_TTL_MS, PURGE_EXPIRED_SQL, RelayStore } from '../../relay/store.ts';
import type { RelayStoreBackend, StoreOps } from '../../relay/store-backend.ts';
import { SqliteStoreBackend } from '../../relay/store-sqlite.ts';
import { PgStoreBackend } from '../../relay/store-pg.ts';
import type { Body } from '../../shared/protocol/rpc.ts';
import { databaseAtSchema, startPostgres, type TestPostgres } from './pg-harness.ts';
import { tempDir } from '../net/harness.ts';
import { pushedEnvelopes, registeredOn, relayForFile, type TestDevice } from './raw-session.ts';

const t = tempDir('expiry');
afterEach(() => t.cleanup());
let pgServer: TestPostgres | undefined;
afterAll(async () => {
  await pgServer?.stop();
});

const backends: { name: string; open(): Promise<RelayStoreBackend> }[] = [
  {
    name: 'SQLite',
    async open() {
      mkdirSync(t.dir, { recursive: true });
      return new SqliteStoreBackend(join(t.dir, `relay-${randomBytes(4).toString('hex')}.db`));
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      pgServer ??= await startPostgres();
      return PgStoreBackend.open({ url: await pgServer.createDatabase() });
    },
  },
];

async function deviceIn(store: StoreOps, handle: string): Promise<Buffer> {
  const id = randomBytes(8);
  await store.insertDevice(id, randomBytes(32), 1);
  await store.register(id, handle);
  return id;
}

const T0 = 1_700_000_000_000;
const bodies = async (store: StoreOps, who: Buffer, now: number): Promise<string[]> => (await store.pending(who, 0, 100, now)).map((e) => e.body.toString());

describe.each(backends)('envelope expiry and withdrawal in the store ($name)', (backend) => {
  it('never hands out an expired envelope, purges it, and frees its room in the queue', async () => {
    const store = await backend.open();
    try {
      const alice = await deviceIn(store, 'alice');
      const bob = await deviceIn(store, 'bob');
      await store.enqueue(alice, 'alice', 'bob', 'idem-short-01', Buffer.from('short'), T0, 2, T0 + 1000);
      await store.enqueue(alice, 'alice', 'bob', 'idem-long-001', Buffer.from('long'), T0, 2, T0 + 60_000);
      expect(await bodies(store, bob, T0 + 999)).toEqual(['short', 'long']);
      // At its expiry and after, before any purge: not handed out.
      expect(await bodies(store, bob, T0 + 1000)).toEqual(['long']);
      await expect(store.enqueue(alice, 'alice', 'bob', 'idem-third-01', Buffer.from('x'), T0 + 1000, 2)).rejects.toMatchObject({ code: 'QUEUE_FULL' });
      expect(await store.purgeExpired(T0 + 1000, DEFAULT_ENVELOPE_TTL_MS)).toBe(1);
      expect(await bodies(store, bob, 0)).toEqual(['long']); // the row is gone, not only hidden
      // Its room in the queue came back.
      await store.enqueue(alice, 'alice', 'bob', 'idem-third-01', Buffer.from('third'), T0 + 1000, 2);
      // A lowered maximum applies to envelopes already queued: stored longer ago than it, gone.
      expect(await store.purgeExpired(T0 + 1500, 1200)).toBe(1);
      expect(await bodies(store, bob, T0 + 1500)).toEqual(['third']);
      expect(await store.purgeExpired(T0 + 1500, 1200)).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('withdraws only the sender\'s own queued envelope; a re-send of the key stays a duplicate', async () => {
    const store = await backend.open();
    try {
      const alice = await deviceIn(store, 'alice');
      const bob = await deviceIn(store, 'bob');
      const carol = await deviceIn(store, 'carol');
      const a1 = await store.enqueue(alice, 'alice', 'bob', 'idem-same-001', Buffer.from('from alice'), T0, 10);
      await store.enqueue(carol, 'carol', 'bob', 'idem-same-001', Buffer.from('from carol'), T0, 10);
      await store.enqueue(alice, 'alice', 'bob', 'idem-keep-001', Buffer.from('kept'), T0, 10);
      // Another sender naming the same key, and the right key for the wrong recipient, change nothing.
      await store.withdraw(carol, 'bob', 'idem-keep-001');
      await store.withdraw(alice, 'carol', 'idem-same-001');
      await store.withdraw(alice, 'nobody', 'idem-same-001');
      expect(await bodies(store, bob, T0)).toEqual(['from alice', 'from carol', 'kept']);
      await store.withdraw(alice, 'bob', 'idem-same-001');
      expect(await bodies(store, bob, T0)).toEqual(['from carol', 'kept']);
      await store.withdraw(alice, 'bob', 'idem-same-001'); // again: nothing left, no error
      // The outbox may re-send it after a reconnect: answered as the old duplicate, not queued.
      expect(await store.enqueue(alice, 'alice', 'bob', 'idem-same-001', Buffer.from('from alice'), T0 + 1, 10)).toMatchObject({ id: a1.id, duplicate: true });
      expect(await bodies(store, bob, T0)).toEqual(['from carol', 'kept']);
      // The queue count went down with it (limit 3: room for exactly one more).
      await store.enqueue(alice, 'alice', 'bob', 'idem-more-001', Buffer.from('more'), T0, 3);
      await expect(store.enqueue(alice, 'alice', 'bob', 'idem-more-002', Buffer.from('more'), T0, 3)).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    } finally {
      await store.close();
    }
  });
});

describe('the purge and an open request batch (SQLite)', () => {
  it('waits for the batch to end instead of skipping its run', async () => {
    mkdirSync(t.dir, { recursive: true });
    const store = new RelayStore(join(t.dir, 'busy.db'));
    try {
      for (const [id, h] of [[Buffer.from('a1'), 'alice'], [Buffer.from('b1'), 'bob']] as const) {
        store.insertDevice(id, randomBytes(32), 1);
        store.register(id, h);
      }
      store.enqueue(Buffer.from('a1'), 'alice', 'bob', 'idem-busy-001', Buffer.from('x'), T0, 10, T0 + 1);
      store.beginBatch(); // as the relay holds one open for up to 8 ms under load
      const purge = startEnvelopePurge(store, { ttlMs: DEFAULT_ENVELOPE_TTL_MS, clock: () => T0 + 5, intervalMs: 3600_000 });
      const first = purge.run(); // the run started with it, still waiting
      await new Promise((r) => setTimeout(r, 30));
      expect(store.pending(Buffer.from('b1'), 0, 10)).toHaveLength(1);
      store.commitBatch();
      expect(await first).toBe(1);
      expect(store.pending(Buffer.from('b1'), 0, 10)).toEqual([]);
      purge.stop();
    } finally {
      store.close();
    }
  });
});

describe('the purge\'s read (SQLite)', () => {
  it('goes through the expiry and creation indexes, never a scan of the whole queue, in a database made before the creation index too', () => {
    mkdirSync(t.dir, { recursive: true });
    const file = join(t.dir, 'plan.db');
    new RelayStore(file).close();
    // A relay.db from before queue_by_created: opening it adds the index.
    const old = new Database(file);
    old.exec('DROP INDEX queue_by_created');
    old.close();
    const store = new RelayStore(file);
    try {
      const plan = (store.database.prepare(`EXPLAIN QUERY PLAN ${PURGE_EXPIRED_SQL}`).all(1, 2, 3) as { detail: string }[]).map((r) => r.detail);
      expect(plan.join('\n')).not.toMatch(/SCAN queue/);
      expect(plan).toEqual(expect.arrayContaining([expect.stringMatching(/USING INDEX queue_by_expiry/), expect.stringMatching(/USING INDEX queue_by_created/)]));
    } finally {
      store.close();
    }
  });
});

describe('PostgreSQL migration 3 (envelope expiry)', () => {
  it('gives envelopes queued before it the default lifetime, and keeps the old enqueue function working', async () => {
    pgServer ??= await startPostgres();
    // A database at schema version 2 with one envelope queued.
    const { url, client: c } = await databaseAtSchema(pgServer, 2);
    try {
      const bob = randomBytes(8);
      await c.query("INSERT INTO devices (perm_key_id, perm_pub, handle, created_at) VALUES ($1, $2, 'bob', 1)", [bob, randomBytes(32)]);
      await c.query('SELECT * FROM ephemera_enqueue($1, $2, $3, $4, $5, $6, $7)', [randomBytes(8), 'idem-before-01', bob, 'alice', Buffer.from('old'), T0, 10]);
      const store = await PgStoreBackend.open({ url });
      try {
        expect(await bodies(store, bob, T0 + DEFAULT_ENVELOPE_TTL_MS - 1)).toEqual(['old']);
        expect(await bodies(store, bob, T0 + DEFAULT_ENVELOPE_TTL_MS)).toEqual([]);
        // A node not yet upgraded still calls the seven-argument function: its envelope gets the default.
        await c.query('SELECT * FROM ephemera_enqueue($1, $2, $3, $4, $5, $6, $7)', [randomBytes(8), 'idem-oldnode-1', bob, 'carol', Buffer.from('old node'), T0 + 5, 10]);
        const rows = (await c.query<{ expires_at: string }>('SELECT expires_at FROM queue ORDER BY id')).rows.map((r) => Number(r.expires_at));
        expect(rows).toEqual([T0 + DEFAULT_ENVELOPE_TTL_MS, T0 + 5 + DEFAULT_ENVELOPE_TTL_MS]);
        expect(await store.purgeExpired(T0 + DEFAULT_ENVELOPE_TTL_MS + 5, DEFAULT_ENVELOPE_TTL_MS)).toBe(2);
        expect((await c.query<{ queued: string }>('SELECT queued FROM devices WHERE perm_key_id = $1', [bob])).rows[0]?.queued).toBe('0');
      } finally {
        await store.close();
      }
    } finally {
      await c.end();
    }
  });
});

// A real relay whose clock the test moves forward.
let skew = 0;
const relay = relayForFile('expiry-relay', { clock: () => Date.now() + skew, envelopeTtlMs: 3600_000 });

/** The envelope bodies pushed to `dev` on a new connection before a ping's answer. */
const pushedTo = async (dev: TestDevice): Promise<string[]> => (await pushedEnvelopes(relay, dev)).map((e) => e.body);

const registered = (handle: string): ReturnType<typeof registeredOn> => registeredOn(relay, handle);

const ok = (b: Body): unknown => (b.kind === 'result' ? b.result : { error: b.kind === 'error' ? b.code : b.kind });

describe('expiry and withdrawal on a real relay', () => {
  it('a sender\'s ttl and the relay\'s maximum: nothing expired is pushed, what is not expired is', async () => {
    const alice = await registered('alice_x');
    const bob = await registered('bob_x');
    bob.s.close();
    const send = (idem: string, text: string, ttl?: number): Promise<Body> =>
      alice.s.call(alice.key, 'send', { to: 'bob_x', idem, body: Buffer.from(text), ...(ttl ? { ttl } : {}) });
    expect(ok(await send('idem-ttl-0001', 'one minute', 60))).toMatchObject({ duplicate: false });
    expect(ok(await send('idem-ttl-0002', 'default'))).toMatchObject({ duplicate: false });
    expect(ok(await send('idem-ttl-0003', 'asks a year', 366 * 86400))).toMatchObject({ duplicate: false });
    expect(ok(await alice.s.call(alice.key, 'send', { to: 'bob_x', idem: 'idem-ttl-0004', body: Buffer.from('x'), ttl: 0 }))).toEqual({ error: 'BAD_REQUEST' });
    alice.s.close();
    skew = 61_000;
    // The one-minute envelope expired; the others live up to the relay's maximum (1 h here).
    expect(await pushedTo(bob.dev)).toEqual(['default', 'asks a year']);
    skew = 3600_000;
    expect(await pushedTo(bob.dev)).toEqual([]);
    // (The clock stays ahead: the relay's rate limits would not take it going back.)
  });

  it('withdraw: the same answer whether or not there was an envelope; only the sender\'s own goes', async () => {
    const alice = await registered('alice_w');
    const mallory = await registered('mallory_w');
    const bob = await registered('bob_w');
    bob.s.close();
    for (const [idem, text] of [['idem-w-000001', 'withdrawn'], ['idem-w-000002', 'kept']] as const) {
      expect(ok(await alice.s.call(alice.key, 'send', { to: 'bob_w', idem, body: Buffer.from(text) }))).toMatchObject({ duplicate: false });
    }
    const answers = [
      await alice.s.call(alice.key, 'withdraw', { to: 'bob_w', idem: 'idem-w-000001' }), // existed
      await alice.s.call(alice.key, 'withdraw', { to: 'bob_w', idem: 'idem-w-000001' }), // gone already
      await alice.s.call(alice.key, 'withdraw', { to: 'bob_w', idem: 'idem-w-never1' }), // never was
      await alice.s.call(alice.key, 'withdraw', { to: 'nobody_w', idem: 'idem-w-000001' }), // no such handle
      await mallory.s.call(mallory.key, 'withdraw', { to: 'bob_w', idem: 'idem-w-000002' }), // not hers
    ];
    for (const a of answers) expect(ok(a)).toEqual({ ok: true });
    expect(ok(await alice.s.call(alice.key, 'withdraw', { to: 'bob_w' }))).toEqual({ error: 'BAD_REQUEST' });
    // A re-send of the withdrawn key (the outbox after a reconnect) is a duplicate, not queued again.
    expect(ok(await alice.s.call(alice.key, 'send', { to: 'bob_w', idem: 'idem-w-000001', body: Buffer.from('withdrawn') }))).toMatchObject({ duplicate: true });
    expect(await pushedTo(bob.dev)).toEqual(['kept']);
  });
});
