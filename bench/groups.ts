// bench/groups (issue 16): a message to a group of N other members (one sender key encryption,
// one sendMany request) against the same text sent to the same N people as N separate 1:1
// messages, in the same run against the same relay process, with every receiver running (in a
// child process, bench/groups-receivers.ts) and sending its delivered receipts as it would.
// Per send, over the whole cycle from the first send until the text is stored in all N vaults and
// every delivered receipt is back at the sender: the sender's CPU (this process holds only the
// sender) and the relay's CPU (its process, from /proc). Also, informative: the same up to the
// moment the relay accepted every send (the send alone, receipts not yet in), the receivers' CPU,
// and the wall time to stored in all vaults. Quick: N = 10; full: N = 100.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { openMessenger, type Messenger } from '../main/messenger.ts';
import { TEST_KDF } from '../main/vault/index.ts';
import { freePort, RelayProcess } from '../test/chaos/relay-process.ts';
import type { ReceiversConfig } from './groups-receivers.ts';
import { emit, ratioOf, type BenchOptions } from './report.ts';

const PASSWORD = 'bench password';

async function newProfile(dir: string, handle: string, descriptorText: string): Promise<Messenger> {
  const m = await openMessenger({ profileDir: dir, kdf: TEST_KDF });
  await m.createVault({ password: PASSWORD });
  await m.register({ handle, serverDescriptor: descriptorText });
  return m;
}

/** utime + stime of a process so far (µs, Linux /proc). */
function cpuMicrosOf(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

const selfCpuMicros = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string, stepMs = 20): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Waits out the relay's per-address lookup budget (100 contacts from one address go past it). */
async function paced<T>(fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if ((e as { relayCode?: unknown }).relayCode !== 'RATE_LIMITED') throw e;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** The receivers' child process and the smallest counts it last reported. */
class Receivers {
  group = 0;
  direct = 0;
  private opened = false;
  private exited: number | null | undefined;
  private resets = 0;

  private constructor(private readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const o = JSON.parse(line) as { opened?: number; reset?: boolean; group?: number; direct?: number };
      if (o.opened !== undefined) this.opened = true;
      if (o.reset) this.resets++;
      if (o.group !== undefined) this.group = o.group;
      if (o.direct !== undefined) this.direct = o.direct;
    });
    child.once('exit', (code) => (this.exited = code));
  }

  static async start(cfg: ReceiversConfig): Promise<Receivers> {
    const script = fileURLToPath(new URL('./groups-receivers.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, EPHEMERA_BENCH_GROUP_RECEIVERS: JSON.stringify(cfg) }, stdio: ['pipe', 'pipe', 'inherit'] });
    const r = new Receivers(child);
    await until(
      () => {
        if (r.exited !== undefined) throw new Error(`the receivers' process ended (exit ${String(r.exited)}) before it opened them`);
        return r.opened;
      },
      120_000,
      'the receivers to open',
      50,
    );
    return r;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async reset(): Promise<void> {
    const n = this.resets;
    this.child.stdin.write('reset\n');
    await until(() => this.resets > n && this.group === 0 && this.direct === 0, 30_000, 'the receivers to reset');
  }

  async close(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin.write('close\n');
    await exited;
  }
}

interface Phase {
  /** Per send, µs, until the relay accepted every send. */
  accepted: { clientUs: number; relayUs: number };
  /** Per send, µs, until stored in all vaults and every delivered receipt is back. */
  cycle: { clientUs: number; relayUs: number; receiversUs: number };
  storedMs: number;
  cycleMs: number;
}

/**
 * Runs `send` (all sends of one phase) and waits for the relay to accept everything, then for
 * `stored` (all receivers hold every text) and `receipted` (the sender has every delivered
 * receipt); CPU per send of the sender, the relay and the receivers at those moments.
 */
async function phase(
  relay: RelayProcess,
  receivers: Receivers,
  sends: number,
  p: { send: () => Promise<void>; accepted: () => Promise<boolean>; stored: () => boolean; receipted: () => boolean | Promise<boolean> },
): Promise<Phase> {
  await receivers.reset();
  const at0 = { self: selfCpuMicros(), relay: cpuMicrosOf(relay.child.pid), receivers: cpuMicrosOf(receivers.pid), t: performance.now() };
  await p.send();
  await until(p.accepted, 600_000, 'the relay to accept every message');
  const accepted = { clientUs: (selfCpuMicros() - at0.self) / sends, relayUs: (cpuMicrosOf(relay.child.pid) - at0.relay) / sends };
  await until(p.stored, 600_000, 'every text stored in every vault');
  const storedMs = performance.now() - at0.t;
  await until(p.receipted, 600_000, 'every delivered receipt back at the sender', 100);
  return {
    accepted,
    cycle: {
      clientUs: (selfCpuMicros() - at0.self) / sends,
      relayUs: (cpuMicrosOf(relay.child.pid) - at0.relay) / sends,
      receiversUs: (cpuMicrosOf(receivers.pid) - at0.receivers) / sends,
    },
    storedMs,
    cycleMs: performance.now() - at0.t,
  };
}

export async function main(options: BenchOptions): Promise<void> {
  const members = options.quick ? 10 : 100;
  const sends = options.quick ? 10 : 30;
  const root = mkdtempSync(join(tmpdir(), 'ephemera-bench-groups-'));
  const port = await freePort();
  // 101 new devices and 100 contacts from one address and device: above the relay's default bursts.
  const relay = await RelayProcess.start(join(root, 'relay'), port, ['--new-device-burst', '1000', '--lookup-burst', '1000']);
  const descriptorText = JSON.stringify(relay.descriptor);
  let receivers: Receivers | undefined;
  try {
    const handles = Array.from({ length: members }, (_, i) => `gm_${String(i).padStart(3, '0')}`);
    for (const h of handles) await (await newProfile(join(root, h), h, descriptorText)).close();
    const sender = await newProfile(join(root, 'sender'), 'gm_sender', descriptorText);
    const text = 'a group message of an ordinary length, the same text both ways';

    // Sessions with everyone, the group and the sender key handed out first, so both measured
    // phases are steady state; then the receivers open and take all of it in.
    const conversations: string[] = [];
    for (const h of handles) conversations.push((await paced(() => sender.contactAdd({ handle: h }))).conversationId);
    const { groupId } = await sender.groupCreate({ name: 'Bench', members: handles });
    await sender.groupSend({ groupId, text: 'warm-up: hands the sender key to every member' });
    for (const c of conversations) await sender.sendText({ conversationId: c, text: 'warm-up' });
    const outboxEmpty = async (): Promise<boolean> => (await sender.connectionState()).outboxSize === 0;
    await until(outboxEmpty, 300_000, 'the warm-up', 50);
    receivers = await Receivers.start({ root, handles, password: PASSWORD });
    const rcv = receivers;
    await until(() => rcv.group >= 1 && rcv.direct >= 1, 600_000, 'the warm-up at every receiver', 50);

    // 1:1 receipts: the states the sender announces (no polling in the process measured). Group
    // receipts: the counts read as the app does, after a `group` event (the open chat reloads).
    const delivered = new Set<string>();
    let groupEvents = 0;
    sender.subscribe((e) => {
      if (e.name === 'messageState' && (e.payload.state === 'delivered' || e.payload.state === 'read')) delivered.add(e.payload.id);
      else if (e.name === 'group' && e.payload.groupId === groupId) groupEvents++;
    });
    let checkedAt = -1;
    const groupReceipted = async (ids: Set<string>): Promise<boolean> => {
      if (checkedAt === groupEvents) return false;
      checkedAt = groupEvents;
      return (await sender.groupHistory({ groupId, limit: ids.size + 20 })).messages.filter((m) => ids.has(m.id)).every((m) => m.receipts !== undefined && m.receipts.delivered === m.receipts.of);
    };
    // Settle the warm-up's receipts before measuring.
    await new Promise((r) => setTimeout(r, 1500));

    const fanOutIds = new Set<string>();
    const fanOut = await phase(relay, rcv, sends, {
      send: async () => {
        for (let i = 0; i < sends; i++) for (const c of conversations) fanOutIds.add((await sender.sendText({ conversationId: c, text })).id);
      },
      accepted: outboxEmpty,
      stored: () => rcv.direct >= sends,
      receipted: () => [...fanOutIds].every((id) => delivered.has(id)),
    });
    const groupIds = new Set<string>();
    const group = await phase(relay, rcv, sends, {
      send: async () => {
        for (let i = 0; i < sends; i++) groupIds.add((await sender.groupSend({ groupId, text })).id);
      },
      accepted: outboxEmpty,
      stored: () => rcv.group >= sends,
      receipted: () => groupReceipted(groupIds),
    });
    await sender.close();

    const params = { members, sends, cores: 2 };
    const line = (name: string, value: number, baseline: number, target?: string): void =>
      emit({ bench: `groups.${name}`, value: Math.round(value), unit: 'us', baseline: Math.round(baseline), ratio: ratioOf(value, baseline, false), params, ...(target ? { target } : {}) });
    line('client_cpu_per_send', group.cycle.clientUs, fanOut.cycle.clientUs, 'ratio >= 10 (group send <= 0.1 of the 1:1 fan-out; send to stored in all vaults, receipts back)');
    line('relay_cpu_per_send', group.cycle.relayUs, fanOut.cycle.relayUs, 'ratio >= 3.3 (relay <= 0.3 of the 1:1 fan-out; send to stored in all vaults, receipts back)');
    line('client_cpu_per_send_to_relay', group.accepted.clientUs, fanOut.accepted.clientUs);
    line('relay_cpu_per_send_to_relay', group.accepted.relayUs, fanOut.accepted.relayUs);
    line('receivers_cpu_per_send', group.cycle.receiversUs, fanOut.cycle.receiversUs);
    emit({ bench: 'groups.stored_in_all_vaults', value: Math.round(group.storedMs), unit: 'ms', baseline: Math.round(fanOut.storedMs), ratio: ratioOf(group.storedMs, fanOut.storedMs, false), params });
    emit({ bench: 'groups.receipts_back', value: Math.round(group.cycleMs), unit: 'ms', baseline: Math.round(fanOut.cycleMs), ratio: ratioOf(group.cycleMs, fanOut.cycleMs, false), params });
  } finally {
    await receivers?.close().catch(() => undefined);
    await relay.kill();
    rmSync(root, { recursive: true, force: true });
  }
}
