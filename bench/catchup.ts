// bench/catchup (issue 18): what a user feels after being offline, through the real Messenger
// and a relay child process on loopback.
// (1) Catch-up: S senders (each its own profile and contact) queue M envelopes each at the relay
//     while the recipient's app is closed; then the recipient's profile is opened and unlocked.
//     Timed from unlock until every message is decrypted and committed (the `message` event
//     fires after the commit), acknowledged (the relay's queue for the recipient is empty) and
//     searchable (the newest message of every sender is found by search, which indexes all
//     that came before it). Meanwhile this process's event-loop delay (monitorEventLoopDelay,
//     10 ms resolution): the recipient's Messenger runs on this main thread, as it does in the
//     app's main process, so a long blocking step shows here as a frozen window would.
// (2) Sequential sends: one process sending and receiving (both Messengers here), each
//     sendText awaited, until the recipient has committed all: what `e2e.throughput` measures.
// Profiles use the test Argon2id parameters (unlock's key derivation is not what is measured).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session as InspectorSession } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { openMessenger, type Messenger } from '../main/messenger.ts';
import { TEST_KDF } from '../main/vault/index.ts';
import { freePort, RelayProcess } from '../test/chaos/relay-process.ts';
import { emit, type BenchOptions } from './report.ts';
import { emitRequiredFloor } from './catchup-floor.ts';
import { signalDecryptFloor } from './signal-floor.ts';

const PASSWORD = 'bench password';
const RECIPIENT = 'recipient';
/** Bench profiles all come from 127.0.0.1: lift the per-address budgets meant for strangers. */
const RELAY_ARGS = ['--new-device-burst', '100000', '--max-connections-per-address', '100000', '--queue-limit', '1000000'];

const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;
/** One unique search token per message: sender s, message i. */
const token = (s: number, i: number): string => `tok${s}x${i}`;
const textOf = (s: number, i: number): string => `Catching up, message ${i} from contact ${s}: ${token(s, i)} and some ordinary words.`;

async function waitUntil(pred: () => boolean, ms: number, what: string, stepMs = 5): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

async function newProfile(dir: string, handle: string, descriptorText: string): Promise<Messenger> {
  const m = await openMessenger({ profileDir: dir, kdf: TEST_KDF });
  await m.createVault({ password: PASSWORD });
  await m.register({ handle, serverDescriptor: descriptorText });
  return m;
}

/**
 * Sealed message segments per stored message in the recipient's closed vault: load-independent
 * (a receive batch's texts of one conversation share one segment, messages/batch-segments.ts).
 */
function segmentsPerMessage(profileDir: string): number {
  const db = new Database(join(profileDir, 'vault.db'), { readonly: true, fileMustExist: true });
  try {
    const r = db.prepare('SELECT (SELECT COUNT(*) FROM message_segments) AS s, (SELECT COUNT(*) FROM messages) AS m').get() as { s: number; m: number };
    return r.m > 0 ? r.s / r.m : 0;
  } finally {
    db.close();
  }
}

/** Envelopes the relay still holds for `handle` (read-only, beside the running relay; WAL allows it). */
function queuedFor(relayDataDir: string): (handle: string) => number {
  const db = new Database(join(relayDataDir, 'relay.db'), { readonly: true, fileMustExist: true });
  const st = db.prepare('SELECT COUNT(*) AS n FROM queue q JOIN devices d ON q.recipient = d.perm_key_id WHERE d.handle = ?');
  return (handle) => (st.get(handle) as { n: number }).n;
}

/**
 * One durable commit, alone: a row of an envelope's size inserted and committed in its own
 * transaction on a WAL database with the vault's pragmas (synchronous FULL: an fsync each), µs.
 * A sequential send that is committed before the next starts cannot be faster than this.
 */
function durableCommitFloorUs(dir: string, count: number): number {
  const db = new Database(join(dir, 'commit-floor.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB NOT NULL)');
    const insert = db.prepare('INSERT INTO t (b) VALUES (?)');
    const one = db.transaction((b: Buffer) => insert.run(b));
    const row = Buffer.alloc(300, 1);
    const t0 = performance.now();
    for (let i = 0; i < count; i++) one(row);
    return ((performance.now() - t0) * 1000) / count;
  } finally {
    db.close();
  }
}

/**
 * With CATCHUP_CPU_PROFILE=<dir>, a V8 CPU profile of this process over the timed window only
 * (the queueing phase and the senders' setup left out), written as <dir>/<phase>.cpuprofile.
 */
async function startProfile(): Promise<{ stop(phase: string): Promise<void> } | undefined> {
  const dir = process.env.CATCHUP_CPU_PROFILE;
  if (!dir) return undefined;
  const session = new InspectorSession();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return {
    async stop(phase) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(join(dir, `${phase}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/**
 * With CATCHUP_HEAP_PROFILE=<dir>, a sampling heap profile (V8's allocation sampler, 32 KiB mean
 * interval, collected objects kept) of this process over the timed window, as
 * <dir>/<phase>.heapprofile: what allocates per message (the major GCs of a catch-up).
 */
async function startHeapProfile(): Promise<{ stop(phase: string): Promise<void> } | undefined> {
  const dir = process.env.CATCHUP_HEAP_PROFILE;
  if (!dir) return undefined;
  const session = new InspectorSession();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', { samplingInterval: 32 * 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return {
    async stop(phase) {
      const { profile } = await session.post('HeapProfiler.stopSampling');
      writeFileSync(join(dir, `${phase}.heapprofile`), JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/**
 * With CATCHUP_LOOP_TRACE=<file>, every stretch of the timed window in which a 1 ms timer could
 * not run for more than 15 ms, as JSON lines {startUs, endUs} on the clock of the CPU profile
 * (monotonic µs), so a profile's samples can be matched to what held the main thread.
 */
function startLoopTrace(): { stop(): void } | undefined {
  const file = process.env.CATCHUP_LOOP_TRACE;
  if (!file) return undefined;
  const gaps: string[] = [];
  const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
  let last = nowUs();
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    const now = nowUs();
    if (now - last > 15_000) gaps.push(JSON.stringify({ startUs: last, endUs: now }));
    last = now;
    timer = setTimeout(tick, 1);
  };
  timer = setTimeout(tick, 1);
  return {
    stop() {
      clearTimeout(timer);
      writeFileSync(file, gaps.join('\n') + '\n');
    },
  };
}

async function sequentialSends(root: string, descriptorText: string, count: number): Promise<{ rate: number; cpuUs: number }> {
  const alice = await newProfile(join(root, 'seq-alice'), 'seq_alice', descriptorText);
  const bob = await newProfile(join(root, 'seq-bob'), 'seq_bob', descriptorText);
  try {
    let committed = 0;
    bob.subscribe((e) => {
      if (e.name === 'message' && e.payload.direction === 'in') committed++;
    });
    const conv = (await alice.contactAdd({ handle: 'seq_bob' })).conversationId;
    // Warm-up: the PreKey message and a reply, so both sides are on the normal path.
    await alice.sendText({ conversationId: conv, text: 'hello' });
    await waitUntil(() => committed >= 1, 30_000, 'first message');
    const back = (await bob.contactsList())[0];
    if (!back) throw new Error('bob has no contact');
    await bob.sendText({ conversationId: back.conversationId, text: 'hi' });
    await alice.sync({ timeoutMs: 30_000, quietMs: 50 });
    await bob.sync({ timeoutMs: 30_000, quietMs: 50 });
    const target = committed + count;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const profiler = await startProfile();
    for (let i = 0; i < count; i++) await alice.sendText({ conversationId: conv, text: textOf(0, i) });
    await waitUntil(() => committed >= target, 300_000, 'sequential sends committed');
    const cpu = process.cpuUsage(cpu0);
    await profiler?.stop('sequential');
    return { rate: count / ((performance.now() - t0) / 1000), cpuUs: (cpu.user + cpu.system) / count };
  } finally {
    await alice.close();
    await bob.close();
  }
}

interface CatchUp {
  seconds: number;
  committedAt: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  queueSeconds: number;
  /** CPU of this process (the recipient's app) and of the relay child during the catch-up, per message. */
  appCpuUs: number;
  /** Of appCpuUs, the main thread's share and the other threads' (a thread that ended inside the window is missed). */
  mainThreadCpuUs: number;
  otherThreadsCpuUs: number;
  /** The other threads by name (/proc comm), µs per message each, largest first. */
  otherThreads: string;
  relayCpuUs: number;
  /** 'conversation' events (summaries read and announced) and delivered receipts the relay holds for the senders, both by the window's end. */
  summaries: number;
  receipts: number;
}

/**
 * utime + stime of this process's threads so far (µs, Linux /proc), the main thread apart from
 * the rest (workers: search mirror, libuv's pool, V8's GC helpers): the main thread is what
 * bounds a catch-up, as long as the second core has room for the others. NaN elsewhere.
 */
function threadCpuMicros(): { main: number; others: Map<string, number>; names: Map<string, string> } {
  const others = new Map<string, number>();
  const names = new Map<string, string>();
  let main = Number.NaN;
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      } catch {
        continue; // the thread ended meanwhile
      }
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const us = (Number(f[11]) + Number(f[12])) * 10_000;
      if (tid === String(process.pid)) main = us;
      else {
        others.set(tid, us);
        names.set(tid, stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
      }
    }
  } catch {
    // not Linux
  }
  return { main, others, names };
}

/** utime + stime of a child process so far (µs, Linux /proc); NaN elsewhere. */
function childCpuMicros(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10_000;
  } catch {
    return Number.NaN;
  }
}

async function catchUp(root: string, relay: RelayProcess, relayDir: string, descriptorText: string, senders: number, perSender: number): Promise<CatchUp> {
  const total = senders * perSender;
  const recipientDir = join(root, 'recipient');
  // The recipient registers (its prekeys go up), then its app is closed.
  await (await newProfile(recipientDir, RECIPIENT, descriptorText)).close();

  const q0 = performance.now();
  const profiles: Messenger[] = [];
  try {
    for (let s = 0; s < senders; s++) profiles.push(await newProfile(join(root, `sender-${s}`), `sender_${s}`, descriptorText));
    await Promise.all(
      profiles.map(async (m, s) => {
        const conv = (await m.contactAdd({ handle: RECIPIENT })).conversationId;
        for (let i = 0; i < perSender; i++) await m.sendText({ conversationId: conv, text: textOf(s, i) });
        if (!(await m.sync({ timeoutMs: 120_000, quietMs: 50 })).done) throw new Error(`sender ${s} did not get its sends to the relay`);
      }),
    );
  } finally {
    for (const m of profiles) await m.close();
  }
  const queued = queuedFor(relayDir);
  if (queued(RECIPIENT) !== total) throw new Error(`the relay holds ${queued(RECIPIENT)} envelopes for the recipient, expected ${total}`);
  const queueSeconds = (performance.now() - q0) / 1000;

  const recipient = await openMessenger({ profileDir: recipientDir, kdf: TEST_KDF });
  let committed = 0;
  let summaries = 0;
  recipient.subscribe((e) => {
    if (e.name === 'message' && e.payload.direction === 'in') committed++;
    else if (e.name === 'conversation') summaries++;
  });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  try {
    loop.enable();
    const cpu0 = process.cpuUsage();
    const threads0 = threadCpuMicros();
    const relayCpu0 = childCpuMicros(relay.child.pid);
    const profiler = await startProfile();
    const heapProfiler = await startHeapProfile();
    const trace = startLoopTrace();
    const t0 = performance.now();
    await recipient.unlock({ password: PASSWORD });
    await waitUntil(() => committed >= total, 600_000, 'all messages committed', 20);
    const committedAt = (performance.now() - t0) / 1000;
    await waitUntil(() => queued(RECIPIENT) === 0, 60_000, 'all envelopes acknowledged', 20);
    for (let s = 0; s < senders; s++) {
      const r = await recipient.search({ query: token(s, perSender - 1), order: 'newest', limit: 1 });
      if (r.hits.length !== 1) throw new Error(`the newest message from contact ${s} is not searchable`);
    }
    const seconds = (performance.now() - t0) / 1000;
    loop.disable();
    trace?.stop();
    await profiler?.stop('catchup');
    await heapProfiler?.stop('catchup');
    const cpu = process.cpuUsage(cpu0);
    const threads1 = threadCpuMicros();
    let othersUs = 0;
    const byName = new Map<string, number>();
    for (const [tid, us] of threads1.others) {
      const d = us - (threads0.others.get(tid) ?? 0);
      othersUs += d;
      const name = threads1.names.get(tid) ?? '?';
      byName.set(name, (byName.get(name) ?? 0) + d);
    }
    const otherThreads = [...byName].filter(([, us]) => us > 0).sort((a, b) => b[1] - a[1]).map(([n, us]) => `${n} ${Math.round(us / total)}`).join(', ');
    const relayCpuUs = (childCpuMicros(relay.child.pid) - relayCpu0) / total;
    // The senders are closed: what the relay holds for them is the recipient's receipts.
    let receipts = 0;
    for (let s = 0; s < senders; s++) receipts += queued(`sender_${s}`);
    return { seconds, committedAt, p99Ms: loop.percentile(99) / 1e6, maxMs: loop.max / 1e6, meanMs: loop.mean / 1e6, queueSeconds, appCpuUs: (cpu.user + cpu.system) / total, mainThreadCpuUs: (threads1.main - threads0.main) / total, otherThreadsCpuUs: othersUs / total, otherThreads, relayCpuUs, summaries, receipts };
  } finally {
    loop.disable();
    await recipient.close();
  }
}

function sizeFromEnv(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new Error(`${name} must be an integer in 1..100000`);
  return n;
}

export async function main(opts: BenchOptions): Promise<void> {
  // Quick mode keeps CI's run under a minute on two cores; full mode is the 10,000 from 50.
  // CATCHUP_SENDERS / CATCHUP_PER_SENDER override the sizes (profiling and paired runs).
  const senders = sizeFromEnv('CATCHUP_SENDERS') ?? (opts.quick ? 10 : 50);
  const perSender = sizeFromEnv('CATCHUP_PER_SENDER') ?? (opts.quick ? 50 : 200);
  const sequential = opts.quick ? 200 : 2000;
  const root = mkdtempSync(join(tmpdir(), 'ephemera-bench-catchup-'));
  const relayDir = join(root, 'relay');
  let relay: RelayProcess | undefined;
  try {
    relay = await RelayProcess.start(relayDir, await freePort(), RELAY_ARGS);
    const descriptorText = JSON.stringify(relay.descriptor);
    const total = senders * perSender;
    // CATCHUP_ONLY=1: the catch-up and its floor alone (profiling runs); CATCHUP_ONLY=sequential:
    // the sequential sends and their floor alone (paired runs of the send path).
    const only = process.env.CATCHUP_ONLY;
    // The floor, in the same run: libsignal's decrypt of as many PreKey messages from as many
    // contacts, alone, in memory (bench/signal-floor.ts). No receive path can beat 1e6 / this.
    let floor: Awaited<ReturnType<typeof signalDecryptFloor>>;
    if (only !== 'sequential') {
      const c = await catchUp(root, relay, relayDir, descriptorText, senders, perSender);
      const params = {
        messages: total,
        contacts: senders,
        relay: 'child process, loopback',
        kdf: 'test',
        all_committed_s: round(c.committedAt, 3),
        queueing_s: round(c.queueSeconds),
        // What bounds it: the app's own CPU per message (decrypt, commit, index, receipts); on a
        // core of its own the app could not go faster than 1e6 / this.
        app_cpu_us_per_msg: Math.round(c.appCpuUs),
        // Of it, the main thread (the bound while the others fit on the second core) and the rest.
        main_thread_cpu_us_per_msg: Math.round(c.mainThreadCpuUs),
        other_threads_cpu_us_per_msg: Math.round(c.otherThreadsCpuUs),
        other_threads_us_per_msg_by_name: c.otherThreads,
        relay_cpu_us_per_msg: Math.round(c.relayCpuUs),
        // Work per catch-up that is not required (bench/catchup-floor.ts): summaries announced, receipts sent.
        conversation_events: c.summaries,
        receipts_at_relay: c.receipts,
        segments_per_message: round(segmentsPerMessage(join(root, 'recipient')), 3),
        load_average_1m: round(loadavg()[0] ?? 0, 2),
      };
      const rate = total / c.seconds;
      emit({ bench: 'catchup.throughput', value: round(rate), unit: 'messages/s', baseline: null, ratio: null, params: { ...params, seconds: round(c.seconds, 3) }, target: '>= 2000 messages/s (10k in <= 5 s)' });
      floor = await signalDecryptFloor(senders, perSender, textOf);
      emit({
        bench: 'catchup.floor_libsignal_decrypt',
        value: Math.round(floor.decryptUsPerMsg),
        unit: 'us/message',
        baseline: Math.round(c.appCpuUs),
        ratio: Math.round((c.appCpuUs / floor.decryptUsPerMsg) * 100) / 100,
        params: { messages: total, contacts: senders, floor_messages_per_s: Math.round(1e6 / floor.decryptUsPerMsg), baseline_is: 'app_cpu_us_per_msg of catchup.throughput', ratio_is: 'app CPU per message / libsignal decrypt alone' },
      });
      await emitRequiredFloor(root, senders, perSender, textOf, rate); // bench/catchup-floor.ts (helper E)
      emit({ bench: 'catchup.loop_delay_p99', value: round(c.p99Ms), unit: 'ms', baseline: null, ratio: null, params: { ...params, resolution_ms: 10, mean_ms: round(c.meanMs) }, target: '<= 50 ms' });
      emit({ bench: 'catchup.loop_delay_max', value: round(c.maxMs), unit: 'ms', baseline: null, ratio: null, params: { ...params, resolution_ms: 10 }, target: '<= 200 ms' });
      if (only === '1') return;
    } else {
      floor = await signalDecryptFloor(senders, perSender, textOf);
    }

    const seq = await sequentialSends(root, descriptorText, sequential);
    // What bounds it, in the same run: per message, libsignal's encrypt and decrypt alone (the
    // floor above) and one durable commit alone (the sender's; the recipient's commits are
    // grouped, one sync per acknowledged batch).
    const commitUs = durableCommitFloorUs(root, Math.min(sequential, 500));
    const seqFloorUs = floor.encryptUsPerMsg + floor.decryptUsPerMsg + commitUs;
    emit({
      bench: 'catchup.sequential_sends',
      value: round(seq.rate),
      unit: 'messages/s',
      baseline: null,
      ratio: null,
      params: { messages: sequential, relay: 'child process, loopback', both_sides: 'this process, committed', app_cpu_us_per_msg: Math.round(seq.cpuUs), load_average_1m: round(loadavg()[0] ?? 0, 2) },
      target: '>= 1000 messages/s',
    });
    emit({
      bench: 'catchup.sequential_floor',
      value: Math.round(1e6 / seqFloorUs),
      unit: 'messages/s',
      baseline: round(seq.rate),
      ratio: round(seq.rate / (1e6 / seqFloorUs), 3),
      params: {
        libsignal_encrypt_us: Math.round(floor.encryptUsPerMsg),
        libsignal_decrypt_us: Math.round(floor.decryptUsPerMsg),
        durable_commit_us: Math.round(commitUs),
        baseline_is: 'catchup.sequential_sends',
        ratio_is: 'sequential sends / this floor',
      },
    });
  } finally {
    await relay?.kill('SIGTERM');
    rmSync(root, { recursive: true, force: true });
  }
}
