// Property test against a live relay: structure-aware garbage frames, and well-sealed records
// carrying garbage bodies and params, get an answer, a 404, or a typed close; the relay never
// crashes, never logs an internal error, and still serves a fresh client afterwards.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../shared/protocol/errors.ts';
import type { RunningRelay } from '../../relay/relay.ts';
import { inProcessRelay, tempDir } from '../net/harness.ts';
import { frameBytesArb, methodNameArb, paramsArb, recordBodyBytesArb } from '../protocol/arbitraries.ts';
import { boundKey, RawSession, TestDevice, type RawKey } from './raw-session.ts';

let relay: RunningRelay;
const internal: unknown[] = [];
const t = tempDir('fuzz');
beforeAll(async () => {
  relay = await inProcessRelay(t.dir, { log: (e) => internal.push(e) });
});
afterAll(async () => {
  await relay.close();
  t.cleanup();
});

const KNOWN_CLOSES = new Set<number>([...Object.values(CLOSE_CODES), 1009]);

type Action =
  | { kind: 'raw'; bytes: Buffer }
  | { kind: 'body'; bytes: Buffer }
  | { kind: 'call'; method: string; params: Parameters<RawSession['request']>[2] };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  frameBytesArb.map((bytes) => ({ kind: 'raw' as const, bytes })),
  recordBodyBytesArb.map((bytes) => ({ kind: 'body' as const, bytes })),
  fc.tuple(methodNameArb, paramsArb).map(([method, params]) => ({ kind: 'call' as const, method, params })),
);

describe('relay under structured garbage', () => {
  it('answers, 404s or closes with a typed code; never crashes', async () => {
    const dev = new TestDevice();
    let s: RawSession | undefined;
    let key: RawKey | undefined;
    let closes = 0;
    let answers = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(actionArb, { minLength: 1, maxLength: 4 }), async (actions) => {
        for (const a of actions) {
          if (!s || s.closed) {
            s = await RawSession.connect(relay);
            key = await boundKey(s, dev);
          }
          const k = key as RawKey;
          if (a.kind === 'raw') s.send(a.bytes);
          else if (a.kind === 'body') s.send(k.endpoint.seal(a.bytes));
          else s.request(k, a.method, a.params);
          // follow with a ping so every action has a definite outcome
          s.request(k, 'ping', null);
          for (;;) {
            const r = await s.nextOn(k).catch(() => undefined);
            if (!r) {
              const c = await s.waitClosed();
              expect(KNOWN_CLOSES.has(c.code), `close ${c.code} ${c.reason}`).toBe(true);
              closes++;
              break;
            }
            if (r.body?.kind === 'result' && r.body.reqId !== undefined) {
              answers++;
              const res = r.body.result;
              if (res && typeof res === 'object' && 'pong' in res) break;
            }
          }
        }
      }),
      { numRuns: 120 },
    );
    s?.close();
    expect(internal).toEqual([]);
    expect(closes + answers).toBeGreaterThan(0);
    // still healthy
    const fresh = await RawSession.connect(relay);
    const k = await boundKey(fresh, new TestDevice());
    expect((await fresh.call(k, 'ping', null)).kind).toBe('result');
    fresh.close();
  });
});
