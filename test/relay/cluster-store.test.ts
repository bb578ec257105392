// The PostgreSQL store as several relay nodes share it (each node its own store object and
// pool, as in separate processes): the schema is migrated once when nodes start together; of two
// binds of one device at once exactly one stays current and the other's node is told to forget
// its key; a send through one node wakes the node holding the recipient (NOTIFY at commit, not
// for a rolled-back batch); a listener that lost PostgreSQL comes back and says so (resync).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { ClusterEvent, RelayStoreBackend } from '../../relay/store-backend.ts';
import { MIGRATIONS, PgStoreBackend } from '../../relay/store-pg.ts';
import { startPostgres, type TestPostgres } from './pg-harness.ts';
import { waitFor } from '../net/harness.ts';

let server: TestPostgres;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

async function nodes(n: number, url?: string): Promise<{ url: string; stores: PgStoreBackend[] }> {
  const u = url ?? (await server.createDatabase());
  // Started together: every node races to migrate.
  const stores = await Promise.all(Array.from({ length: n }, () => PgStoreBackend.open({ url: u, maxConnections: 4 })));
  return { url: u, stores };
}

async function closeAll(stores: RelayStoreBackend[]): Promise<void> {
  await Promise.all(stores.map((s) => s.close()));
}

function recorder(): { events: ClusterEvent[]; on: (e: ClusterEvent) => void } {
  const events: ClusterEvent[] = [];
  return { events, on: (e) => events.push(e) };
}

describe('PostgreSQL store shared by nodes', () => {
  it('nodes that start at once migrate the schema exactly once', async () => {
    const { url, stores } = await nodes(4);
    try {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        const rows = (await c.query<{ version: number }>('SELECT version FROM ephemera_schema ORDER BY version')).rows;
        expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      } finally {
        await c.end();
      }
    } finally {
      await closeAll(stores);
    }
  });

  it('a node older than the database schema refuses to start', async () => {
    const { url, stores } = await nodes(1);
    await closeAll(stores);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query('INSERT INTO ephemera_schema (version, applied_at) VALUES (9999, 0)');
    } finally {
      await c.end();
    }
    await expect(PgStoreBackend.open({ url })).rejects.toMatchObject({ code: 'SCHEMA_TOO_NEW' });
  });

  it('two binds of one device on two nodes at once: exactly one stays, the other node is told to forget its key', async () => {
    const { stores } = await nodes(2);
    const [a, b] = stores as [PgStoreBackend, PgStoreBackend];
    try {
      const ra = recorder();
      const rb = recorder();
      await a.listen('node_a', ra.on);
      await b.listen('node_b', rb.on);
      for (let round = 0; round < 20; round++) {
        const device = randomBytes(8);
        await a.insertDevice(device, randomBytes(32), 1);
        const ida = randomBytes(16);
        const idb = randomBytes(16);
        const [x, y] = await Promise.all([a.bind(device, 'node_a', ida, 2), b.bind(device, 'node_b', idb, 2)]);
        const current = await a.currentBinding(device);
        expect(current).toBeDefined();
        // Serialised on the device row: one saw nothing, the other replaced it.
        const first = x.previous === undefined ? x : y;
        const second = first === x ? y : x;
        expect(first.previous).toBeUndefined();
        expect(second.previous?.bindingId.equals(first.current.bindingId)).toBe(true);
        expect(current!.bindingId.equals(second.current.bindingId)).toBe(true);
        // The loser's node hears about it, naming its own binding, and nobody else's.
        const loser = first.current.node === 'node_a' ? ra : rb;
        const winner = loser === ra ? rb : ra;
        const told = (r: typeof ra): ClusterEvent[] => r.events.filter((e) => e.kind === 'unbind' && e.device.equals(device));
        await waitFor(() => told(loser).length === 1, 60_000, 'unbind notification');
        const e = told(loser)[0]!;
        expect(e.kind === 'unbind' && e.bindingId.equals(first.current.bindingId)).toBe(true);
        expect(told(winner)).toEqual([]);
      }
    } finally {
      await closeAll(stores);
    }
  });

  it('a send through one node wakes the node holding the recipient; a rolled-back send wakes nobody', async () => {
    const { stores } = await nodes(2);
    const [a, b] = stores as [PgStoreBackend, PgStoreBackend];
    try {
      const ra = recorder();
      await a.listen('node_a', ra.on);
      const alice = randomBytes(8);
      const bob = randomBytes(8);
      await b.insertDevice(alice, randomBytes(32), 1);
      await b.register(alice, 'alice');
      await a.insertDevice(bob, randomBytes(32), 1);
      await a.register(bob, 'bob');
      await a.bind(bob, 'node_a', randomBytes(16), 1);
      const queued = (): number => ra.events.filter((e) => e.kind === 'queued' && e.device.equals(bob)).length;

      await expect(b.batch(async (ops) => {
        await ops.enqueue(alice, 'alice', 'bob', 'idem-rb-0001', Buffer.from('no'), 1, 10);
        throw new Error('roll back');
      })).rejects.toThrow('roll back');
      const { id } = await b.batch((ops) => ops.enqueue(alice, 'alice', 'bob', 'idem-ok-0001', Buffer.from('yes'), 2, 10));
      // A later transaction's notification as a marker: NOTIFYs arrive in commit order, so once
      // it is here every earlier one is too.
      await b.bind(bob, 'node_b', randomBytes(16), 3);
      await waitFor(() => ra.events.some((e) => e.kind === 'unbind'), 60_000, 'marker notification');
      // The rolled-back send's notification was dropped with it.
      expect(queued()).toBe(1);
      // The row is the truth: node A reads what woke it.
      expect((await a.pending(bob, 0, 10)).map((e) => [e.id, e.body.toString()])).toEqual([[id, 'yes']]);
    } finally {
      await closeAll(stores);
    }
  });

  it('after PostgreSQL restarts, the pool serves again and the listener reports resync, then hears new events', async () => {
    const { stores } = await nodes(2);
    const [a, b] = stores as [PgStoreBackend, PgStoreBackend];
    try {
      const ra = recorder();
      await a.listen('node_a', ra.on);
      const dev = randomBytes(8);
      await a.insertDevice(dev, randomBytes(32), 1);
      await a.bind(dev, 'node_a', randomBytes(16), 1);
      await server.restart();
      await waitFor(() => ra.events.some((e) => e.kind === 'resync'), 60_000, 'listener resync');
      // Pooled connections broken by the restart are replaced: the first query may fail once.
      let bound = false;
      for (let i = 0; i < 5 && !bound; i++) {
        try {
          await b.bind(dev, 'node_b', randomBytes(16), 2);
          bound = true;
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      expect(bound).toBe(true);
      await waitFor(() => ra.events.some((e) => e.kind === 'unbind' && e.device.equals(dev)), 60_000, 'unbind after restart');
    } finally {
      await closeAll(stores);
    }
  });
});
