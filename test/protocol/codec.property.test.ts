// Property tests: the codecs never crash; they return a value or throw a typed ProtocolError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBindMessage } from '../../shared/protocol/bind.ts';
import { ProtocolError } from '../../shared/protocol/errors.ts';
import { decodeFrame } from '../../shared/protocol/frames.ts';
import { decodeBodies, decodeBody, encodeBatch, encodeBody } from '../../shared/protocol/rpc.ts';
import { decodeValue, encodeValue } from '../../shared/protocol/value.ts';
import { freshNonce } from '../../shared/protocol/record.ts';
import { batchBytesArb, bodyBytesArb, encodedValueArb, frameBytesArb, methodNameArb, mutate, valueArb } from './arbitraries.ts';

function typedOrValue(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (e instanceof ProtocolError) return true;
    throw e;
  }
}

function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

describe('codec properties', () => {
  it('record nonces from the pool are 24 bytes and never repeat across refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const n = freshNonce();
      expect(n.length).toBe(24);
      seen.add(n.toString('hex'));
    }
    expect(seen.size).toBe(2000);
  });

  it('values round-trip', () => {
    fc.assert(fc.property(valueArb, (v) => {
      expect(norm(decodeValue(encodeValue(v)))).toEqual(norm(v));
    }), { numRuns: 300 });
  });

  it('mutated value encodings decode or throw ProtocolError', () => {
    fc.assert(fc.property(encodedValueArb, (b) => typedOrValue(() => decodeValue(b))), { numRuns: 500 });
  });

  it('structure-aware frames decode or throw ProtocolError', () => {
    fc.assert(fc.property(frameBytesArb, (b) => typedOrValue(() => decodeFrame(b))), { numRuns: 1000 });
  });

  it('bodies round-trip, and mutated bodies decode or throw ProtocolError', () => {
    fc.assert(fc.property(methodNameArb, fc.nat({ max: 0xffffffff }), valueArb, (method, reqId, params) => {
      expect(norm(decodeBody(encodeBody({ kind: 'request', reqId, method, params })))).toEqual(norm({ kind: 'request', reqId, method, params }));
    }), { numRuns: 200 });
    fc.assert(fc.property(bodyBytesArb, (b) => typedOrValue(() => decodeBody(b))), { numRuns: 1000 });
  });

  it('batches round-trip in order, a bare body decodes as a batch of one, mutated batches decode or throw ProtocolError', () => {
    const requestArb = fc.tuple(methodNameArb, fc.nat({ max: 0xffffffff }), valueArb).map(([method, reqId, params]) => ({ kind: 'request' as const, reqId, method, params }));
    fc.assert(fc.property(fc.array(requestArb, { minLength: 1, maxLength: 8 }), (reqs) => {
      const encoded = reqs.map((r) => encodeBody(r));
      expect(norm(decodeBodies(encodeBatch(encoded)))).toEqual(norm(reqs));
      expect(norm(decodeBodies(encoded[0] as Buffer))).toEqual(norm([reqs[0]]));
    }), { numRuns: 200 });
    fc.assert(fc.property(batchBytesArb, (b) => typedOrValue(() => decodeBodies(b))), { numRuns: 1000 });
    expect(() => encodeBatch([])).toThrow(RangeError);
    expect(() => encodeBatch([encodeBatch([encodeBody({ kind: 'result', reqId: 1, result: null })])])).toThrow(RangeError);
    const inner = encodeBatch([encodeBody({ kind: 'result', reqId: 1, result: null })]);
    const nested = Buffer.concat([Buffer.of(5, 0, 1, 0, 0, 0, inner.length), inner]);
    expect(() => decodeBodies(nested)).toThrow(ProtocolError);
  });

  it('bind messages: any bytes give a decoded message or undefined', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }).chain((x) => mutate(Buffer.concat([Buffer.from('ephemera/v1 bind'), x]))), (b) => {
      const r = decodeBindMessage(b);
      expect(r === undefined || typeof r.expiresAt === 'number').toBe(true);
    }), { numRuns: 300 });
  });
});
