// The SQLite relay's idempotency records (relay/idem-log.ts): rows appended in arrival order, looked
// up in a bounded map rebuilt from them at open. A re-send is stored once across a relay restart
// and a 404 re-bind; a rolled-back batch (ours or SQLite's) or a failed send leaves no key behind; past the memory bound records spill
// to a disk index and still de-duplicate; a relay.db from before (schema 0) is migrated.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { IDEMPOTENCY_RETENTION_MS, RELAY_DB_SCHEMA, RelayBatchLost, RelayStore } from '../../relay/store.ts';
import type { RunningRelay } from '../../relay/relay.ts';
import { inProcessRelay, registeredPair, tempDir, waitFor, type TestClient } from '../net/harness.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

function dir(prefix: string): string {
  const t = tempDir(prefix);
  cleanups.push(t.cleanup);
  return t.dir;
}

function device(store: RelayStore, handle: string): Buffer {
  const id = randomBytes(8);
  store.insertDevice(id, randomBytes(32), 1);
  store.register(id, handle);
  return id;
}

const queued = (store: RelayStore): number => (store.database.prepare('SELECT COUNT(*) AS n FROM queue').get() as { n: number }).n;
const T0 = 1_700_000_000_000;

describe('idempotency across a relay restart', () => {
  it('a re-send after the restart, re-bound after the 404 (same key, new msg_id), is the stored envelope, delivered once', async () => {
    const d = dir('idem-restart');
    let relay: RunningRelay = await inProcessRelay(d);
    cleanups.push(() => relay.close());
    const started: TestClient[] = [];
    cleanups.push(async () => {
      for (const c of started) await c.client.stop();
    });
    const { alice, bob } = await registeredPair(relay.descriptor, started);
    const got: string[] = [];
    bob.mailbox.onEnvelope((e) => {
      got.push(Buffer.from(e.body).toString());
    });
    const first = await alice.mailbox.send('bob', Buffer.from('once'), 'idem-restart-0001');
    expect(first.duplicate).toBe(false);
    await waitFor(() => got.length === 1, 60_000, 'the first delivery');

    // Restarted on the same port: every temp key is gone, so alice's next request meets a 404,
    // she re-binds and sends the same key again in a new record.
    const port = relay.port;
    await relay.close();
    relay = await inProcessRelay(d, { port });
    const again = await alice.mailbox.send('bob', Buffer.from('once'), 'idem-restart-0001');
    expect(alice.states).toContain('rebinding');
    expect(again).toMatchObject({ id: first.id, duplicate: true });
    const other = await alice.mailbox.send('bob', Buffer.from('twice'), 'idem-restart-0002');
    expect(other.duplicate).toBe(false);
    await waitFor(() => got.length >= 2, 60_000, 'the second delivery');
    expect(got).toEqual(['once', 'twice']);
  });

  it('the map is rebuilt from the rows at open: every kept key is a duplicate after a reopen', () => {
    const file = join(dir('idem-reopen'), 'relay.db');
    let store = new RelayStore(file);
    const alice = device(store, 'alice');
    device(store, 'bob');
    const ids = [0, 1, 2].map((i) => store.enqueue(alice, 'alice', 'bob', `idem-reopen-${i}`, Buffer.from('x'), T0 + i, 10).id);
    store.close();
    store = new RelayStore(file);
    cleanups.push(() => store.close());
    expect(store.idempotencySizes).toEqual({ inMemory: 3, spilled: 0 });
    for (let i = 0; i < 3; i++) expect(store.enqueue(alice, 'alice', 'bob', `idem-reopen-${i}`, Buffer.from('x'), T0 + 9, 10)).toMatchObject({ id: ids[i], duplicate: true });
    expect(queued(store)).toBe(3);
  });
});

describe('idempotency records and transactions', () => {
  it('a rolled-back batch leaves no key: its re-send is stored, not answered as a duplicate of nothing', () => {
    const store = new RelayStore(join(dir('idem-rollback'), 'relay.db'));
    cleanups.push(() => store.close());
    const alice = device(store, 'alice');
    device(store, 'bob');
    store.beginBatch();
    const lost = store.enqueue(alice, 'alice', 'bob', 'idem-rolled-back', Buffer.from('x'), T0, 10);
    store.rollbackBatch();
    expect(queued(store)).toBe(0);
    const kept = store.enqueue(alice, 'alice', 'bob', 'idem-rolled-back', Buffer.from('x'), T0, 10);
    expect(kept.duplicate).toBe(false);
    expect(queued(store)).toBe(1);
    expect(store.pending(bob(store), 0, 10).map((e) => e.id)).toEqual([kept.id]);
    expect(kept.id).toBeGreaterThanOrEqual(lost.id);
  });
});

describe('idempotency records when SQLite ends a transaction itself', () => {
  it('a batch SQLite rolled back: a send after it fails too, the commit fails, and every key of it is forgotten', () => {
    // Review s22 (R): a send on its own transaction after the loss used to end the lost batch's keys as committed.
    const store = new RelayStore(join(dir('idem-batch-lost'), 'relay.db'));
    cleanups.push(() => store.close());
    const alice = device(store, 'alice');
    device(store, 'bob');
    const db = store.database;
    // RAISE(ROLLBACK) ends the whole transaction, as SQLITE_FULL or an I/O error may.
    db.exec("CREATE TABLE boom (x); CREATE TRIGGER boom_t BEFORE INSERT ON boom BEGIN SELECT RAISE(ROLLBACK, 'whole transaction'); END;");
    store.beginBatch();
    store.enqueue(alice, 'alice', 'bob', 'idem-lost-a', Buffer.from('A'), T0, 10);
    expect(() => db.exec('INSERT INTO boom VALUES (1)')).toThrow();
    expect(db.inTransaction).toBe(false);
    expect(() => store.enqueue(alice, 'alice', 'bob', 'idem-lost-b', Buffer.from('B'), T0, 10)).toThrow(RelayBatchLost);
    expect(() => store.commitBatch()).toThrow(RelayBatchLost);
    store.rollbackBatch();
    expect(queued(store)).toBe(0);
    for (const k of ['idem-lost-a', 'idem-lost-b']) expect(store.enqueue(alice, 'alice', 'bob', k, Buffer.from('x'), T0 + 1, 10).duplicate).toBe(false);
    expect(queued(store)).toBe(2);
  });

  it('a send on its own transaction that fails after its record was written leaves no key', () => {
    const store = new RelayStore(join(dir('idem-own-tx'), 'relay.db'));
    cleanups.push(() => store.close());
    const alice = device(store, 'alice');
    device(store, 'bob');
    store.database.exec("CREATE TRIGGER refuse BEFORE INSERT ON queue WHEN NEW.body = X'21' BEGIN SELECT RAISE(ABORT, 'refused'); END;");
    expect(() => store.enqueue(alice, 'alice', 'bob', 'idem-own-fail', Buffer.from('!'), T0, 10)).toThrow(/refused/);
    store.database.exec('DROP TRIGGER refuse');
    expect(store.enqueue(alice, 'alice', 'bob', 'idem-own-fail', Buffer.from('!'), T0, 10).duplicate).toBe(false);
    expect(queued(store)).toBe(1);
  });
});

function bob(store: RelayStore): Buffer {
  return store.deviceByHandle('bob')!.permKeyId;
}

describe('the memory bound', () => {
  it('past it records spill to the disk index: still duplicates, across a reopen with a lower bound, and pruned', () => {
    const file = join(dir('idem-spill'), 'relay.db');
    let store = new RelayStore(file, { idempotencyMemoryKeys: 2 });
    const alice = device(store, 'alice');
    device(store, 'bob');
    const ids = [0, 1, 2, 3, 4].map((i) => store.enqueue(alice, 'alice', 'bob', `idem-spill-${i}`, Buffer.from('x'), T0 + i, 10).id);
    expect(store.idempotencySizes).toEqual({ inMemory: 2, spilled: 3 });
    for (let i = 0; i < 5; i++) expect(store.enqueue(alice, 'alice', 'bob', `idem-spill-${i}`, Buffer.from('x'), T0 + 9, 10)).toMatchObject({ id: ids[i], duplicate: true });
    store.close();

    store = new RelayStore(file, { idempotencyMemoryKeys: 1 });
    cleanups.push(() => store.close());
    expect(store.idempotencySizes).toEqual({ inMemory: 1, spilled: 4 });
    for (let i = 0; i < 5; i++) expect(store.enqueue(alice, 'alice', 'bob', `idem-spill-${i}`, Buffer.from('x'), T0 + 9, 10)).toMatchObject({ id: ids[i], duplicate: true });
    expect(queued(store)).toBe(5);
    // The first three are past their retention; the in-memory one and two spilled go.
    expect(store.pruneIdempotency(T0 + IDEMPOTENCY_RETENTION_MS + 3)).toBe(3);
    expect(store.idempotencySizes).toEqual({ inMemory: 0, spilled: 2 });
    expect(store.enqueue(alice, 'alice', 'bob', 'idem-spill-0', Buffer.from('x'), T0 + 9, 10).duplicate).toBe(false);
    expect(store.enqueue(alice, 'alice', 'bob', 'idem-spill-4', Buffer.from('x'), T0 + 9, 10)).toMatchObject({ id: ids[4], duplicate: true });
  });
});

describe('a relay.db from before the idempotency log (schema 0)', () => {
  it('is migrated at open: its keys stay duplicates, in arrival order, and the b-tree is gone', () => {
    const file = join(dir('idem-migrate'), 'relay.db');
    const old = new Database(file);
    // The tables as relay/store.ts made them before schema version 1.
    old.exec(`
      CREATE TABLE devices (perm_key_id BLOB PRIMARY KEY, perm_pub BLOB NOT NULL, handle TEXT UNIQUE, created_at INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT, recipient BLOB NOT NULL, sender_handle TEXT NOT NULL,
        body BLOB NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
      CREATE INDEX queue_by_recipient ON queue (recipient, id);
      CREATE TABLE idempotency (sender BLOB NOT NULL, idem TEXT NOT NULL, queue_id INTEGER NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (sender, idem)) WITHOUT ROWID;
    `);
    const [alice, bobId] = [randomBytes(8), randomBytes(8)];
    old.prepare('INSERT INTO devices VALUES (?, ?, ?, 1)').run(alice, randomBytes(32), 'alice');
    old.prepare('INSERT INTO devices VALUES (?, ?, ?, 1)').run(bobId, randomBytes(32), 'bob');
    // Keys whose b-tree order is not their arrival order.
    const keys = ['idem-zz-late', 'idem-aa-early', 'idem-mm-middle'];
    keys.forEach((k, i) => {
      old.prepare('INSERT INTO queue (id, recipient, sender_handle, body, created_at, expires_at) VALUES (?, ?, \'alice\', ?, ?, ?)').run(i + 1, bobId, Buffer.from(k), T0 + i, T0 + 1e10);
      old.prepare('INSERT INTO idempotency VALUES (?, ?, ?, ?)').run(alice, k, i + 1, T0 + i);
    });
    old.close();

    const store = new RelayStore(file);
    cleanups.push(() => store.close());
    expect(store.database.pragma('user_version', { simple: true })).toBe(RELAY_DB_SCHEMA);
    expect(store.database.prepare('SELECT idem FROM idempotency ORDER BY id').all()).toEqual(keys.map((idem) => ({ idem })));
    expect(store.database.prepare("SELECT name FROM sqlite_schema WHERE name LIKE 'idempotency%' ORDER BY name").all()).toEqual([
      { name: 'idempotency' }, { name: 'idempotency_spilled' },
    ]);
    keys.forEach((k, i) => expect(store.enqueue(alice, 'alice', 'bob', k, Buffer.from('x'), T0 + 9, 10)).toMatchObject({ id: i + 1, duplicate: true }));
    expect(store.enqueue(alice, 'alice', 'bob', 'idem-new-after', Buffer.from('x'), T0 + 9, 10)).toMatchObject({ id: 4, duplicate: false });
    // Pruned from the head in arrival order: the first key goes first.
    expect(store.pruneIdempotency(T0 + IDEMPOTENCY_RETENTION_MS + 1)).toBe(1);
    expect(store.enqueue(alice, 'alice', 'bob', 'idem-zz-late', Buffer.from('x'), T0 + 9, 10).duplicate).toBe(false);
    expect(store.enqueue(alice, 'alice', 'bob', 'idem-aa-early', Buffer.from('x'), T0 + 9, 10).duplicate).toBe(true);
  });
});
