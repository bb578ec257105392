// bench/groups (issue 16): a message to a group of N other members (one sender key encryption,
// one sendMany request) against the same text sent to the same N people as N separate 1:1
// messages, in the same run against the same relay process. Per send: the sender's CPU (this
// process; the receivers are closed meanwhile, so only the sender works here) and the relay's
// CPU (its process, from /proc), measured from the first send until every message is accepted
// by the relay. Then the receivers open and the time until each has stored every group message
// is reported (informative). Quick: N = 10; full: N = 100.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openMessenger, type Messenger } from '../main/messenger.ts';
import { TEST_KDF } from '../main/vault/index.ts';
import { freePort, RelayProcess } from '../test/chaos/relay-process.ts';
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

async function until(pred: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs `sends` and waits until the relay accepted everything; the sender's and the relay's CPU per send, µs. */
async function measure(relay: RelayProcess, sends: number, run: () => Promise<void>, accepted: () => Promise<boolean>): Promise<{ clientUs: number; relayUs: number; ms: number }> {
  const relay0 = cpuMicrosOf(relay.child.pid);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  await until(accepted, 300_000, 'the relay to accept every message');
  const cpu = process.cpuUsage(cpu0);
  return { clientUs: (cpu.user + cpu.system) / sends, relayUs: (cpuMicrosOf(relay.child.pid) - relay0) / sends, ms: performance.now() - t0 };
}

export async function main(options: BenchOptions): Promise<void> {
  const members = options.quick ? 10 : 100;
  const sends = 30;
  const root = mkdtempSync(join(tmpdir(), 'ephemera-bench-groups-'));
  const port = await freePort();
  const relay = await RelayProcess.start(join(root, 'relay'), port);
  const descriptorText = JSON.stringify(relay.descriptor);
  try {
    const handles = Array.from({ length: members }, (_, i) => `gm_${String(i).padStart(3, '0')}`);
    for (const h of handles) await (await newProfile(join(root, h), h, descriptorText)).close();
    const sender = await newProfile(join(root, 'sender'), 'gm_sender', descriptorText);
    const text = 'a group message of an ordinary length, the same text both ways';

    // Sessions with everyone first (a first 1:1 message and the group's creation both need them),
    // so both measured runs are steady state.
    const conversations: string[] = [];
    for (const h of handles) conversations.push((await sender.contactAdd({ handle: h })).conversationId);
    const { groupId } = await sender.groupCreate({ name: 'Bench', members: handles });
    await sender.groupSend({ groupId, text: 'warm-up: hands the sender key to every member' });
    for (const c of conversations) await sender.sendText({ conversationId: c, text: 'warm-up' });
    const allSent = async (): Promise<boolean> => {
      const g = (await sender.groupHistory({ groupId, limit: 500 })).messages.every((m) => m.state !== 'queued');
      if (!g) return false;
      for (const c of conversations) {
        const page = await sender.historyPage({ conversationId: c, anchor: { kind: 'newest' }, limit: 500 });
        if (page.messages.some((m) => m.direction === 'out' && m.state === 'queued')) return false;
      }
      return true;
    };
    await until(allSent, 120_000, 'the warm-up');

    // Accepted = the sealed outbox is empty (a cheap check, so polling adds little to the CPU measured).
    const outboxEmpty = async (): Promise<boolean> => (await sender.connectionState()).outboxSize === 0;
    const fanOut = await measure(relay, sends, async () => {
      for (let i = 0; i < sends; i++) for (const c of conversations) await sender.sendText({ conversationId: c, text });
    }, outboxEmpty);
    const group = await measure(relay, sends, async () => {
      for (let i = 0; i < sends; i++) await sender.groupSend({ groupId, text });
    }, outboxEmpty);
    await until(allSent, 120_000, 'every message marked sent');
    await sender.close();

    const params = { members, sends };
    emit({ bench: 'groups.client_cpu_per_send', value: Math.round(group.clientUs), unit: 'us', baseline: Math.round(fanOut.clientUs), ratio: ratioOf(group.clientUs, fanOut.clientUs, false), params, target: 'ratio >= 10 (group send <= 0.1 of the 1:1 fan-out)' });
    emit({ bench: 'groups.relay_cpu_per_send', value: Math.round(group.relayUs), unit: 'us', baseline: Math.round(fanOut.relayUs), ratio: ratioOf(group.relayUs, fanOut.relayUs, false), params, target: 'ratio >= 3.3 (relay <= 0.3 of the 1:1 fan-out)' });

    // Informative: the receivers open and store everything (warm-up included) from the relay.
    const t0 = performance.now();
    const receivers: Messenger[] = [];
    try {
      for (const h of handles) {
        const m = await openMessenger({ profileDir: join(root, h), kdf: TEST_KDF });
        await m.unlock({ password: PASSWORD });
        receivers.push(m);
      }
      await until(async () => {
        for (const m of receivers) {
          const list = await m.groupsList();
          if (list.length === 0 || (await m.groupHistory({ groupId, limit: 500 })).messages.filter((x) => !x.system).length < sends + 1) return false;
        }
        return true;
      }, 600_000, 'every receiver to store every group message');
      emit({ bench: 'groups.stored_in_all_vaults', value: Math.round(performance.now() - t0), unit: 'ms', baseline: null, ratio: null, params: { ...params, messagesPerVault: sends + 1 } });
    } finally {
      for (const m of receivers) await m.close();
    }
  } finally {
    await relay.kill();
    rmSync(root, { recursive: true, force: true });
  }
}
