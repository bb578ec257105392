// Connection limits against a real relay on 127.0.0.1: a connection that does not bind in time is
// closed (also one that never starts TLS); a bound connection that stops talking is closed, while
// a real client's keepalive keeps it open; each source address has a cap on open connections, so
// a flood of idle sockets from one address leaves others (other loopback source addresses, which
// Linux routes to a relay on 127.0.0.1) unaffected; handle lookups are budgeted per device.
import { connect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { addressBucket } from '../../relay/connections.ts';
import type { RelayOptions, RunningRelay } from '../../relay/relay.ts';
import type { Body } from '../../shared/protocol/rpc.ts';
import { inProcessRelay, makeClient, tempDir, waitFor } from '../net/harness.ts';
import { boundKey, RawSession, TestDevice } from './raw-session.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function relayWith(name: string, o: Partial<RelayOptions>): Promise<RunningRelay> {
  const t = tempDir(name);
  const relay = await inProcessRelay(t.dir, o);
  cleanups.push(t.cleanup, () => relay.close());
  return relay;
}

async function session(relay: RunningRelay, localAddress?: string): Promise<RawSession> {
  const s = await RawSession.connect(relay, localAddress ? { localAddress } : {});
  cleanups.push(() => s.close());
  return s;
}

/** A plain TCP connection that sends nothing (not even a TLS hello); resolves once connected. */
async function idleSocket(relay: RunningRelay, localAddress = '127.0.0.1'): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port: relay.port, localAddress });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  cleanups.push(() => void socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, closed };
}

describe('source address budgets', () => {
  it('IPv6 addresses share a budget per /64; IPv4-mapped addresses count as IPv4', () => {
    expect(addressBucket('2001:db8:1:2:aaaa::1')).toBe(addressBucket('2001:DB8:1:2:ffff:ffff:ffff:fffe'));
    expect(addressBucket('2001:db8:1:2::1')).not.toBe(addressBucket('2001:db8:1:3::1'));
    expect(addressBucket('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressBucket('192.0.2.7')).not.toBe(addressBucket('192.0.2.8'));
  });
});

describe('handshake deadline', () => {
  it('closes a connection that never starts TLS, and one that never binds; a bound one stays', async () => {
    const relay = await relayWith('conn-deadline', { handshakeTimeoutMs: 400, idleTimeoutMs: 60_000 });
    const tcp = await idleSocket(relay);
    const unbound = await session(relay);
    await unbound.handshake(); // a temp key, but no bind
    const bound = await session(relay);
    await boundKey(bound, new TestDevice());
    await tcp.closed;
    await unbound.waitClosed();
    // Both deadlines have passed: the bound connection is open and still answers.
    expect(bound.closed).toBeUndefined();
    expect(relay.core.guard.stats.handshakeTimeouts).toBeGreaterThanOrEqual(2);
  });

  it('a client that reconnects and reuses its bound key (a network blip) stays past the deadline', async () => {
    const relay = await relayWith('conn-reconnect', { handshakeTimeoutMs: 400, idleTimeoutMs: 60_000 });
    const first = await session(relay);
    const key = await boundKey(first, new TestDevice());
    first.close();
    // The new connection never binds: its first record comes under the key bound before.
    const second = await session(relay);
    expect((await second.call(key, 'ping', null)).kind).toBe('result');
    // Opened after `second`, this one never binds: once it is closed, `second`'s deadline has passed too.
    const control = await session(relay);
    await control.handshake();
    await control.waitClosed();
    expect(second.closed).toBeUndefined();
    expect((await second.call(key, 'ping', null)).kind).toBe('result');
  });
});

describe('keepalive timeout', () => {
  it('closes a bound connection that stops talking, not one that pings', async () => {
    const relay = await relayWith('conn-idle', { handshakeTimeoutMs: 60_000, idleTimeoutMs: 500 });
    const silent = await session(relay);
    await boundKey(silent, new TestDevice());
    const talker = await session(relay);
    const key = await boundKey(talker, new TestDevice());
    let pings = 0;
    while (!silent.closed) {
      expect((await talker.call(key, 'ping', null)).kind).toBe('result');
      pings++;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(pings).toBeGreaterThan(1);
    expect(talker.closed).toBeUndefined();
    expect(relay.core.guard.stats.idleTimeouts).toBe(1);
  });

  it('a real client (RelayClient keepalive) is never disconnected by it', async () => {
    const relay = await relayWith('conn-client', { handshakeTimeoutMs: 60_000, idleTimeoutMs: 600 });
    const c = await makeClient(relay.descriptor, { keepaliveMs: 150 });
    cleanups.push(() => c.client.stop());
    await c.client.start();
    await waitFor(() => c.client.state === 'ready', 30_000, 'ready');
    const ws = relay.core.connectionsForTests()[0];
    // Several idle timeouts long with nothing to send: only the client's keepalive pings flow.
    await new Promise((r) => setTimeout(r, 3000));
    expect(relay.core.guard.stats.idleTimeouts).toBe(0);
    expect(relay.core.connectionsForTests()).toEqual([ws]);
    expect(c.states.filter((s) => s === 'ready')).toHaveLength(1);
  });
});

describe('per-address connection cap', () => {
  it('a flood of idle sockets from one address is capped and does not lock out another address', async () => {
    const relay = await relayWith('conn-cap', { maxConnectionsPerAddress: 3, handshakeTimeoutMs: 60_000, idleTimeoutMs: 60_000 });
    const flood = [];
    for (let i = 0; i < 3; i++) flood.push(await idleSocket(relay, '127.0.0.1'));
    expect(relay.core.guard.openCount('127.0.0.1')).toBe(3);
    // The fourth from the same address is closed at once, before TLS.
    const over = await idleSocket(relay, '127.0.0.1');
    await over.closed;
    await expect(RawSession.connect(relay)).rejects.toThrow();
    expect(relay.core.guard.stats.refused).toBeGreaterThanOrEqual(2);
    // Another source address is served in full: handshake, bind, lookups.
    const other = await session(relay, '127.0.0.2');
    const key = await boundKey(other, new TestDevice());
    expect((await other.call(key, 'ping', null)).kind).toBe('result');
    expect(relay.core.guard.openCount('127.0.0.2')).toBe(1);
    // The flood's room comes back as its sockets close.
    for (const f of flood) f.socket.destroy();
    await Promise.all(flood.map((f) => f.closed));
    await waitFor(() => relay.core.guard.openCount('127.0.0.1') === 0, 60_000, 'flood sockets released');
    const again = await session(relay, '127.0.0.1');
    await boundKey(again, new TestDevice());
  });
});

describe('handle lookups', () => {
  it('resolve is budgeted per device: RATE_LIMITED past the burst, other devices unaffected', async () => {
    const relay = await relayWith('conn-lookups', { lookupBurst: 3, lookupsPerMinute: 1 });
    const a = await session(relay);
    const akey = await boundKey(a, new TestDevice());
    expect(await a.call(akey, 'register', { handle: 'lookup_a' })).toMatchObject({ kind: 'result' });
    for (let i = 0; i < 3; i++) expect(await a.call(akey, 'resolve', { handle: i === 0 ? 'lookup_a' : `nobody_${i}` })).toMatchObject({ kind: i === 0 ? 'result' : 'error' });
    const limited = await a.call(akey, 'resolve', { handle: 'lookup_a' });
    expect(limited).toMatchObject({ kind: 'error', code: 'RATE_LIMITED' });
    const b = await session(relay);
    const bkey = await boundKey(b, new TestDevice());
    expect(await b.call(bkey, 'resolve', { handle: 'lookup_a' })).toMatchObject({ kind: 'result' });
  });

  it('new devices do not buy new budget: lookups are also budgeted per source address', async () => {
    const relay = await relayWith('conn-lookups-address', { lookupBurst: 3, lookupsPerMinute: 1, addressLookupBurst: 5, addressLookupsPerMinute: 1 });
    const lookup = async (localAddress: string): Promise<Body> => {
      const s = await session(relay, localAddress);
      const key = await boundKey(s, new TestDevice());
      return s.call(key, 'resolve', { handle: 'nobody_here' });
    };
    // Five fresh devices from one address use up its budget (each lookup within its own device's).
    for (let i = 0; i < 5; i++) expect(await lookup('127.0.0.1')).toMatchObject({ kind: 'error', code: 'NOT_FOUND' });
    expect(await lookup('127.0.0.1')).toMatchObject({ kind: 'error', code: 'RATE_LIMITED' });
    // Another address has its own.
    expect(await lookup('127.0.0.2')).toMatchObject({ kind: 'error', code: 'NOT_FOUND' });
  });
});
