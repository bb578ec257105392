// The relay store's idempotency and queue ids: a re-send is stored once (also when the queue is
// full), and ids are never reused, not even after the queue emptied and the relay restarted.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RpcError } from '../../shared/protocol/errors.ts';
import { RelayStore } from '../../server/store.ts';
import { tempDir } from '../net/harness.ts';

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
