import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ed25519PrivateKey } from '../../shared/protocol/keys.ts';
import { decodeFrame } from '../../shared/protocol/frames.ts';
import { boundKey, type RawKey, type RawSession, relayForFile, TestDevice } from './raw-session.ts';

const { session } = relayForFile('bind', { maxTtlSec: 7200 });

/** A fresh key whose session is pinned by a first ping, ready for a bind attempt. */
async function freshKey(s: RawSession): Promise<RawKey> {
  const key = await s.handshake();
  const pong = await s.call(key, 'ping', null);
  expect(pong.kind).toBe('result');
  return key;
}

async function bindError(o: (dev: TestDevice, key: RawKey) => { message: Buffer; signature: Buffer }): Promise<string> {
  const s = await session();
  const dev = new TestDevice();
  const key = await freshKey(s);
  const r = await s.call(key, 'bind', o(dev, key));
  expect(r.kind).toBe('error');
  return r.kind === 'error' ? r.code : '';
}

describe('handshake and bind', () => {
  it('an unbound key may call only bind, ping and time', async () => {
    const s = await session();
    const key = await s.handshake();
    expect((await s.call(key, 'ping', null)).kind).toBe('result');
    expect((await s.call(key, 'time', null)).kind).toBe('result');
    for (const m of ['register', 'resolve', 'send', 'ack']) {
      const r = await s.call(key, m, { handle: 'someone' });
      expect(r).toMatchObject({ kind: 'error', code: 'AUTH_KEY_UNBOUND' });
    }
  });

  it('binds, after which bound methods work; a bound key cannot be bound again', async () => {
    const s = await session();
    const dev = new TestDevice();
    const key = await boundKey(s, dev);
    expect(await s.call(key, 'register', { handle: 'binder' })).toMatchObject({ kind: 'result' });
    expect(await s.call(key, 'resolve', { handle: 'binder' })).toMatchObject({ kind: 'result' });
    const again = await s.call(key, 'bind', dev.bindParams(dev.bindFields(key)));
    expect(again).toMatchObject({ kind: 'error', code: 'TEMP_KEY_ALREADY_BOUND' });
  });

  it('a second bind for the same device makes the first temp key get 404', async () => {
    const s = await session();
    const dev = new TestDevice();
    const first = await boundKey(s, dev);
    expect((await s.call(first, 'ping', null)).kind).toBe('result');
    const s2 = await session();
    const second = await boundKey(s2, dev);
    s.request(first, 'ping', null);
    const raw = await s.next();
    expect(raw && decodeFrame(raw)).toEqual({ type: 'unknownKey' });
    expect(raw?.length).toBe(4);
    expect((await s2.call(second, 'ping', null)).kind).toBe('result');
  });

  it('rejects a wrong signature', async () => {
    const other = ed25519PrivateKey(randomBytes(32));
    expect(await bindError((dev, key) => dev.bindParams(dev.bindFields(key), other))).toBe('BIND_SIGNATURE_INVALID');
    expect(await bindError((dev, key) => {
      const p = dev.bindParams(dev.bindFields(key));
      p.signature[5] = (p.signature[5] as number) ^ 1;
      return p;
    })).toBe('BIND_SIGNATURE_INVALID');
  });

  it('rejects a temp key id or transcript hash that is not the key it arrived on', async () => {
    expect(await bindError((dev, key) => dev.bindParams(dev.bindFields(key, { tempKeyId: randomBytes(8) })))).toBe('BIND_TEMP_KEY_MISMATCH');
    expect(await bindError((dev, key) => dev.bindParams(dev.bindFields(key, { transcriptHash: randomBytes(32) })))).toBe('BIND_TRANSCRIPT_MISMATCH');
    expect(await bindError((dev, key) => dev.bindParams(dev.bindFields(key, { sessionId: randomBytes(8) })))).toBe('BIND_SESSION_MISMATCH');
  });

  it('rejects a key bound on another connection of the same relay (key id of another handshake)', async () => {
    const s = await session();
    const other = await s.handshake();
    expect(await bindError((dev, key) => dev.bindParams(dev.bindFields(key, { tempKeyId: other.material.id, transcriptHash: other.material.transcriptHash })))).toBe('BIND_TEMP_KEY_MISMATCH');
  });

  it('rejects expires_at in the past, now, or beyond the maximum', async () => {
    expect(await bindError((dev, key) => dev.bindParams(dev.bindFields(key, { expiresAt: key.relayTime - 1000 })))).toBe('EXPIRES_AT_INVALID');
    expect(await bindError((dev, key) => dev.bindParams(dev.bindFields(key, { expiresAt: 0 })))).toBe('EXPIRES_AT_INVALID');
    expect(await bindError((dev, key) => dev.bindParams(dev.bindFields(key, { expiresAt: Date.now() + 7200_000 + 60_000 })))).toBe('EXPIRES_AT_INVALID');
  });

  it('rejects a replayed bind nonce, even on a new key', async () => {
    const nonce = randomBytes(16);
    const s = await session();
    const dev = new TestDevice();
    await boundKey(s, dev, { nonce });
    expect(await bindError((d, key) => d.bindParams(d.bindFields(key, { nonce })))).toBe('BIND_NONCE_REPLAYED');
  });

  it('rejects a malformed bind message and a perm_key_id that is not the key hash', async () => {
    expect(await bindError((dev, key) => ({ message: randomBytes(40), signature: dev.bindParams(dev.bindFields(key)).signature }))).toBe('BIND_INVALID');
    expect(await bindError((dev, key) => dev.bindParams(dev.bindFields(key, { permKeyId: randomBytes(8) })))).toBe('BIND_INVALID');
  });
});
