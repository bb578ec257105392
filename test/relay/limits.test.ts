// Relay limits: queue size per account, handshakes per source address, frame size, unbound
// keys per connection, text frames. Each refusal is typed; the relay keeps serving.
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../shared/protocol/errors.ts';
import { decodeFrame, ERROR_FRAME_CODES } from '../../shared/protocol/frames.ts';
import { boundKey, relayForFile, TestDevice } from './raw-session.ts';

const { session } = relayForFile('limits', { queueLimit: 3, handshakesPerSecond: 1, handshakeBurst: 6 });

describe('relay limits', () => {
  it('a full queue answers QUEUE_FULL; acknowledging frees room', async () => {
    const s = await session();
    const sender = await boundKey(s, new TestDevice());
    expect(await s.call(sender, 'register', { handle: 'limit_sender' })).toMatchObject({ kind: 'result' });
    const r = await session();
    const rdev = new TestDevice();
    const rkey = await boundKey(r, rdev);
    expect(await r.call(rkey, 'register', { handle: 'limit_rcpt' })).toMatchObject({ kind: 'result' });
    r.close(); // offline: envelopes stay queued
    for (let i = 0; i < 3; i++) {
      expect(await s.call(sender, 'send', { to: 'limit_rcpt', idem: `limit-idem-${i}`, body: Buffer.from([i + 1]) })).toMatchObject({ kind: 'result' });
    }
    expect(await s.call(sender, 'send', { to: 'limit_rcpt', idem: 'limit-idem-3', body: Buffer.from([4]) })).toMatchObject({ kind: 'error', code: 'QUEUE_FULL' });
    // a re-send of a stored one is still answered (idempotent), not refused
    expect(await s.call(sender, 'send', { to: 'limit_rcpt', idem: 'limit-idem-0', body: Buffer.from([1]) })).toMatchObject({ kind: 'result', result: { duplicate: true } });
  });

  it('handshakes beyond the per-address budget get an ERROR frame with a retry time', async () => {
    const s = await session();
    let limited: { type: string; code?: number; retryAfterMs?: number } | undefined;
    for (let i = 0; i < 12 && !limited; i++) {
      s.send(Buffer.concat([Buffer.of(1, 1), Buffer.alloc(32, 9), Buffer.alloc(32, i)]));
      const raw = await s.next();
      const f = raw ? decodeFrame(raw) : undefined;
      if (f?.type === 'error') limited = f;
    }
    expect(limited).toMatchObject({ type: 'error', code: ERROR_FRAME_CODES.RATE_LIMITED });
    expect(limited?.retryAfterMs).toBeGreaterThan(0);
    expect(s.closed).toBeUndefined();
  });

  it('a frame over 256 KiB closes the connection (1009)', async () => {
    const s = await session();
    s.send(Buffer.alloc(256 * 1024 + 1, 3));
    expect((await s.waitClosed()).code).toBe(1009);
  });

  it('a text frame closes the connection with BAD_FRAME', async () => {
    const s = await session();
    s.ws.send('hello');
    expect(await s.waitClosed()).toEqual({ code: CLOSE_CODES.BAD_FRAME, reason: 'BAD_FRAME' });
  });

  it('the relay still serves after all of the above', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // one handshake token back
    const s = await session();
    const key = await s.handshake();
    expect((await s.call(key, 'ping', null)).kind).toBe('result');
  });
});
