// Test harness shared by the transport tests: temp dirs, an in-process relay, clients.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vi } from 'vitest';
import { RelayClient, type ConnectionState, type RelayClientOptions } from '../../main/net/client.ts';
import { RelayMailbox } from '../../main/net/mailbox.ts';
import { PermanentKey } from '../../main/net/permanent-key.ts';
import { MemoryOutboxStore, MemoryPermanentKeyStore, type OutboxStore } from '../../main/net/stores.ts';
import type { RelayDescriptor } from '../../shared/protocol/descriptor.ts';
import { startRelay, type RelayOptions, type RunningRelay } from '../../relay/relay.ts';

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `ephemera-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function inProcessRelay(dataDir: string, o: Partial<RelayOptions> = {}): Promise<RunningRelay> {
  return startRelay({ dataDir, host: '127.0.0.1', port: 0, ...o });
}

export interface TestClient {
  client: RelayClient;
  mailbox: RelayMailbox;
  states: ConnectionState[];
  outbox: OutboxStore;
}

export async function makeClient(
  descriptor: RelayDescriptor,
  o: Partial<RelayClientOptions> & { keyStore?: MemoryPermanentKeyStore } = {},
): Promise<TestClient> {
  const permanentKey = o.permanentKey ?? (await PermanentKey.loadOrCreate(o.keyStore ?? new MemoryPermanentKeyStore()));
  const outbox = o.outbox ?? new MemoryOutboxStore();
  const client = new RelayClient({ backoff: { baseMs: 50, maxMs: 500 }, ...o, descriptor, permanentKey, outbox });
  const states: ConnectionState[] = [];
  client.on('state', (s) => states.push(s));
  const mailbox = new RelayMailbox(client);
  return { client, mailbox, states, outbox };
}

/**
 * Alice and Bob, both connected (ready) and registered under those handles. They are added to
 * `started` first, so the caller's afterAll stops them even when this fails.
 */
export async function registeredPair(
  descriptor: RelayDescriptor,
  started: TestClient[],
  o: Partial<RelayClientOptions> = {},
): Promise<{ alice: TestClient; bob: TestClient }> {
  const alice = await makeClient(descriptor, o);
  const bob = await makeClient(descriptor, o);
  started.push(alice, bob);
  await alice.client.start();
  await bob.client.start();
  await waitFor(() => alice.client.state === 'ready' && bob.client.state === 'ready');
  await alice.mailbox.register('alice');
  await bob.mailbox.register('bob');
  return { alice, bob };
}

/** Resolves when `pred` holds; polls every 10 ms, gives up after `ms`. */
export async function waitFor(pred: () => boolean, ms = 30_000, what = 'condition'): Promise<void> {
  await vi.waitFor(() => {
    if (!pred()) throw new Error(`timed out waiting for ${what}`);
  }, { timeout: ms, interval: 10 });
}

export function waitForState(c: RelayClient, s: ConnectionState, ms = 30_000): Promise<void> {
  return waitFor(() => c.state === s, ms, `state ${s}`);
}
