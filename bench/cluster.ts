// bench/cluster (issue 17), on a throwaway PostgreSQL started here (test/relay/pg-harness.ts):
// End to end, relay processes and clients as in bench/relay:
// (A) one SQLite relay against two PostgreSQL nodes, same clients, pairs split across the two
//     nodes: delivered msg/s and relay CPU per message (both nodes' CPU; the PostgreSQL server's
//     beside it); goal: the PostgreSQL path at most 2x the CPU per message of the embedded one.
//     Each side runs the load twice on its fresh processes: the first run is reported as the
//     cold line (it includes compiling the hot path, once per process), the second carries the goal.
// (B) delivery latency p50/p99 with every pair across the two nodes against every pair on one
//     node, at a light paced load (goal p99 <= 20 ms on loopback), and under the saturating
//     load of (A) for information (a closed loop's latency there is mostly its queue).
// (C) failover: N clients on three nodes (descriptor listing all three), one envelope queued for
//     each, one node SIGKILLed: time until every client of that node is ready on another and has
//     its envelope (goal <= 3 s, as the restart wave).
// The store layer alone (the part that changes), same work on both backends:
// (1) store throughput and CPU per message: senders' envelopes stored in group-commit batches
//     (BATCH sends per transaction, as the relay commits: SQLite's batch, PostgreSQL's group
//     commit of relay/pg-group-commit.ts), the recipient's node woken, reading and acknowledging them. SQLite: all in this process. PostgreSQL: the two nodes' CPU (this
//     process) and the server's (its processes' CPU from /proc), each per message.
// (2) cross-node wake latency: a send committed through node B, until node A (which holds the
//     recipient) has been notified and has read the envelope; against the same node (commit, then
//     read), p50/p99.
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RelayStoreBackend } from '../relay/store-backend.ts';
import { PgGroupCommit } from '../relay/pg-group-commit.ts';
import { PgStoreBackend } from '../relay/store-pg.ts';
import { SqliteStoreBackend } from '../relay/store-sqlite.ts';
import { startPostgres, type TestPostgres } from '../test/relay/pg-harness.ts';
import { tempDir } from '../test/net/harness.ts';
import { emit, percentile, ratioOf, type BenchOptions } from './report.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import type { RelayDescriptor } from '../shared/protocol/descriptor.ts';
import { freePort, RelayProcess } from '../test/chaos/relay-process.ts';
import { childCpuMicros, drive, ephemeraClients, RELAY_ARGS, type BenchClient, type Endpoint } from './relay.ts';

const BATCH = 64;
const PAYLOAD = 64;

/** CPU ms of the PostgreSQL server: the postmaster and every process it started. */
function serverCpuMs(pg: TestPostgres): number {
  const pid = Number(readFileSync(join(pg.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  let ms = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(f[1]);
    if (Number(d) !== pid && ppid !== pid) continue;
    ms += (Number(f[11]) + Number(f[12])) * tick;
  }
  return ms;
}

interface Pair { sender: Buffer; senderHandle: string; recipient: Buffer; recipientHandle: string }

async function setup(store: RelayStoreBackend, n: number, tag: string): Promise<Pair[]> {
  const pairs: Pair[] = [];
  for (let i = 0; i < n; i++) {
    const sender = randomBytes(8);
    const recipient = randomBytes(8);
    await store.insertDevice(sender, randomBytes(32), 1);
    await store.insertDevice(recipient, randomBytes(32), 1);
    await store.register(sender, `s${tag}${i}`);
    await store.register(recipient, `r${tag}${i}`);
    pairs.push({ sender, senderHandle: `s${tag}${i}`, recipient, recipientHandle: `r${tag}${i}` });
  }
  return pairs;
}

/**
 * Drives `messages` sends over `pairs` in rounds of BATCH and times them with this process's
 * CPU: `round` stores one round's sends (`seq` numbers each message), then has the woken
 * recipients (`touched`) read past their `cursors` and acknowledge. Returns messages/s and CPU.
 */
async function timedRounds(
  pairs: Pair[],
  messages: number,
  round: (sends: { p: Pair; seq: number }[], touched: Pair[], cursors: Map<string, number>) => Promise<void>,
): Promise<{ rate: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const cursors = new Map<string, number>();
  for (let seq = 0; seq < messages; ) {
    const n = Math.min(BATCH, messages - seq);
    const sends = Array.from({ length: n }, (_, i) => ({ p: pairs[(seq + i) % pairs.length]!, seq: seq + i }));
    await round(sends, [...new Set(sends.map((s) => s.p))], cursors);
    seq += n;
  }
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  return { rate: messages / seconds, cpuMs: (c.user + c.system) / 1000 };
}

/**
 * `messages` envelopes: stored through `sendVia` in batches, then read and acknowledged through
 * `readVia` (the recipient's node) in batches. Returns messages/s and this process's CPU.
 */
async function throughput(sendVia: RelayStoreBackend, readVia: RelayStoreBackend, pairs: Pair[], messages: number): Promise<{ rate: number; cpuMs: number }> {
  const body = randomBytes(PAYLOAD);
  return timedRounds(pairs, messages, async (sends, touched, cursors) => {
    await sendVia.batch(async (ops) => {
      for (const { p, seq } of sends) await ops.enqueue(p.sender, p.senderHandle, p.recipientHandle, `idem-${seq}`, body, 1, 1_000_000);
    });
    // The recipients' node reads what it was woken for and acknowledges it, in one batch.
    await readVia.batch(async (ops) => {
      for (const p of touched) {
        const k = p.recipient.toString('hex');
        const rows = await ops.pending(p.recipient, cursors.get(k) ?? 0, 128);
        if (rows.length === 0) continue;
        cursors.set(k, rows[rows.length - 1]!.id);
        await ops.ack(p.recipient, rows.map((r) => r.id));
      }
    });
  });
}

/**
 * The same work through the cluster node's group commit (relay/pg-group-commit.ts), as the relay
 * runs it: BATCH sends at once (one statement), then the woken recipients' reads (one
 * statement) and acks (one statement) through the recipients' node.
 */
async function throughputGroup(sendVia: PgGroupCommit, readVia: PgGroupCommit, pairs: Pair[], messages: number, tag: string): Promise<{ rate: number; cpuMs: number }> {
  const body = randomBytes(PAYLOAD);
  return timedRounds(pairs, messages, async (sends, touched, cursors) => {
    await Promise.all(sends.map(({ p, seq }) => sendVia.enqueue(p.sender, p.senderHandle, p.recipientHandle, `${tag}-${seq}`, body, 1, 1_000_000, 1e15)));
    const read = await Promise.all(touched.map((p) => readVia.pending(p.recipient, cursors.get(p.recipient.toString('hex')) ?? 0, 128, 1)));
    await Promise.all(touched.map((p, i) => {
      const rows = read[i]!;
      if (rows.length === 0) return 0;
      cursors.set(p.recipient.toString('hex'), rows[rows.length - 1]!.id);
      return readVia.ack(p.recipient, rows.map((r) => r.id));
    }));
  });
}

/** Endpoints over Ephemera clients; `tag` makes idempotency keys unique (and long enough: >= 8 characters in all). */
function endpointsOf(clients: BenchClient[], handles: string[], tag: string): Endpoint[] {
  let seq = 0;
  return clients.map((c, i) => ({
    send: (to, payload) => {
      c.mailbox.send(handles[to]!, payload, `${tag}-${i}-${seq++}`).catch(() => undefined);
    },
    onReceive: (h) => c.mailbox.onEnvelope((e) => h(Buffer.from(e.body))),
  }));
}

/**
 * Delivery latency at a light, paced load (not saturation, where a closed loop's latency is its
 * queue): every even endpoint sends to its partner one message at a time, `gapMs` apart.
 */
async function pacedLatency(endpoints: Endpoint[], rounds: number, gapMs: number): Promise<number[]> {
  const waiting = new Map<string, () => void>();
  endpoints.forEach((ep) => ep.onReceive((p) => {
    if (p[0] !== 0x70) return;
    const k = `${p.readUInt32BE(16)}:${p.readUInt32BE(20)}`;
    waiting.get(k)?.();
    waiting.delete(k);
  }));
  const out: number[] = [];
  await Promise.all(endpoints.map(async (ep, i) => {
    if (i % 2 === 1) return;
    await new Promise((r) => setTimeout(r, (i / endpoints.length) * gapMs));
    for (let seq = 1; seq <= rounds; seq++) {
      const payload = Buffer.alloc(PAYLOAD);
      payload[0] = 0x70;
      payload.writeUInt32BE(i, 16);
      payload.writeUInt32BE(seq, 20);
      const got = new Promise<void>((r) => waiting.set(`${i}:${seq}`, r));
      const t0 = performance.now();
      ep.send(i ^ 1, payload);
      await Promise.race([got, new Promise((r) => setTimeout(r, 10_000))]);
      out.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, gapMs));
    }
  }));
  return out.sort((a, b) => a - b);
}

const cpu = (pids: (number | undefined)[]): number => pids.reduce<number>((sum, p) => sum + childCpuMicros(p), 0);

async function endToEnd(o: BenchOptions, pg: TestPostgres): Promise<void> {
  const n = o.quick ? 40 : 200;
  const seconds = o.quick ? 3 : 10;
  const params = { clients: n, seconds, load_average_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100 };
  const dirs: string[] = [];
  const procs: RelayProcess[] = [];
  const all: BenchClient[] = [];
  try {
    // (A) SQLite relay.
    dirs.push(mkdtempSync(join(tmpdir(), 'ephemera-bench-cluster-lite-')));
    const lite = await RelayProcess.start(dirs[0]!, await freePort(), RELAY_ARGS);
    procs.push(lite);
    const lc = await ephemeraClients(lite.descriptor, n, 'lite');
    all.push(...lc);
    const liteHandles = lc.map((_, i) => `lite${i}`);
    // Cold: the relay process just started (its JIT compiles the hot path meanwhile); then the
    // same load again, measured once the process is warm (a relay runs for days: that is its
    // per-message cost). Both relays get the same two runs.
    const lCold = await drive(endpointsOf(lc, liteHandles, 'lite-cold'), seconds, lite.child.pid);
    await new Promise((r) => setTimeout(r, 500));
    const l = await drive(endpointsOf(lc, liteHandles, 'lite'), seconds, lite.child.pid);
    await Promise.all(lc.map((c) => c.client.stop()));
    await lite.kill('SIGTERM');

    // (A) and (B) two PostgreSQL nodes sharing one data directory.
    const url = await pg.createDatabase();
    dirs.push(mkdtempSync(join(tmpdir(), 'ephemera-bench-cluster-pg-')));
    const args = [...RELAY_ARGS, '--database', url];
    const a = await RelayProcess.start(dirs[1]!, await freePort(), args);
    procs.push(a);
    const b = await RelayProcess.start(dirs[1]!, await freePort(), args);
    procs.push(b);
    const ca = await ephemeraClients(a.descriptor, n / 2, 'na');
    const cb = await ephemeraClients(b.descriptor, n / 2, 'nb');
    all.push(...ca, ...cb);
    // Across: endpoint 2k on A, 2k+1 on B (drive pairs i with i^1).
    const across = ca.flatMap((c, k) => [c, cb[k]!]);
    const acrossHandles = ca.flatMap((_, k) => [`na${k}`, `nb${k}`]);
    const pids = [a.child.pid, b.child.pid];
    const cold0 = cpu(pids);
    const xCold = await drive(endpointsOf(across, acrossHandles, 'cross-cold'), seconds, undefined);
    const coldUs = cpu(pids) - cold0;
    await new Promise((r) => setTimeout(r, 500));
    const c0 = cpu(pids);
    const s0 = serverCpuMs(pg);
    const x = await drive(endpointsOf(across, acrossHandles, 'cross-x'), seconds, undefined);
    const nodesUs = cpu(pids) - c0;
    const serverUs = (serverCpuMs(pg) - s0) * 1000;
    await new Promise((r) => setTimeout(r, 500));
    // Same node: pairs within A's clients and within B's.
    const same = [...ca, ...cb];
    const sameHandles = [...ca.map((_, k) => `na${k}`), ...cb.map((_, k) => `nb${k}`)];
    const y = await drive(endpointsOf(same, sameHandles, 'same-y'), seconds, undefined);
    // (B) at a light paced load: the latency of the path itself.
    await new Promise((r) => setTimeout(r, 500));
    const rounds = o.quick ? 10 : 50;
    const px = await pacedLatency(endpointsOf(across, acrossHandles, 'paced-x'), rounds, 50);
    const py = await pacedLatency(endpointsOf(same, sameHandles, 'paced-y'), rounds, 50);

    const liteUs = l.relayCpuUs / Math.max(1, l.received);
    const pgUs = nodesUs / Math.max(1, x.received);
    emit({ bench: 'cluster-throughput', value: Math.round(x.rate), unit: 'msg/s', baseline: Math.round(l.rate), ratio: ratioOf(x.rate, l.rate, true), params: { ...params, topology: 'two PostgreSQL nodes, every pair across them, vs one SQLite relay' }, target: 'information' });
    emit({ bench: 'cluster-relay-cpu-per-message', value: Math.round(pgUs), unit: 'us', baseline: Math.round(liteUs), ratio: ratioOf(pgUs, liteUs, false), params: { ...params, postgres_server_cpu_us_per_msg: Math.round(serverUs / Math.max(1, x.received)), pg_msg_per_s: Math.round(x.rate), sqlite_msg_per_s: Math.round(l.rate), after: `the same load for ${seconds} s on the fresh processes (the cold line)` }, target: '<= 2x the SQLite relay (ratio >= 0.5)' });
    const pgColdUs = coldUs / Math.max(1, xCold.received);
    const liteColdUs = lCold.relayCpuUs / Math.max(1, lCold.received);
    emit({ bench: 'cluster-relay-cpu-per-message-cold', value: Math.round(pgColdUs), unit: 'us', baseline: Math.round(liteColdUs), ratio: ratioOf(pgColdUs, liteColdUs, false), params: { ...params, pg_msg_per_s: Math.round(xCold.rate), sqlite_msg_per_s: Math.round(lCold.rate), note: 'the first seconds of fresh relay processes: includes compiling the hot path, once per process (two nodes compile it twice)' }, target: 'information' });
    for (const pct of [50, 99]) {
      const v = percentile(x.latencies, pct);
      const base = percentile(y.latencies, pct);
      emit({ bench: `cluster-cross-node-latency-saturated-p${pct}`, value: Math.round(v * 100) / 100, unit: 'ms', baseline: Math.round(base * 100) / 100, ratio: ratioOf(v, base, false), params: { ...params, under: 'the throughput load (closed loop: latency is mostly queueing)' }, target: 'information' });
      const pv = percentile(px, pct);
      const pbase = percentile(py, pct);
      emit({ bench: `cluster-cross-node-latency-p${pct}`, value: Math.round(pv * 100) / 100, unit: 'ms', baseline: Math.round(pbase * 100) / 100, ratio: ratioOf(pv, pbase, false), params: { ...params, samples: px.length, under: `paced: ${n / 2} senders, one message at a time, 50 ms apart; baseline: same node` }, target: pct === 99 ? 'p99 <= 20 ms on loopback' : 'information' });
    }
    await Promise.all(all.map((c) => c.client.stop()));
  } finally {
    for (const p of procs) await p.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

export async function failover(o: BenchOptions, pg: TestPostgres): Promise<void> {
  const n = o.quick ? 150 : 1000;
  const url = await pg.createDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-bench-failover-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const args = [...RELAY_ARGS, '--database', url, ...ports.flatMap((p) => ['--advertise', `wss://127.0.0.1:${p}`])];
  const procs: RelayProcess[] = [];
  const all: BenchClient[] = [];
  try {
    procs.push(await RelayProcess.start(dir, ports[0]!, args));
    procs.push(await RelayProcess.start(dir, ports[1]!, args), await RelayProcess.start(dir, ports[2]!, args));
    const descriptor: RelayDescriptor = procs[0]!.descriptor;
    const clients = await ephemeraClients(descriptor, n, 'fo');
    all.push(...clients);
    const [sender] = await ephemeraClients(descriptor, 1, 'fosender');
    all.push(sender!);
    // Bench only: which node a client is connected to (the client's current URL, main/net/nodes.ts).
    const nodeOf = (c: BenchClient): string => {
      const url = (c.client as unknown as { nodes?: { url?: unknown } }).nodes?.url;
      if (typeof url !== 'string') throw new Error('bench: the relay client no longer exposes nodes.url');
      return url;
    };
    // The node killed is one the sender is not on.
    const v = ports.findIndex((p) => nodeOf(sender!) !== `wss://127.0.0.1:${p}`);
    const victim = `wss://127.0.0.1:${ports[v]!}`;
    const onVictim = clients.map((c, i) => [c, i] as const).filter(([c]) => nodeOf(c) === victim && c.client.state === 'ready');
    // Nothing to measure would read as an instant failover.
    if (onVictim.length === 0) throw new Error('bench: no client on the node to kill');
    // One envelope queued for every client; no handler yet, so none is acknowledged.
    for (let i = 0; i < n; i += 100) {
      await Promise.all(clients.slice(i, i + 100).map((_, j) => sender!.mailbox.send(`fo${i + j}`, Buffer.alloc(64, 1), `fo-msg-${i + j}`)));
    }
    const gotAt = new Map<number, number>();
    const killAt = Date.now();
    await procs[v]!.kill('SIGKILL');
    for (const [c, i] of onVictim) c.mailbox.onEnvelope(() => void (gotAt.has(i) || gotAt.set(i, Date.now())));
    const end = Date.now() + 120_000;
    while (!onVictim.every(([c, i]) => gotAt.has(i) && c.client.state === 'ready' && nodeOf(c) !== victim)) {
      if (Date.now() > end) throw new Error('failover did not finish');
      await new Promise((r) => setTimeout(r, 5));
    }
    const seconds = (Math.max(killAt, ...gotAt.values()) - killAt) / 1000;
    emit({ bench: 'cluster-failover', value: Math.round(seconds * 1000) / 1000, unit: 's', baseline: null, ratio: null, params: { clients: n, on_killed_node: onVictim.length, nodes: 3, load_average_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100 }, target: '<= 3 s' });
  } finally {
    await Promise.all(all.map((c) => c.client.stop()));
    for (const p of procs) await p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(o: BenchOptions): Promise<void> {
  const messages = o.quick ? 3000 : 30000;
  const pairsN = o.quick ? 50 : 500;
  const samples = o.quick ? 200 : 2000;
  const pg = await startPostgres();
  const dir = tempDir('bench-cluster');
  try {
    // (1) SQLite store, one node.
    const lite = new SqliteStoreBackend(join(dir.dir, 'relay.db'));
    const litePairs = await setup(lite, pairsN, 'l');
    await throughput(lite, lite, litePairs, Math.min(500, messages)); // warm-up
    const l = await throughput(lite, lite, litePairs, messages);
    await lite.close();

    // (1) PostgreSQL store, two nodes: sends through A, recipients held by B.
    const url = await pg.createDatabase();
    const a = await PgStoreBackend.open({ url });
    const b = await PgStoreBackend.open({ url });
    const pgPairs = await setup(a, pairsN, 'p');
    for (const p of pgPairs) await b.bind(p.recipient, 'node_b', randomBytes(16), 1);
    let woken = 0;
    await b.listen('node_b', (e) => {
      if (e.kind === 'queued') woken++;
    });
    const ga = new PgGroupCommit(a.pool, (h) => a.deviceByHandle(h), (h) => a.byHandle.get(h));
    const gb = new PgGroupCommit(b.pool, (h) => b.deviceByHandle(h), (h) => b.byHandle.get(h));
    await throughputGroup(ga, gb, pgPairs, Math.min(500, messages), 'warm'); // warm-up (prepares statements, caches handles)
    woken = 0;
    const s0 = serverCpuMs(pg);
    const p = await throughputGroup(ga, gb, pgPairs, messages, 'run');
    const serverMs = serverCpuMs(pg) - s0;
    const params = { messages, pairs: pairsN, batch: BATCH, payload_bytes: PAYLOAD, recipients_woken: woken };
    emit({ bench: 'cluster-store-throughput', value: Math.round(p.rate), unit: 'msg/s', baseline: Math.round(l.rate), ratio: ratioOf(p.rate, l.rate, true), params, target: 'information (PostgreSQL, two nodes, vs SQLite)' });
    const nodeUs = (p.cpuMs * 1000) / messages;
    const liteUs = (l.cpuMs * 1000) / messages;
    emit({ bench: 'cluster-store-node-cpu-per-message', value: Math.round(nodeUs * 10) / 10, unit: 'us', baseline: Math.round(liteUs * 10) / 10, ratio: ratioOf(nodeUs, liteUs, false), params, target: '<= 2x the embedded store (ratio >= 0.5)' });
    const serverUs = (serverMs * 1000) / messages;
    emit({ bench: 'cluster-store-server-cpu-per-message', value: Math.round(serverUs * 10) / 10, unit: 'us', baseline: Math.round(liteUs * 10) / 10, ratio: ratioOf(serverUs, liteUs, false), params, target: 'information (PostgreSQL server processes; sizes one PostgreSQL)' });

    // (2) Wake latency: through B for a recipient held by A, against through A itself.
    const [one] = await setup(a, 1, 'w');
    const q = one!;
    await a.bind(q.recipient, 'node_a', randomBytes(16), 1);
    let wake: (() => void) | undefined;
    await a.listen('node_a', (e) => {
      if (e.kind === 'queued') wake?.();
    });
    let cursor = 0;
    const measure = async (via: PgStoreBackend, cross: boolean, i: number): Promise<number> => {
      const woke = cross ? new Promise<void>((r) => (wake = r)) : Promise.resolve();
      const t0 = performance.now();
      await via.batch((ops) => ops.enqueue(q.sender, q.senderHandle, q.recipientHandle, `lat-${cross ? 'x' : 's'}-${i}`, randomBytes(PAYLOAD), 1, 1_000_000));
      await woke;
      const rows = await a.pending(q.recipient, cursor, 16);
      const t1 = performance.now();
      cursor = rows[rows.length - 1]?.id ?? cursor;
      await a.ack(q.recipient, rows.map((r) => r.id));
      return t1 - t0;
    };
    const cross: number[] = [];
    const same: number[] = [];
    for (let i = 0; i < samples; i++) {
      cross.push(await measure(b, true, i));
      same.push(await measure(a, false, i));
    }
    cross.sort((x, y) => x - y);
    same.sort((x, y) => x - y);
    for (const pct of [50, 99]) {
      const v = percentile(cross, pct);
      const base = percentile(same, pct);
      emit({ bench: `cluster-store-cross-node-latency-p${pct}`, value: Math.round(v * 100) / 100, unit: 'ms', baseline: Math.round(base * 100) / 100, ratio: ratioOf(v, base, false), params: { samples }, target: pct === 99 ? 'p99 <= 20 ms on loopback' : 'information' });
    }
    await a.close();
    await b.close();

    await endToEnd(o, pg);
    await failover(o, pg);
  } finally {
    await pg.stop();
    dir.cleanup();
  }
}
