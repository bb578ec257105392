// Envelope expiry and withdrawal on relay nodes on one PostgreSQL (pg-harness.ts): a sender on
// one node withdraws its queued envelope and sets a short ttl on another; the recipient, later
// connected to the other node, is pushed only what neither expired nor was withdrawn, and the
// purge deletes the expired row from the shared queue.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryPermanentKeyStore } from '../../main/net/stores.ts';
import type { Envelope } from '../../main/net/mailbox.ts';
import type { RunningRelay } from '../../relay/relay.ts';
import { inProcessRelay, makeClient, tempDir, waitFor, waitForState, type TestClient } from '../net/harness.ts';
import { startPostgres, type TestPostgres } from './pg-harness.ts';

let server: TestPostgres;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

describe('expiry and withdrawal on a PostgreSQL cluster', () => {
  it('pushes only what neither expired nor was withdrawn, across nodes; the purge deletes the expired row', async () => {
    const url = await server.createDatabase();
    const dir = tempDir('cluster-expiry');
    let skew = 0;
    const o = { database: url, clock: () => Date.now() + skew, envelopePurgeIntervalMs: 100 };
    const nodes: RunningRelay[] = [];
    const clients: TestClient[] = [];
    const sql = new pg.Client({ connectionString: url });
    await sql.connect();
    try {
      for (let i = 0; i < 2; i++) nodes.push(await inProcessRelay(dir.dir, o));
      const [a, b] = nodes as [RunningRelay, RunningRelay];
      const bobKeys = new MemoryPermanentKeyStore();
      const bobFirst = await makeClient(b.descriptor, { keyStore: bobKeys });
      clients.push(bobFirst);
      await bobFirst.client.start();
      await bobFirst.mailbox.register('bob');
      await bobFirst.client.stop();
      const alice = await makeClient(a.descriptor);
      clients.push(alice);
      await alice.client.start();
      await alice.mailbox.register('alice');
      await alice.mailbox.send('bob', Buffer.from('one minute'), 'idem-cx-000001', 60);
      await alice.mailbox.send('bob', Buffer.from('withdrawn'), 'idem-cx-000002');
      await alice.mailbox.send('bob', Buffer.from('kept'), 'idem-cx-000003');
      expect(await alice.client.call('withdraw', { to: 'bob', idem: 'idem-cx-000002' })).toEqual({ ok: true });
      expect(await alice.client.call('withdraw', { to: 'bob', idem: 'idem-cx-000002' })).toEqual({ ok: true });
      const count = async (): Promise<number> => Number((await sql.query<{ n: string }>('SELECT count(*) AS n FROM queue')).rows[0]!.n);
      expect(await count()).toBe(2);

      skew = 61_000;
      // The purge (on whichever node takes its lock) deletes the expired row; the count follows.
      await expect.poll(count, { timeout: 60_000 }).toBe(1);
      expect((await sql.query<{ queued: string }>("SELECT queued FROM devices WHERE handle = 'bob'")).rows[0]!.queued).toBe('1');

      const got: Envelope[] = [];
      const bob = await makeClient(b.descriptor, { keyStore: bobKeys });
      clients.push(bob);
      bob.mailbox.onEnvelope((e) => void got.push(e));
      await bob.client.start();
      await waitForState(bob.client, 'ready');
      await waitFor(() => got.length >= 1, 30_000, 'the kept envelope');
      await expect.poll(count, { timeout: 60_000 }).toBe(0); // acknowledged
      expect(got.map((e) => Buffer.from(e.body).toString())).toEqual(['kept']);
    } finally {
      for (const c of clients) await c.client.stop();
      for (const n of nodes) await n.close();
      await sql.end();
      dir.cleanup();
    }
  });
});
