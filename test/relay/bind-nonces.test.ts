// A full bind-nonce memory must never lock clients out (anyone can mint permanent keys and
// bind until it fills); the oldest nonce is evicted instead. An evicted nonce still cannot be
// replayed usefully: the signed bind names the temp key id and transcript of the one key it
// was made for.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { boundKey, relayForFile, TestDevice } from './raw-session.ts';

const { session } = relayForFile('bind-nonces', { maxTtlSec: 7200, maxBindNonces: 2 });

describe('bind nonce memory', () => {
  it('keeps binding when full, still refuses recent replays, and an evicted old bind binds nothing', async () => {
    const first = new TestDevice();
    const s1 = await session();
    const firstKey = await s1.handshake();
    const firstBind = first.bindParams(first.bindFields(firstKey, { nonce: randomBytes(16) }));
    expect((await s1.call(firstKey, 'bind', firstBind)).kind).toBe('result');

    // Two more devices bind: the memory (2) is full and the first nonce is evicted. Before the
    // fix the third bind was refused with RATE_LIMITED.
    const recentNonce = randomBytes(16);
    await boundKey(await session(), new TestDevice(), { nonce: recentNonce });
    await boundKey(await session(), new TestDevice(), {});

    // A remembered nonce is still refused, from any device.
    const s4 = await session();
    const other = new TestDevice();
    const k4 = await s4.handshake();
    const replay = await s4.call(k4, 'bind', other.bindParams(other.bindFields(k4, { nonce: recentNonce })));
    expect(replay).toMatchObject({ kind: 'error', code: 'BIND_NONCE_REPLAYED' });

    // The first bind message, whose nonce was evicted, replayed on a fresh key binds nothing.
    const s5 = await session();
    const k5 = await s5.handshake();
    const old = await s5.call(k5, 'bind', firstBind);
    expect(old.kind).toBe('error');
    expect(old.kind === 'error' ? old.code : '').toMatch(/^BIND_(TEMP_KEY|TRANSCRIPT|SESSION)_MISMATCH$/);
  });
});
