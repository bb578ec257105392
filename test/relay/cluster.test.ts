// Relay nodes on one PostgreSQL (a throwaway server, pg-harness.ts) sharing one data directory:
// an envelope sent through one node reaches a device connected to another, pushed (not polled);
// two binds of one device on two nodes at once leave exactly one temp key in the cluster; and
// no temp key (captured as it is made, through the test-only key observer) is in a pg_dump or
// in the data directory; an attachment blob is shared by the nodes through PostgreSQL.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pgDriver from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryPermanentKeyStore } from '../../main/net/stores.ts';
import type { Envelope } from '../../main/net/mailbox.ts';
import { installKeyObserverForTests } from '../../shared/protocol/key-observer.ts';
import { MAX_BLOB_CHUNK_BYTES } from '../../shared/protocol/methods.ts';
import type { RunningRelay } from '../../relay/relay.ts';
import type { ClusterEvent } from '../../relay/store-backend.ts';
import { nodeChannel } from '../../relay/store-pg.ts';
import { inProcessRelay, makeClient, tempDir, waitFor, waitForState, type TestClient } from '../net/harness.ts';
import { startPostgres, type TestPostgres } from './pg-harness.ts';

let pg: TestPostgres;
const tempKeys = new Set<string>();
beforeAll(async () => {
  pg = await startPostgres();
  installKeyObserverForTests((label, key) => {
    if (label.startsWith('temp.')) tempKeys.add(Buffer.from(key).toString('hex'));
  });
});
afterAll(async () => {
  installKeyObserverForTests(undefined);
  await pg?.stop();
});

async function cluster(n: number): Promise<{ url: string; dir: { dir: string; cleanup: () => void }; nodes: RunningRelay[] }> {
  const url = await pg.createDatabase();
  const dir = tempDir('cluster');
  const nodes: RunningRelay[] = [];
  // One after another: the first creates the identity files the others then load.
  for (let i = 0; i < n; i++) nodes.push(await inProcessRelay(dir.dir, { database: url }));
  return { url, dir, nodes };
}

async function shutdown(c: { dir: { cleanup: () => void }; nodes: RunningRelay[] }, clients: TestClient[]): Promise<void> {
  for (const x of clients) await x.client.stop();
  for (const n of c.nodes) await n.close();
  c.dir.cleanup();
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('relay cluster on PostgreSQL', () => {
  it('an envelope sent through one node is pushed to its recipient on another, both ways', async () => {
    const c = await cluster(2);
    const [a, b] = c.nodes as [RunningRelay, RunningRelay];
    const clients: TestClient[] = [];
    try {
      // Each client pinned to one node (a descriptor naming only that node's URL).
      const alice = await makeClient(a.descriptor);
      const bob = await makeClient(b.descriptor);
      clients.push(alice, bob);
      const got = { alice: [] as Envelope[], bob: [] as Envelope[] };
      alice.mailbox.onEnvelope((e) => void got.alice.push(e));
      bob.mailbox.onEnvelope((e) => void got.bob.push(e));
      await alice.client.start();
      await bob.client.start();
      await alice.mailbox.register('alice');
      await bob.mailbox.register('bob');
      // Handles are one directory for the whole cluster.
      expect((await alice.mailbox.resolve('bob')).handle).toBe('bob');
      for (let i = 0; i < 5; i++) await alice.mailbox.send('bob', Buffer.from(`a2b-${i}`));
      await bob.mailbox.send('alice', Buffer.from('b2a'));
      await waitFor(() => got.bob.length === 5 && got.alice.length === 1, 30_000, 'cross-node pushes');
      expect(got.bob.map((e) => [e.from, Buffer.from(e.body).toString()])).toEqual([0, 1, 2, 3, 4].map((i) => ['alice', `a2b-${i}`]));
      expect(Buffer.from(got.alice[0]!.body).toString()).toBe('b2a');
      // The data directory of nodes on PostgreSQL holds no database.
      expect(readdirSync(c.dir.dir).filter((f) => f.startsWith('relay.db'))).toEqual([]);
    } finally {
      await shutdown(c, clients);
    }
  });

  it('two binds of one device on two nodes at once leave exactly one temp key in the cluster; no temp key is in the database or DIR', async () => {
    const c = await cluster(2);
    const [a, b] = c.nodes as [RunningRelay, RunningRelay];
    const clients: TestClient[] = [];
    try {
      // Two clients with one permanent key: one device, binding on A and on B at the same time.
      const keyStore = new MemoryPermanentKeyStore();
      const x = await makeClient(a.descriptor, { keyStore });
      const y = await makeClient(b.descriptor, { keyStore });
      clients.push(x, y);
      await Promise.all([x.client.start(), y.client.start()]);
      await Promise.all([waitForState(x.client, 'ready'), waitForState(y.client, 'ready')]);
      // Whichever bound last holds the one key; the other node forgot its key.
      await waitFor(() => a.core.tempKeyCount + b.core.tempKeyCount === 1, 30_000, 'one temp key in the cluster');

      const dump = pg.dump(new URL(c.url).pathname.slice(1));
      const files = filesUnder(c.dir.dir).map((f) => readFileSync(f));
      expect(tempKeys.size).toBeGreaterThan(0);
      for (const hex of tempKeys) {
        const key = Buffer.from(hex, 'hex');
        expect(dump.includes(key) || dump.includes(Buffer.from(hex))).toBe(false);
        for (const f of files) expect(f.includes(key) || f.includes(Buffer.from(hex))).toBe(false);
      }
    } finally {
      await shutdown(c, clients);
    }
  });

  it('a node told to forget a binding whose bind it has not finished yet forgets that key once the bind finishes', async () => {
    // The window CI hit under load: A's bind is committed in PostgreSQL, then B's bind replaces it
    // and A hears 'u:device:A-binding' before A has taken in its own bind's answer. Holding A's
    // answer until the notification is in makes that order certain.
    const c = await cluster(2);
    const [a, b] = c.nodes as [RunningRelay, RunningRelay];
    const clients: TestClient[] = [];
    try {
      // A's store answers its bind (committed) only when released.
      const store = a.core.cluster!.backend;
      const realBind = store.bind.bind(store);
      let committedOnA = false;
      let releaseA: () => void = () => undefined;
      const heldA = new Promise<void>((resolve) => (releaseA = resolve));
      store.bind = async (permKeyId, node, bindingId, now) => {
        const r = await realBind(permKeyId, node, bindingId, now);
        committedOnA = true;
        await heldA;
        return r;
      };
      const heardByA: ClusterEvent[] = [];
      const realEvent = a.core.clusterEvent.bind(a.core);
      a.core.clusterEvent = (e) => {
        heardByA.push(e);
        realEvent(e);
      };

      const keyStore = new MemoryPermanentKeyStore();
      const x = await makeClient(a.descriptor, { keyStore });
      const y = await makeClient(b.descriptor, { keyStore });
      clients.push(x, y);
      await x.client.start();
      await waitFor(() => committedOnA, 30_000, "A's bind committed");
      await y.client.start();
      await waitForState(y.client, 'ready');
      // B's bind is committed, and with it the 'unbind' to A. A listener gets notifications in
      // commit order, so once a marker notified after it reaches A's core, A has the unbind too.
      const marker = randomBytes(8);
      const notifier = new pgDriver.Client({ connectionString: c.url });
      await notifier.connect();
      try {
        await notifier.query('SELECT pg_notify($1, $2)', [nodeChannel(a.core.cluster!.node), `q:${marker.toString('hex')}`]);
      } finally {
        await notifier.end();
      }
      await waitFor(() => heardByA.some((e) => e.kind === 'queued' && e.device.equals(marker)), 30_000, 'the marker after the unbind reached A');
      releaseA();
      await waitForState(x.client, 'ready');
      // B's bind came last: B holds the device's one key, A none.
      await waitFor(() => a.core.tempKeyCount + b.core.tempKeyCount === 1, 30_000, 'one temp key in the cluster');
      expect(a.core.tempKeyCount).toBe(0);
      expect(b.core.tempKeyCount).toBe(1);
    } finally {
      await shutdown(c, clients);
    }
  });

  it('an attachment blob uploaded through one node is read and released through another; its bytes are in PostgreSQL, not DIR', async () => {
    const c = await cluster(2);
    const [a, b] = c.nodes as [RunningRelay, RunningRelay];
    const clients: TestClient[] = [];
    try {
      const keyStore = new MemoryPermanentKeyStore();
      const alice = await makeClient(a.descriptor, { keyStore });
      const bob = await makeClient(b.descriptor);
      clients.push(alice, bob);
      await alice.client.start();
      await bob.client.start();
      await alice.client.call('register', { handle: 'alice' });
      await bob.client.call('register', { handle: 'bob' });
      const content = randomBytes(MAX_BLOB_CHUNK_BYTES + 500);
      const { id } = await alice.client.call('blob.create', { size: content.length, recipients: ['bob'] });
      await alice.client.call('blob.put', { id, offset: 0, data: content.subarray(0, MAX_BLOB_CHUNK_BYTES) });
      // The acknowledged length is the cluster's: a re-send through the other node writes nothing.
      await alice.client.stop();
      const alice2 = await makeClient(b.descriptor, { keyStore });
      clients.push(alice2);
      await alice2.client.start();
      expect(await alice2.client.call('blob.put', { id, offset: 0, data: randomBytes(MAX_BLOB_CHUNK_BYTES) })).toEqual({ length: MAX_BLOB_CHUNK_BYTES });
      expect(await alice2.client.call('blob.put', { id, offset: MAX_BLOB_CHUNK_BYTES, data: content.subarray(MAX_BLOB_CHUNK_BYTES) })).toEqual({ length: content.length });
      const first = await bob.client.call('blob.get', { id, offset: 0, length: MAX_BLOB_CHUNK_BYTES });
      const rest = await bob.client.call('blob.get', { id, offset: MAX_BLOB_CHUNK_BYTES, length: 500 });
      expect(Buffer.concat([first.data, rest.data]).equals(content)).toBe(true);
      // The nodes keep no blob files: the data directory holds no byte of it.
      const needle = content.subarray(1000, 1064);
      for (const f of filesUnder(c.dir.dir)) expect(readFileSync(f).includes(needle)).toBe(false);
      expect(await bob.client.call('blob.done', { id })).toEqual({ deleted: true });
      await expect(alice2.client.call('blob.status', { id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    } finally {
      await shutdown(c, clients);
    }
  });
});
