import { afterEach, describe, expect, it } from 'vitest';
import { inProcessRelay, makeClient, tempDir, waitFor, waitForState, type TestClient } from './harness.ts';
import type { RunningRelay } from '../../relay/relay.ts';
import { RpcError } from '../../shared/protocol/errors.ts';
import { MemoryOutboxStore, MemoryPermanentKeyStore } from '../../main/net/stores.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

async function setup(): Promise<{ relay: RunningRelay; dir: string }> {
  const t = tempDir('net');
  const relay = await inProcessRelay(t.dir);
  cleanups.push(t.cleanup, () => relay.close());
  return { relay, dir: t.dir };
}

async function client(relay: RunningRelay, o: Parameters<typeof makeClient>[1] = {}): Promise<TestClient> {
  const c = await makeClient(relay.descriptor, o);
  cleanups.push(() => c.client.stop());
  await c.client.start();
  await waitForState(c.client, 'ready');
  return c;
}

describe('RelayClient', () => {
  it('handshakes, binds, registers, resolves, sends and receives', async () => {
    const { relay } = await setup();
    const alice = await client(relay);
    const bob = await client(relay);
    expect(alice.states.slice(0, 4)).toEqual(['connecting', 'handshaking', 'binding', 'ready']);
    expect(alice.client.tempKeyExpiresAt).toBeGreaterThan(alice.client.relayNow() + 23 * 3600_000 - 60_000);
    await alice.mailbox.register('alice');
    await bob.mailbox.register('bob');
    const r = await alice.mailbox.resolve('bob');
    expect(r.handle).toBe('bob');
    const got: string[] = [];
    bob.mailbox.onEnvelope((e) => {
      got.push(`${e.from}:${Buffer.from(e.body).toString()}`);
    });
    const sent = await alice.mailbox.send('bob', Buffer.from('hi'), 'idem-key-0001');
    expect(sent.duplicate).toBe(false);
    const again = await alice.mailbox.send('bob', Buffer.from('hi'), 'idem-key-0001');
    expect(again).toEqual({ id: sent.id, duplicate: true });
    await waitFor(() => got.length === 1);
    expect(got).toEqual(['alice:hi']);
    await expect(alice.mailbox.resolve('nobody')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(bob.mailbox.register('alice')).rejects.toBeInstanceOf(RpcError);
    // acked envelopes are deleted: a new client session for bob gets nothing again
    await waitFor(() => relay.core.store.pending(Buffer.from(r.permKeyId), 0, 10).length === 0);
  });

  it('quitting while offline loses nothing: the outbox is sent on the next start', async () => {
    const { relay } = await setup();
    const bob = await client(relay);
    await bob.mailbox.register('bob');
    const keyStore = new MemoryPermanentKeyStore();
    const outbox = new MemoryOutboxStore();
    const a1 = await client(relay, { keyStore, outbox });
    await a1.mailbox.register('alice');
    await a1.client.stop();
    // offline: queue two sends, then "quit"
    const p1 = a1.mailbox.send('bob', Buffer.from('one'), 'offline-0001').catch(() => undefined);
    const p2 = a1.mailbox.send('bob', Buffer.from('two'), 'offline-0002').catch(() => undefined);
    await waitFor(() => outbox.list().length === 2);
    void p1;
    void p2;
    const got: string[] = [];
    bob.mailbox.onEnvelope((e) => {
      got.push(Buffer.from(e.body).toString());
    });
    const a2 = await makeClient(relay.descriptor, { keyStore, outbox });
    cleanups.push(() => a2.client.stop());
    await a2.client.start();
    await waitFor(() => got.length === 2);
    expect(got).toEqual(['one', 'two']);
    await waitFor(() => outbox.list().length === 0);
  });
});
