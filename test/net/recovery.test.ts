// Client-side recovery and pinning: a 404 drops only the temp key, the client re-binds and
// re-sends what was unanswered; a wrong certificate pin or relay key never gets to "ready".
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningRelay } from '../../relay/relay.ts';
import { MemoryPermanentKeyStore } from '../../main/net/stores.ts';
import { inProcessRelay, makeClient, tempDir, waitFor, waitForState, type TestClient } from './harness.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

async function setup(): Promise<RunningRelay> {
  const t = tempDir('recovery');
  const relay = await inProcessRelay(t.dir);
  cleanups.push(t.cleanup, () => relay.close());
  return relay;
}

async function started(relay: RunningRelay, o: Parameters<typeof makeClient>[1] = {}): Promise<TestClient> {
  const c = await makeClient(relay.descriptor, o);
  cleanups.push(() => c.client.stop());
  await c.client.start();
  return c;
}

describe('404 recovery', () => {
  it('drops only the temp key, re-binds with the same permanent key, and answers the waiting requests', async () => {
    const relay = await setup();
    const keyStore = new MemoryPermanentKeyStore();
    const alice = await started(relay, { keyStore });
    const bob = await started(relay, { keepaliveMs: 200 });
    await waitFor(() => alice.client.state === 'ready' && bob.client.state === 'ready');
    await alice.mailbox.register('alice');
    await bob.mailbox.register('bob');
    const got: string[] = [];
    bob.mailbox.onEnvelope((e) => {
      got.push(Buffer.from(e.body).toString());
    });
    const seedBefore = keyStore.load();
    const expiresBefore = alice.client.tempKeyExpiresAt;
    const statesBefore = alice.states.length;

    relay.core.forgetAllTempKeys();
    const [time, sent] = await Promise.all([
      alice.client.call('time', null),
      alice.mailbox.send('bob', Buffer.from('after 404'), 'after-404-0001'),
    ]);
    expect(time).toMatchObject({ relayTime: expect.any(Number) });
    expect(sent.duplicate).toBe(false);
    expect(alice.states.slice(statesBefore - 1)).toEqual(['ready', 'rebinding', 'ready']);
    expect(alice.client.tempKeyExpiresAt).not.toBe(expiresBefore);
    // the permanent key did not change, and the relay still knows alice by it
    expect(keyStore.load()).toEqual(seedBefore);
    expect((await alice.mailbox.resolve('alice')).handle).toBe('alice');
    // bob's key was forgotten too while he was idle: his keepalive ping meets the 404, he
    // re-binds, and the relay pushes what waited
    await waitFor(() => got.length === 1);
    expect(got).toEqual(['after 404']);
    expect(bob.states).toContain('rebinding');
  });

  it('a network loss with the key still valid resumes without a re-bind', async () => {
    const relay = await setup();
    const alice = await started(relay);
    await waitForState(alice.client, 'ready');
    const expires = alice.client.tempKeyExpiresAt;
    const handshakes = relay.core.stats.handshakes;
    // drop every connection, keep the keys
    for (const ws of relay.core.connectionsForTests()) ws.terminate();
    await waitFor(() => alice.states.includes('offline'));
    await waitForState(alice.client, 'ready');
    expect(await alice.client.call('ping', null)).toMatchObject({ pong: true });
    expect(alice.client.tempKeyExpiresAt).toBe(expires);
    expect(relay.core.stats.handshakes).toBe(handshakes);
    expect(alice.states).not.toContain('rebinding');
  });
});

describe('clock', () => {
  it('a relay clock jump that puts our msg_ids outside its window: refused, then a new handshake re-reads the clock', async () => {
    const t = tempDir('clock');
    let skew = 0;
    const relay = await inProcessRelay(t.dir, { clock: () => Date.now() + skew });
    cleanups.push(t.cleanup, () => relay.close());
    const alice = await started(relay);
    await waitForState(alice.client, 'ready');
    const warnings: string[] = [];
    alice.client.on('warning', (e) => warnings.push((e as { code?: string }).code ?? e.message));
    skew = 400_000; // our msg_ids are now 400 s in the relay's past
    const before = alice.client.relayNow();
    expect(await alice.client.call('time', null)).toMatchObject({ relayTime: expect.any(Number) });
    expect(warnings).toContain('RECORD_INVALID');
    expect(alice.client.relayNow() - before).toBeGreaterThan(300_000);
    expect(alice.client.state).toBe('ready');
  });
});

describe('pinning', () => {
  it('a certificate that does not match the descriptor is refused before any frame', async () => {
    const relay = await setup();
    const bad = { ...relay.descriptor, certificateSha256: '00'.repeat(32) };
    const c = await makeClient(bad);
    cleanups.push(() => c.client.stop());
    const warnings: string[] = [];
    c.client.on('warning', (e) => warnings.push((e as { code?: string }).code ?? e.message));
    await c.client.start();
    await waitFor(() => warnings.includes('CERT_PIN_MISMATCH'));
    expect(c.states).not.toContain('handshaking');
    expect(relay.core.stats.handshakes).toBe(0);
  });

  it('a relay whose handshake is not signed by the pinned identity key is refused', async () => {
    const relay = await setup();
    const bad = { ...relay.descriptor, relayPublicKey: 'ab'.repeat(32) };
    const c = await makeClient(bad);
    cleanups.push(() => c.client.stop());
    const warnings: string[] = [];
    c.client.on('warning', (e) => warnings.push((e as { code?: string }).code ?? e.message));
    await c.client.start();
    await waitFor(() => warnings.includes('RELAY_SIGNATURE_INVALID'));
    expect(c.states).not.toContain('binding');
    expect(c.client.tempKeyExpiresAt).toBeUndefined();
  });
});
