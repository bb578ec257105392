// The relay store's idempotency and queue ids: a re-send is stored once (also when the queue is
// full), and ids are never reused, not even after the queue emptied and the relay restarted.
// The backend-neutral suite runs against both SQLite and a throwaway PostgreSQL (pg-harness.ts).
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RpcError } from '../../shared/protocol/errors.ts';
import { IDEMPOTENCY_RETENTION_MS, RelayStore } from '../../relay/store.ts';
import type { RelayStoreBackend, StoreOps, StoredIdentity } from '../../relay/store-backend.ts';
import { SqliteStoreBackend } from '../../relay/store-sqlite.ts';
import { PgStoreBackend } from '../../relay/store-pg.ts';
import { startPostgres, type TestPostgres } from './pg-harness.ts';
import { inProcessRelay, tempDir, waitFor } from '../net/harness.ts';

const t = tempDir('store');
afterEach(() => t.cleanup());

function device(store: RelayStore, handle: string): Buffer {
  const id = randomBytes(8);
  store.insertDevice(id, randomBytes(32), 1);
  store.register(id, handle);
  return id;
}

interface Backend {
  name: string;
  /** A fresh store; `reopen` opens the same data again (a relay restart). */
  open(): Promise<{ store: RelayStoreBackend; reopen: () => Promise<RelayStoreBackend> }>;
}

let pgServer: TestPostgres | undefined;
afterAll(async () => {
  await pgServer?.stop();
});

const backends: Backend[] = [
  {
    name: 'SQLite',
    async open() {
      mkdirSync(t.dir, { recursive: true }); // afterEach removed it
      const file = join(t.dir, `relay-${randomBytes(4).toString('hex')}.db`);
      return { store: new SqliteStoreBackend(file), reopen: async () => new SqliteStoreBackend(file) };
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      pgServer ??= await startPostgres();
      const url = await pgServer.createDatabase();
      return { store: await PgStoreBackend.open({ url }), reopen: () => PgStoreBackend.open({ url }) };
    },
  },
];

async function deviceIn(store: StoreOps, handle: string): Promise<Buffer> {
  const id = randomBytes(8);
  await store.insertDevice(id, randomBytes(32), 1);
  await store.register(id, handle);
  return id;
}

describe.each(backends)('relay store ($name)', (backend) => {
  it('stores a re-send once, answers it as a duplicate even when the queue is full, and never reuses ids', async () => {
    const opened = await backend.open();
    let store = opened.store;
    const alice = await deviceIn(store, 'alice');
    const bob = await deviceIn(store, 'bob');
    const body = Buffer.from('x');
    const first = await store.enqueue(alice, 'alice', 'bob', 'idem-0001', body, 1, 2);
    expect(first.duplicate).toBe(false);
    expect(await store.enqueue(alice, 'alice', 'bob', 'idem-0001', body, 2, 2)).toMatchObject({ id: first.id, duplicate: true });
    const second = await store.enqueue(alice, 'alice', 'bob', 'idem-0002', body, 3, 2);
    expect(second.id).toBeGreaterThan(first.id);
    await expect(store.enqueue(alice, 'alice', 'bob', 'idem-0003', body, 4, 2)).rejects.toThrow(RpcError);
    expect(await store.enqueue(alice, 'alice', 'bob', 'idem-0002', body, 5, 2)).toMatchObject({ id: second.id, duplicate: true });
    expect((await store.pending(bob, 0, 10)).map((e) => e.id)).toEqual([first.id, second.id]);
    // a batch that is rolled back leaves nothing, and its id is not handed out again
    let rolled = { id: 0 };
    await expect(store.batch(async (ops) => {
      rolled = await ops.enqueue(alice, 'alice', 'bob', 'idem-0004', body, 6, 10);
      throw new Error('roll back');
    })).rejects.toThrow('roll back');
    expect((await store.pending(bob, 0, 10)).map((e) => e.id)).toEqual([first.id, second.id]);
    // empty the queue, restart: new ids are still above every id handed out before the restart
    expect(await store.ack(bob, [first.id, second.id])).toBe(2);
    await store.close();
    store = await opened.reopen();
    // limit 1: the acknowledged envelopes no longer count against it
    const third = await store.enqueue(alice, 'alice', 'bob', 'idem-0005', body, 7, 1);
    expect(third.id).toBeGreaterThan(second.id);
    expect(await store.enqueue(alice, 'alice', 'bob', 'idem-0001', body, 8, 10)).toMatchObject({ id: first.id, duplicate: true });
    await store.close();
    expect(rolled.id).toBeGreaterThan(second.id);
  });

  it('group commit: the sends of a batch are stored together, and a refused send does not cost the batch', async () => {
    const { store } = await backend.open();
    try {
      const alice = await deviceIn(store, 'alice');
      const bob = await deviceIn(store, 'bob');
      const ids = await store.batch(async (ops) => {
        const a = await ops.enqueue(alice, 'alice', 'bob', 'idem-b-0001', Buffer.from('1'), 1, 10);
        await expect(ops.enqueue(alice, 'alice', 'nobody', 'idem-b-0002', Buffer.from('2'), 1, 10)).rejects.toMatchObject({ code: 'NOT_FOUND' });
        await expect(ops.register(alice, 'bob')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
        const b = await ops.enqueue(alice, 'alice', 'bob', 'idem-b-0003', Buffer.from('3'), 1, 10);
        return [a.id, b.id];
      });
      expect((await store.pending(bob, 0, 10)).map((e) => [e.id, e.body.toString(), e.from])).toEqual([[ids[0], '1', 'alice'], [ids[1], '3', 'alice']]);
      expect(await store.ack(alice, ids)).toBe(0); // only the recipient acknowledges
    } finally {
      await store.close();
    }
  });

  it('handles: taken, re-registered, looked up', async () => {
    const { store } = await backend.open();
    try {
      const alice = await deviceIn(store, 'alice');
      await store.register(alice, 'alice'); // same handle again: no-op
      const other = randomBytes(8);
      const pub = randomBytes(32);
      expect((await store.insertDevice(other, pub, 2)).permPub.equals(pub)).toBe(true);
      // inserting a known device answers the stored row
      expect((await store.insertDevice(other, randomBytes(32), 3)).permPub.equals(pub)).toBe(true);
      await expect(store.register(other, 'alice')).rejects.toMatchObject({ code: 'HANDLE_TAKEN' });
      await expect(store.register(alice, 'alice2')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      expect((await store.deviceByHandle('alice'))?.permKeyId.equals(alice)).toBe(true);
      expect(await store.deviceByHandle('nobody')).toBeUndefined();
      expect((await store.device(other))?.handle).toBeNull();
    } finally {
      await store.close();
    }
  });

  it('prekeys: each one-time key is handed out once; a new identity key drops the old pool', async () => {
    const { store } = await backend.open();
    try {
      const alice = await deviceIn(store, 'alice');
      const identity = (key: Buffer): StoredIdentity => ({
        registrationId: 7, deviceId: 1, identityKey: key,
        signedPreKey: { id: 1, publicKey: randomBytes(33), signature: randomBytes(64) },
        kyberLastResort: { id: 2, publicKey: randomBytes(32), signature: randomBytes(64) },
      });
      const ik = randomBytes(33);
      expect(await store.putIdentity(alice, identity(ik), 1)).toEqual({ reRegistered: false });
      expect((await store.identity(alice))?.identityKey.equals(ik)).toBe(true);
      const ec = [1, 2, 3].map((id) => ({ id, publicKey: randomBytes(33) }));
      const ky = [1, 2].map((id) => ({ id, publicKey: randomBytes(32), signature: randomBytes(64) }));
      expect(await store.addOneTime(alice, ec, ky)).toEqual({ preKeys: 3, kyberPreKeys: 2 });
      expect(await store.addOneTime(alice, ec, [])).toEqual({ preKeys: 0, kyberPreKeys: 0 }); // already there
      expect(await store.preKeyCounts(alice)).toEqual({ preKeys: 3, kyberPreKeys: 2 });
      const first = await store.takeOneTime(alice);
      expect(first.preKey?.id).toBe(1);
      expect(first.kyberPreKey?.signature?.equals(ky[0]!.signature)).toBe(true);
      expect((await store.takeOneTime(alice)).preKey?.id).toBe(2);
      expect(await store.preKeyCounts(alice)).toEqual({ preKeys: 1, kyberPreKeys: 0 });
      expect(await store.putIdentity(alice, identity(randomBytes(33)), 2)).toEqual({ reRegistered: true });
      expect(await store.preKeyCounts(alice)).toEqual({ preKeys: 0, kyberPreKeys: 0 });
      expect(await store.takeOneTime(alice)).toEqual({ preKey: undefined, kyberPreKey: undefined });
    } finally {
      await store.close();
    }
  });

  it('bindings: one current binding per device; replacing one names the previous; unbind only if still current', async () => {
    const { store } = await backend.open();
    try {
      const alice = await deviceIn(store, 'alice');
      const b1 = randomBytes(16);
      const b2 = randomBytes(16);
      const first = await store.bind(alice, 'node_a', b1, 1);
      expect(first.previous).toBeUndefined();
      const second = await store.bind(alice, 'node_b', b2, 2);
      expect(second.previous).toMatchObject({ node: 'node_a', seq: first.current.seq });
      expect(second.previous?.bindingId.equals(b1)).toBe(true);
      expect(second.current.seq).toBeGreaterThan(first.current.seq);
      expect(await store.unbind(alice, 'node_a', b1)).toBe(false); // replaced: stays node_b's
      expect((await store.currentBinding(alice))?.bindingId.equals(b2)).toBe(true);
      expect(await store.unbind(alice, 'node_b', b2)).toBe(true);
      expect(await store.currentBinding(alice)).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('idempotency records go after their retention: a re-send with an old key is then stored anew', async () => {
    const { store } = await backend.open();
    try {
      const alice = await deviceIn(store, 'alice');
      await deviceIn(store, 'bob');
      const t0 = 1_000_000_000_000;
      const old = await store.enqueue(alice, 'alice', 'bob', 'idem-old-0001', Buffer.from('x'), t0, 10);
      const recent = await store.enqueue(alice, 'alice', 'bob', 'idem-new-0001', Buffer.from('x'), t0 + 6 * 24 * 3600 * 1000, 10);
      await store.pruneIdempotency(t0 + IDEMPOTENCY_RETENTION_MS + 1);
      expect(await store.enqueue(alice, 'alice', 'bob', 'idem-new-0001', Buffer.from('x'), t0, 10)).toMatchObject({ id: recent.id, duplicate: true });
      const again = await store.enqueue(alice, 'alice', 'bob', 'idem-old-0001', Buffer.from('x'), t0, 10);
      expect(again.duplicate).toBe(false);
      expect(again.id).not.toBe(old.id);
    } finally {
      await store.close();
    }
  });
});

describe('relay store at rest', () => {
  it('an acknowledged envelope is in no file of the data directory after the WAL scrub', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const dir = tempDir('store-wal');
    try {
      const store = new RelayStore(join(dir.dir, 'relay.db'));
      const alice = device(store, 'alice');
      const bob = device(store, 'bob');
      const marker = Buffer.from(`wal-marker-${randomBytes(8).toString('hex')}`);
      const found = () => readdirSync(dir.dir).filter((f) => readFileSync(join(dir.dir, f)).includes(marker));
      const { id } = store.enqueue(alice, 'alice', 'bob', 'idem-wal-01', marker, 1, 10);
      expect(found().length).toBeGreaterThan(0); // the scan sees it while it is queued
      expect(store.ack(bob, [id])).toBe(1);
      store.scrubWal();
      expect(found()).toEqual([]);
      store.close();
      expect(found()).toEqual([]);
    } finally {
      dir.cleanup();
    }
  });
});

// Idempotency records (sender, key, time) are metadata on the relay's disk: they must go after
// their retention whatever the uptime, so at every start and on a schedule, in relay time.
describe('idempotency records are pruned', () => {
  const count = (store: RelayStore): number => (store.database.prepare('SELECT COUNT(*) AS n FROM idempotency').get() as { n: number }).n;
  const day = 24 * 3600 * 1000;

  it('at start: records older than the retention are gone after a restart', async () => {
    const dir = tempDir('store-prune-start');
    try {
      const store = new RelayStore(join(dir.dir, 'relay.db'));
      const alice = device(store, 'alice');
      device(store, 'bob');
      const t0 = 1_000_000_000_000;
      store.enqueue(alice, 'alice', 'bob', 'idem-old-0001', Buffer.from('x'), t0, 10);
      store.enqueue(alice, 'alice', 'bob', 'idem-new-0001', Buffer.from('x'), t0 + 6 * day, 10);
      store.close();
      // Restarted 1 minute past the first record's retention; the hourly schedule has not run.
      const relay = await inProcessRelay(dir.dir, { clock: () => t0 + IDEMPOTENCY_RETENTION_MS + 60_000, idempotencyPruneIntervalMs: 3600_000 });
      try {
        const idems = relay.core.store.database.prepare('SELECT idem FROM idempotency').all() as { idem: string }[];
        expect(idems.map((r) => r.idem)).toEqual(['idem-new-0001']);
      } finally {
        await relay.close();
      }
    } finally {
      dir.cleanup();
    }
  });

  it('on schedule: a running relay prunes records as they pass the retention', async () => {
    const dir = tempDir('store-prune-schedule');
    let now = 2_000_000_000_000;
    const relay = await inProcessRelay(dir.dir, { clock: () => now, idempotencyPruneIntervalMs: 20 });
    try {
      const store = relay.core.store;
      const alice = device(store, 'alice');
      device(store, 'bob');
      store.enqueue(alice, 'alice', 'bob', 'idem-sched-01', Buffer.from('x'), now, 10);
      expect(count(store)).toBe(1);
      now += IDEMPOTENCY_RETENTION_MS + 1;
      await waitFor(() => count(store) === 0, 60_000, 'scheduled prune');
    } finally {
      await relay.close();
      dir.cleanup();
    }
  });
});
