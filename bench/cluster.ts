// bench/cluster: the relay's store layer on PostgreSQL (two nodes) against the embedded SQLite
// store, same work, one run, on a throwaway PostgreSQL started here (test/relay/pg-harness.ts).
// The relay process does not run on PostgreSQL yet (issue 17: the store is there, the relay's
// wiring is not), so this measures what the store costs per message, the part that changes:
// (1) store throughput and CPU per message: senders' envelopes stored in group-commit batches
//     (BATCH sends per transaction, as the relay commits), the recipient's node woken, reading
//     and acknowledging them. SQLite: all in this process. PostgreSQL: the two nodes' CPU (this
//     process) and the server's (its processes' CPU from /proc), each per message.
// (2) cross-node wake latency: a send committed through node B, until node A (which holds the
//     recipient) has been notified and has read the envelope; against the same node (commit, then
//     read), p50/p99.
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RelayStoreBackend } from '../relay/store-backend.ts';
import { PgStoreBackend } from '../relay/store-pg.ts';
import { SqliteStoreBackend } from '../relay/store-sqlite.ts';
import { startPostgres, type TestPostgres } from '../test/relay/pg-harness.ts';
import { tempDir } from '../test/net/harness.ts';
import { emit, percentile, ratioOf, type BenchOptions } from './report.ts';

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
 * `messages` envelopes: stored through `sendVia` in batches, then read and acknowledged through
 * `readVia` (the recipient's node) in batches. Returns messages/s and this process's CPU.
 */
async function throughput(sendVia: RelayStoreBackend, readVia: RelayStoreBackend, pairs: Pair[], messages: number): Promise<{ rate: number; cpuMs: number }> {
  const body = randomBytes(PAYLOAD);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let seq = 0;
  const cursors = new Map<string, number>();
  while (seq < messages) {
    const n = Math.min(BATCH, messages - seq);
    const touched = new Set<Pair>();
    await sendVia.batch(async (ops) => {
      for (let i = 0; i < n; i++) {
        const p = pairs[(seq + i) % pairs.length]!;
        await ops.enqueue(p.sender, p.senderHandle, p.recipientHandle, `idem-${seq + i}`, body, 1, 1_000_000);
        touched.add(p);
      }
    });
    seq += n;
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
  }
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  return { rate: messages / seconds, cpuMs: (c.user + c.system) / 1000 };
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
    await throughput(a, b, pgPairs, Math.min(500, messages)); // warm-up (prepares statements)
    woken = 0;
    const s0 = serverCpuMs(pg);
    const p = await throughput(a, b, pgPairs, messages);
    const serverMs = serverCpuMs(pg) - s0;
    const params = { messages, pairs: pairsN, batch: BATCH, payload_bytes: PAYLOAD, notifications: woken };
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
  } finally {
    await pg.stop();
    dir.cleanup();
  }
}
