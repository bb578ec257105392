// End-to-end messaging benchmark (issue 4), against a relay child process on loopback:
// - latency from Messenger.sendText to the message committed in the recipient's vault (the
//   recipient's `message` event fires after the commit), p50 / p99, one message at a time;
//   baseline: transport only, the same relay carrying an opaque envelope of similar size
//   from one RelayClient to another (send -> pushed envelope handed to the mailbox handler);
// - messages/s from one sender to one recipient, all committed; baseline: transport only.
// Profiles use the test Argon2id parameters (unlock is not measured here).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMessenger, type Messenger } from '../main/messenger.ts';
import { RelayClient } from '../main/net/client.ts';
import { RelayMailbox } from '../main/net/mailbox.ts';
import { PermanentKey } from '../main/net/permanent-key.ts';
import { MemoryOutboxStore, MemoryPermanentKeyStore } from '../main/net/stores.ts';
import { TEST_KDF } from '../main/vault/index.ts';
import type { RelayDescriptor } from '../shared/protocol/descriptor.ts';
import { freePort, RelayProcess } from '../test/chaos/relay-process.ts';
import { emit, percentile, ratioOf, type BenchOptions } from './report.ts';

const PASSWORD = 'bench password';
/** About the size of a short text's Signal envelope (padded content + MAC + header). */
const RAW_BODY_BYTES = 250;
const TEXT = 'The quick brown fox jumps over the lazy dog, twice.';

async function waitUntil(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

interface RawPeer {
  client: RelayClient;
  mailbox: RelayMailbox;
}

async function rawPeer(descriptor: RelayDescriptor, handle: string): Promise<RawPeer> {
  const client = new RelayClient({
    descriptor,
    permanentKey: await PermanentKey.loadOrCreate(new MemoryPermanentKeyStore()),
    outbox: new MemoryOutboxStore(),
  });
  const mailbox = new RelayMailbox(client);
  await client.start();
  await waitUntil(() => client.state === 'ready', 30_000, 'raw client ready');
  await mailbox.register(handle);
  return { client, mailbox };
}

async function messenger(dir: string, handle: string, descriptor: RelayDescriptor): Promise<Messenger> {
  const m = await openMessenger({ profileDir: dir, kdf: TEST_KDF });
  await m.createVault({ password: PASSWORD });
  await m.register({ handle, serverDescriptor: JSON.stringify(descriptor) });
  return m;
}

function stats(samples: number[]): { p50: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99) };
}

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

export async function main(opts: BenchOptions): Promise<void> {
  const samples = opts.quick ? 60 : 400;
  const burst = opts.quick ? 200 : 1000;
  const root = mkdtempSync(join(tmpdir(), 'ephemera-bench-e2e-'));
  let relay: RelayProcess | undefined;
  const closers: (() => Promise<void>)[] = [];
  try {
    const relayDir = join(root, 'relay');
    relay = await RelayProcess.start(relayDir, await freePort());
    const descriptor = relay.descriptor;

    // ---- transport only -------------------------------------------------------------------
    const rawA = await rawPeer(descriptor, 'raw_sender');
    const rawB = await rawPeer(descriptor, 'raw_receiver');
    closers.push(() => rawA.client.stop(), () => rawB.client.stop());
    let rawReceived = 0;
    rawB.mailbox.onEnvelope(() => {
      rawReceived++;
    });
    const body = randomBytes(RAW_BODY_BYTES);
    const rawLatency: number[] = [];
    for (let i = 0; i < samples + 5; i++) {
      const target = rawReceived + 1;
      const t0 = performance.now();
      void rawA.mailbox.send('raw_receiver', body);
      await waitUntil(() => rawReceived >= target, 30_000, 'raw envelope');
      if (i >= 5) rawLatency.push(performance.now() - t0);
    }
    const rawStart = performance.now();
    const rawTarget = rawReceived + burst;
    for (let i = 0; i < burst; i++) void rawA.mailbox.send('raw_receiver', body);
    await waitUntil(() => rawReceived >= rawTarget, 120_000, 'raw burst');
    const rawRate = burst / ((performance.now() - rawStart) / 1000);

    // ---- end to end -----------------------------------------------------------------------
    const alice = await messenger(join(root, 'alice'), 'alice', descriptor);
    const bob = await messenger(join(root, 'bob'), 'bob', descriptor);
    closers.push(() => alice.close(), () => bob.close());
    let committed = 0;
    bob.subscribe((e) => {
      if (e.name === 'message' && e.payload.direction === 'in') committed++;
    });
    const conv = (await alice.contactAdd({ handle: 'bob' })).conversationId;
    // Warm-up: the PreKey message, then a reply so both sides use the normal path.
    await alice.sendText({ conversationId: conv, text: TEXT });
    await waitUntil(() => committed >= 1, 30_000, 'first message');
    const back = (await bob.contactsList())[0];
    if (!back) throw new Error('bob has no contact');
    await bob.sendText({ conversationId: back.conversationId, text: TEXT });
    await alice.sync({ timeoutMs: 30_000, quietMs: 50 });
    const e2eLatency: number[] = [];
    for (let i = 0; i < samples + 5; i++) {
      const target = committed + 1;
      const t0 = performance.now();
      await alice.sendText({ conversationId: conv, text: TEXT });
      await waitUntil(() => committed >= target, 30_000, 'e2e message');
      if (i >= 5) e2eLatency.push(performance.now() - t0);
    }
    await bob.sync({ timeoutMs: 30_000, quietMs: 50 });
    await alice.sync({ timeoutMs: 30_000, quietMs: 50 });
    const e2eStart = performance.now();
    const e2eTarget = committed + burst;
    for (let i = 0; i < burst; i++) await alice.sendText({ conversationId: conv, text: `${TEXT} ${i}` });
    await waitUntil(() => committed >= e2eTarget, 300_000, 'e2e burst');
    const e2eRate = burst / ((performance.now() - e2eStart) / 1000);

    const raw = stats(rawLatency);
    const e2e = stats(e2eLatency);
    const params = { samples, relay: 'child process, loopback', kdf: 'test' };
    emit({ bench: 'e2e.latency_p50', value: round(e2e.p50), unit: 'ms', baseline: round(raw.p50), ratio: ratioOf(e2e.p50, raw.p50, false), params });
    emit({ bench: 'e2e.latency_p99', value: round(e2e.p99), unit: 'ms', baseline: round(raw.p99), ratio: ratioOf(e2e.p99, raw.p99, false), params });
    emit({
      bench: 'e2e.throughput',
      value: round(e2eRate, 1),
      unit: 'messages/s',
      baseline: round(rawRate, 1),
      ratio: ratioOf(e2eRate, rawRate, true),
      params: { messages: burst, relay: 'child process, loopback' },
    });
  } finally {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await relay?.kill('SIGTERM');
    rmSync(root, { recursive: true, force: true });
  }
}
