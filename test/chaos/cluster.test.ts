// Cluster chaos: three relay node processes on one PostgreSQL (a throwaway server) share one
// data directory and one descriptor listing all three; 60 clients, spread over the nodes by
// their random pick, stream messages to each other. Mid-stream one node is SIGKILLed (its
// clients re-bind on the others), PostgreSQL itself is restarted, then the dead node comes back.
// Every message arrives exactly once, in order per sender; every client ends ready; no temp key
// (captured as it is made, through the test-only key observer) is in a pg_dump or the data
// directory. Bounded: 60 x 20 messages, each wait capped.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installKeyObserverForTests } from '../../shared/protocol/key-observer.ts';
import { makeClient, tempDir, waitFor, type TestClient } from '../net/harness.ts';
import { startPostgres, type TestPostgres } from '../relay/pg-harness.ts';
import { freePort, RelayProcess } from './relay-process.ts';

const CLIENTS = 60;
const PER_SENDER = 20;
const WINDOW = 4;

let pg: TestPostgres | undefined;
const t = tempDir('chaos-cluster');
const procs: RelayProcess[] = [];
const clients: TestClient[] = [];
const tempKeys = new Set<string>();

beforeAll(async () => {
  pg = await startPostgres();
  installKeyObserverForTests((label, key) => {
    if (label.startsWith('temp.')) tempKeys.add(Buffer.from(key).toString('hex'));
  });
});

afterAll(async () => {
  installKeyObserverForTests(undefined);
  for (const c of clients) await c.client.stop();
  for (const p of procs) await p.kill();
  await pg?.stop();
  t.cleanup();
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('relay cluster chaos', () => {
  it('three nodes, 60 clients: a node killed and PostgreSQL restarted mid-stream; every message once, in order', { timeout: 600_000 }, async () => {
    const server = pg!;
    const url = await server.createDatabase();
    const ports = [await freePort(), await freePort(), await freePort()];
    const args = ['--database', url, ...ports.flatMap((p) => ['--advertise', `wss://127.0.0.1:${p}`])];
    // The first node creates the identity files; the others load them.
    procs.push(await RelayProcess.start(t.dir, ports[0]!, args));
    procs.push(...(await Promise.all([RelayProcess.start(t.dir, ports[1]!, args), RelayProcess.start(t.dir, ports[2]!, args)])));
    const descriptor = procs[2]!.descriptor;
    expect(descriptor.urls).toHaveLength(3);

    for (let i = 0; i < CLIENTS; i++) clients.push(await makeClient(descriptor));
    await Promise.all(clients.map((c) => c.client.start()));
    await waitFor(() => clients.every((c) => c.client.state === 'ready'), 60_000, 'all clients ready');
    await Promise.all(clients.map((c, i) => c.mailbox.register(`user${i}`)));

    const received = clients.map(() => [] as string[]);
    clients.forEach((c, i) => c.mailbox.onEnvelope((e) => void received[i]!.push(`${e.from}:${Buffer.from(e.body).toString()}`)));
    const total = (): number => received.reduce((n, r) => n + r.length, 0);

    // Client i streams to client i+1.
    async function stream(i: number): Promise<void> {
      const from = clients[i]!;
      const to = `user${(i + 1) % CLIENTS}`;
      const inflight = new Set<Promise<unknown>>();
      for (let k = 0; k < PER_SENDER; k++) {
        while (inflight.size >= WINDOW) await Promise.race(inflight);
        const p = from.mailbox.send(to, Buffer.from(String(k)), `u${i}-msg-${String(k).padStart(6, '0')}`);
        const q = p.finally(() => inflight.delete(q));
        inflight.add(q);
      }
      await Promise.all(inflight);
    }
    const streams = Promise.all(clients.map((_, i) => stream(i)));

    const all = CLIENTS * PER_SENDER;
    await waitFor(() => total() >= all / 4, 120_000, 'a quarter of the messages');
    const statesAtKill = clients.map((c) => c.states.length);
    await procs[0]!.kill('SIGKILL');
    await waitFor(() => total() >= all / 2, 120_000, 'half of the messages');
    await server.restart();
    await waitFor(() => total() >= (3 * all) / 4, 120_000, 'three quarters of the messages');
    procs.push(await RelayProcess.start(t.dir, ports[0]!, args));
    await streams;
    await waitFor(() => total() >= all, 120_000, 'every message');
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would show up now

    received.forEach((got, i) => {
      const sender = (i + CLIENTS - 1) % CLIENTS;
      expect(got).toEqual(Array.from({ length: PER_SENDER }, (_, k) => `user${sender}:${k}`));
    });
    // The dead node's clients (some, with 60 random picks over 3 nodes) re-bound elsewhere;
    // every client is ready in the end.
    const rebound = clients.filter((c, i) => c.states.slice(statesAtKill[i]!).includes('rebinding'));
    expect(rebound.length).toBeGreaterThan(0);
    await waitFor(() => clients.every((c) => c.client.state === 'ready'), 60_000, 'all clients ready at the end');
    // The nodes that were not killed lived through PostgreSQL's restart.
    const survivors = procs.slice(1, 3).map((p) => ({ code: p.child.exitCode, signal: p.child.signalCode }));
    expect(survivors).toEqual([{ code: null, signal: null }, { code: null, signal: null }]);

    // No temp key ever reached the database or the data directory.
    const dump = server.dump(new URL(url).pathname.slice(1));
    const files = filesUnder(t.dir).map((f) => readFileSync(f));
    expect(tempKeys.size).toBeGreaterThanOrEqual(CLIENTS * 2);
    for (const hex of tempKeys) {
      const key = Buffer.from(hex, 'hex');
      expect(dump.includes(key) || dump.includes(Buffer.from(hex))).toBe(false);
      for (const f of files) expect(f.includes(key) || f.includes(Buffer.from(hex))).toBe(false);
    }
  });
});
