// Each first bind of an unknown permanent key adds a row to the relay's disk, and permanent keys
// cost nothing to make: the relay budgets new devices per source address. Known devices
// re-bind freely, a refusal is a typed, retryable RATE_LIMITED that stores nothing, and the
// budget comes back with time.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RETRYABLE_RPC_ERRORS } from '../../shared/protocol/errors.ts';
import { boundKey, relayForFile, TestDevice } from './raw-session.ts';

let now = Date.now();
const relay = relayForFile('new-devices', { newDeviceBurst: 2, newDevicesPerMinute: 1, clock: () => now });
const { session } = relay;

function deviceRows(): number {
  const db = new Database(join(relay.dir, 'relay.db'), { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM devices').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('new devices per source address', () => {
  const first = new TestDevice();
  const second = new TestDevice();
  const third = new TestDevice();

  it('binds the burst, then refuses the next new device with RATE_LIMITED and stores nothing', async () => {
    const s = await session();
    await boundKey(s, first);
    await boundKey(s, second);
    expect(deviceRows()).toBe(2);
    const key = await s.handshake();
    const r = await s.call(key, 'bind', third.bindParams(third.bindFields(key)));
    expect(r).toMatchObject({ kind: 'error', code: 'RATE_LIMITED' });
    expect(r.kind === 'error' && r.detail).toMatch(/too many new devices from this address; retry in \d+ ms/);
    expect(RETRYABLE_RPC_ERRORS.has('RATE_LIMITED')).toBe(true);
    expect(deviceRows()).toBe(2);
    // the refused key stays unbound: it may still only call bind, ping and time
    expect(await s.call(key, 'resolve', { handle: 'nobody' })).toMatchObject({ kind: 'error', code: 'AUTH_KEY_UNBOUND' });
    expect(s.closed).toBeUndefined();
  });

  it('a device the relay already knows re-binds while the budget is spent', async () => {
    const s = await session();
    const key = await boundKey(s, first);
    expect((await s.call(key, 'ping', null)).kind).toBe('result');
    expect(deviceRows()).toBe(2);
  });

  it('the budget comes back with time (one new device per minute here)', async () => {
    now += 61_000;
    const s = await session();
    await boundKey(s, third);
    expect(deviceRows()).toBe(3);
    const fourth = new TestDevice();
    const key = await s.handshake();
    expect(await s.call(key, 'bind', fourth.bindParams(fourth.bindFields(key)))).toMatchObject({ kind: 'error', code: 'RATE_LIMITED' });
    expect(deviceRows()).toBe(3);
  });
});
