// The mailbox acknowledges received envelopes only after its `durable` made what the handler
// stored durable; `durable` may answer with a promise (the vault's fsync on libuv's pool instead
// of the main thread). While it is held no ack reaches the relay; a failed sync acknowledges
// nothing and the relay pushes the envelopes again. Real relay (in process), real clients.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { RelayClient } from '../../main/net/client.ts';
import { RelayMailbox, type Envelope } from '../../main/net/mailbox.ts';
import { inProcessRelay, registeredPair, tempDir, waitFor, type TestClient } from '../net/harness.ts';

const relayDir = tempDir('ack-sync-relay');
const started: TestClient[] = [];
let closeRelay: () => Promise<void> = async () => undefined;

afterAll(async () => {
  vi.restoreAllMocks();
  for (const c of started) await c.client.stop();
  await closeRelay();
  relayDir.cleanup();
});

/** A durable() the test answers by hand, one call at a time. */
function heldDurable(): { durable: () => Promise<boolean>; calls: { resolve: (ok: boolean) => void; reject: (e: Error) => void }[] } {
  const calls: { resolve: (ok: boolean) => void; reject: (e: Error) => void }[] = [];
  return { calls, durable: () => new Promise<boolean>((resolve, reject) => calls.push({ resolve, reject })) };
}

describe('acks wait for an asynchronous durable()', () => {
  it('held: no ack; resolved: the ids handled before it acked; failed: none acked, pushed again', { timeout: 120_000 }, async () => {
    const relay = await inProcessRelay(relayDir.dir);
    closeRelay = () => relay.close();
    const { alice, bob } = await registeredPair(relay.descriptor, started);
    // Observed, not replaced: the ack calls bob's client makes.
    const call = RelayClient.prototype.call;
    const acked: number[][] = [];
    vi.spyOn(RelayClient.prototype, 'call').mockImplementation(function (this: RelayClient, ...args: Parameters<RelayClient['call']>) {
      if (this === bob.client && args[0] === 'ack') acked.push([...(args[1] as { ids: number[] }).ids]);
      return call.apply(this, args) as ReturnType<RelayClient['call']>;
    });
    // The harness's own mailbox on bob has no handler, so it never acknowledges anything.
    const { durable, calls } = heldDurable();
    const mailbox = new RelayMailbox(bob.client, durable);
    const handled: string[] = [];
    mailbox.onEnvelope((env: Envelope) => void handled.push(Buffer.from(env.body).toString()));

    for (const text of ['one', 'two', 'three']) await alice.mailbox.send('bob', Buffer.from(text));
    await waitFor(() => handled.length === 3 && calls.length === 1, 30_000, 'three handled, durable asked once');
    await new Promise((r) => setTimeout(r, 300));
    expect(acked).toEqual([]);
    expect(calls).toHaveLength(1); // one sync at a time

    // Made durable: the three go in one ack.
    calls[0]!.resolve(true);
    await waitFor(() => acked.length === 1, 30_000, 'the ack after the sync');
    expect(acked[0]).toHaveLength(3);

    // The next sync fails: nothing acknowledged, and the relay pushes the envelope again after a
    // reconnect (it was forgotten as handled, so the handler sees it again).
    await alice.mailbox.send('bob', Buffer.from('four'));
    await waitFor(() => handled.length === 4 && calls.length === 2, 30_000, 'four handled, durable asked');
    calls[1]!.reject(new Error('fsync failed (test)'));
    await new Promise((r) => setTimeout(r, 300));
    expect(acked).toHaveLength(1);
    await bob.client.stop();
    await bob.client.start();
    await waitFor(() => handled.length === 5 && calls.length === 3, 30_000, 'four pushed again and handled');
    expect(handled).toEqual(['one', 'two', 'three', 'four', 'four']);
    calls[2]!.resolve(true);
    await waitFor(() => acked.length === 2, 30_000, 'four acked');
    expect(acked[1]).toHaveLength(1);
  });
});
