// The relay store's idempotency and queue ids: a re-send is stored once (also when the queue is
// full), and ids are never reused, not even after the queue emptied and the relay restarted.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RpcError } from '../../shared/protocol/errors.ts';
import { IDEMPOTENCY_RETENTION_MS, RelayStore } from '../../relay/store.ts';
import { inProcessRelay, tempDir, waitFor } from '../net/harness.ts';

const t = tempDir('store');
afterEach(() => t.cleanup());

function device(store: RelayStore, handle: string): Buffer {
  const id = randomBytes(8);
  store.insertDevice(id, randomBytes(32), 1);
  store.register(id, handle);
  return id;
}

describe('relay store', () => {
  it('stores a re-send once, answers it as a duplicate even when the queue is full, and never reuses ids', () => {
    const file = join(t.dir, 'relay.db');
    let store = new RelayStore(file);
    const alice = device(store, 'alice');
    const bob = device(store, 'bob');
    const body = Buffer.from('x');
    const first = store.enqueue(alice, 'alice', 'bob', 'idem-0001', body, 1, 2);
    expect(first.duplicate).toBe(false);
    expect(store.enqueue(alice, 'alice', 'bob', 'idem-0001', body, 2, 2)).toMatchObject({ id: first.id, duplicate: true });
    const second = store.enqueue(alice, 'alice', 'bob', 'idem-0002', body, 3, 2);
    expect(second.id).toBeGreaterThan(first.id);
    expect(() => store.enqueue(alice, 'alice', 'bob', 'idem-0003', body, 4, 2)).toThrow(RpcError);
    expect(store.enqueue(alice, 'alice', 'bob', 'idem-0002', body, 5, 2)).toMatchObject({ id: second.id, duplicate: true });
    expect(store.pending(bob, 0, 10).map((e) => e.id)).toEqual([first.id, second.id]);
    // a batch that is rolled back leaves nothing, and its id is not handed out again
    store.beginBatch();
    const rolled = store.enqueue(alice, 'alice', 'bob', 'idem-0004', body, 6, 10);
    store.rollbackBatch();
    expect(store.pending(bob, 0, 10).map((e) => e.id)).toEqual([first.id, second.id]);
    // empty the queue, restart: new ids are still above every id handed out before the restart
    expect(store.ack(bob, [first.id, second.id])).toBe(2);
    store.close();
    store = new RelayStore(file);
    const third = store.enqueue(alice, 'alice', 'bob', 'idem-0005', body, 7, 10);
    expect(third.id).toBeGreaterThan(second.id);
    expect(store.enqueue(alice, 'alice', 'bob', 'idem-0001', body, 8, 10)).toMatchObject({ id: first.id, duplicate: true });
    store.close();
    expect(rolled.id).toBeGreaterThan(second.id);
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
      await waitFor(() => count(store) === 0, 10_000, 'scheduled prune');
    } finally {
      await relay.close();
      dir.cleanup();
    }
  });
});
