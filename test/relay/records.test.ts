import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../shared/protocol/errors.ts';
import { decodeFrame } from '../../shared/protocol/frames.ts';
import { MSG_ID_SHIFT, sealRecord, DIRECTION_S2C, DIRECTION_C2S } from '../../shared/protocol/record.ts';
import { encodeBody } from '../../shared/protocol/rpc.ts';
import type { RunningRelay } from '../../relay/relay.ts';
import { inProcessRelay, tempDir } from '../net/harness.ts';
import { boundKey, RawSession, TestDevice, type RawKey } from './raw-session.ts';

let relay: RunningRelay;
let cleanup: () => void;
let key: RawKey;
let owner: RawSession;

beforeAll(async () => {
  const t = tempDir('records');
  cleanup = t.cleanup;
  relay = await inProcessRelay(t.dir);
  owner = await RawSession.connect(relay);
  key = await boundKey(owner, new TestDevice());
});
afterAll(async () => {
  owner.close();
  await relay.close();
  cleanup();
});

const RECORD_INVALID = { code: CLOSE_CODES.RECORD_INVALID, reason: 'RECORD_INVALID' };

/** Sends one frame on a new connection and reports what happened. */
async function outcome(frame: Buffer): Promise<'accepted' | '404' | { code: number; reason: string }> {
  const s = await RawSession.connect(relay);
  try {
    s.send(frame);
    const raw = await s.next();
    if (!raw) return s.closed ?? { code: 0, reason: '' };
    const f = decodeFrame(raw);
    if (f.type === 'unknownKey') return '404';
    return 'accepted';
  } finally {
    s.close();
  }
}

function ping(o: Parameters<RawKey['endpoint']['seal']>[1] = {}): Buffer {
  return key.endpoint.seal(encodeBody({ kind: 'request', reqId: 1, method: 'ping', params: null }), o);
}

describe('record layer on the relay', () => {
  it('a flipped bit anywhere is refused: tag failure closes, a changed key id is unknown', async () => {
    const frame = ping();
    let checked = 0;
    for (let byte = 0; byte < frame.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(frame);
        bad[byte] = (bad[byte] as number) ^ (1 << bit);
        const r = await outcome(bad);
        if (byte === 0) expect(r).toMatchObject({ code: CLOSE_CODES.BAD_FRAME, reason: 'BAD_FRAME' });
        else if (byte <= 8) expect(r).toBe('404');
        else expect(r).toEqual(RECORD_INVALID);
        checked++;
      }
    }
    expect(checked).toBe(frame.length * 8);
    // control: the unmodified record is accepted
    expect(await outcome(frame)).toBe('accepted');
  });

  it('a replayed record or a reused msg_id closes the connection', async () => {
    const frame = ping();
    expect(await outcome(frame)).toBe('accepted');
    expect(await outcome(frame)).toEqual(RECORD_INVALID);
    const msgId = key.endpoint.nextMsgId();
    expect(await outcome(ping({ msgId }))).toBe('accepted');
    expect(await outcome(ping({ msgId }))).toEqual(RECORD_INVALID);
  });

  it('a msg_id outside the time window (-300 s / +30 s) closes the connection', async () => {
    const now = BigInt(Date.now());
    expect(await outcome(ping({ msgId: (now - 301_000n) << MSG_ID_SHIFT }))).toEqual(RECORD_INVALID);
    expect(await outcome(ping({ msgId: (now + 31_000n) << MSG_ID_SHIFT }))).toEqual(RECORD_INVALID);
    expect(await outcome(ping({ msgId: ((now - 200_000n) << MSG_ID_SHIFT) + 7n }))).toBe('accepted');
  });

  it('the wrong direction closes the connection (relay->client key, or a reflected relay record)', async () => {
    const body = encodeBody({ kind: 'request', reqId: 2, method: 'ping', params: null });
    const payload = { msgId: BigInt(Date.now()) << MSG_ID_SHIFT, seq: 1, sessionId: key.endpoint.sessionId as Buffer, body };
    expect(await outcome(sealRecord(key.material.s2c, key.material.id, DIRECTION_S2C, payload))).toEqual(RECORD_INVALID);
    expect(await outcome(sealRecord(key.material.s2c, key.material.id, DIRECTION_C2S, { ...payload, msgId: payload.msgId + 1n }))).toEqual(RECORD_INVALID);
    expect(await outcome(sealRecord(key.material.c2s, key.material.id, DIRECTION_S2C, { ...payload, msgId: payload.msgId + 2n }))).toEqual(RECORD_INVALID);
    // reflect a relay response back at the relay
    owner.request(key, 'ping', null);
    const r = await owner.nextOn(key);
    expect(r?.body?.kind).toBe('result');
    expect(await outcome(r?.raw as Buffer)).toEqual(RECORD_INVALID);
  });

  it('another session id on the same key closes the connection', async () => {
    expect(await outcome(ping({ sessionId: randomBytes(8) }))).toEqual(RECORD_INVALID);
  });

  it('the key survives the refusals: its owner still gets answers', async () => {
    const r = await owner.call(key, 'ping', null);
    expect(r.kind).toBe('result');
  });
});
