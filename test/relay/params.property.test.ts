// The hand-written checks for the per-message methods (send, ack) accept exactly what
// their zod schemas accept, and return the same data.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RpcError } from '../../shared/protocol/errors.ts';
import type { Value } from '../../shared/protocol/value.ts';
import { RELAY_METHODS } from '../../shared/protocol/methods.ts';
import { valueArb } from '../protocol/arbitraries.ts';

function outcome(f: () => unknown): { ok: true; data: unknown } | { ok: false } {
  try {
    return { ok: true, data: f() };
  } catch (e) {
    expect(e).toBeInstanceOf(RpcError);
    expect((e as RpcError).code).toBe('BAD_REQUEST');
    return { ok: false };
  }
}

const handleLike = fc.oneof(fc.stringMatching(/^[a-z0-9_]{3,32}$/), fc.string({ maxLength: 40 }), fc.constant('ab'), fc.constant('A_b_c'));
const idemLike = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/), fc.string({ maxLength: 70 }), fc.constant('short'));
const bodyLike = fc.oneof(fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.constant(new Uint8Array(64 * 1024 + 1)), fc.constant(new Uint8Array(64 * 1024)));
const ttlLike = fc.oneof(fc.integer({ min: 1, max: 366 * 86400 }), fc.integer({ min: -3, max: 3 }), fc.constant(366 * 86400 + 1), fc.double(), fc.constant('60'));
const idLike = fc.oneof(fc.nat(), fc.integer({ min: -5, max: 5 }), fc.double(), fc.constant(2 ** 53), fc.constant(Number.MAX_SAFE_INTEGER));
const anyField = (specific: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof({ weight: 4, arbitrary: specific }, { weight: 1, arbitrary: valueArb }, { weight: 1, arbitrary: fc.constant(undefined) });

function withoutUndefined(m: Record<string, unknown>): Value {
  const out = Object.create(null) as Record<string, Value>;
  for (const [k, v] of Object.entries(m)) if (v !== undefined) out[k] = v as Value;
  return out;
}

const sendParams = fc.oneof(
  fc.record({ to: anyField(handleLike), idem: anyField(idemLike), body: anyField(bodyLike), ttl: anyField(ttlLike), extra: anyField(valueArb) }).map(withoutUndefined),
  valueArb,
);
const ackParams = fc.oneof(
  fc.record({ ids: anyField(fc.oneof(fc.array(idLike, { maxLength: 5 }), fc.constant([]), fc.constant(new Array<number>(1001).fill(1)), fc.constant(new Array<number>(1000).fill(1)))) }).map(withoutUndefined),
  valueArb,
);
// sendMany: bodies by index; lists around their limits, indexes in and out of range, items of any shape.
const bodiesLike = fc.oneof(
  fc.array(fc.uint8Array({ minLength: 0, maxLength: 6 }), { maxLength: 4 }),
  fc.constant(new Array<Uint8Array>(513).fill(new Uint8Array(1))),
  fc.constant([new Uint8Array(64 * 1024), new Uint8Array(64 * 1024), new Uint8Array(32 * 1024)]),
  fc.constant([new Uint8Array(64 * 1024), new Uint8Array(64 * 1024), new Uint8Array(32 * 1024 + 1)]),
);
const itemLike = fc.oneof(
  { weight: 4, arbitrary: fc.record({ to: anyField(handleLike), idem: anyField(idemLike), b: anyField(fc.oneof(fc.integer({ min: -1, max: 4 }), fc.double())), extra: anyField(valueArb) }).map(withoutUndefined) },
  { weight: 1, arbitrary: valueArb },
);
const sendManyParams = fc.oneof(
  // Mostly valid: so acceptance is compared too, not only refusal.
  fc.record({
    bodies: fc.array(fc.uint8Array({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 }),
    items: fc.array(fc.record({ to: fc.stringMatching(/^[a-z0-9_]{3,32}$/), idem: fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/), b: fc.nat({ max: 3 }) }), { minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    bodies: anyField(bodiesLike),
    items: anyField(fc.oneof(fc.array(itemLike, { maxLength: 4 }), fc.constant(new Array<Value>(513).fill({ to: 'bob', idem: 'a'.repeat(16), b: 0 })))),
  }).map(withoutUndefined),
  valueArb,
);

describe('hand-written param checks', () => {
  for (const [name, arb] of [['send', sendParams], ['ack', ackParams], ['sendMany', sendManyParams]] as const) {
    it(`${name}: same verdict and data as the zod schema`, () => {
      const spec = RELAY_METHODS[name];
      const check = spec?.check;
      if (!spec || !check) throw new Error(`${name} has no hand-written check`);
      fc.assert(fc.property(arb, (params) => {
        const z = spec.params.safeParse(params);
        const h = outcome(() => check(params));
        expect(h.ok).toBe(z.success);
        if (h.ok && z.success) expect(h.data).toEqual(z.data);
      }), { numRuns: 600 });
    });
  }
});
