// Bodies encoded as parts (rpc.ts encodeBodyParts, encodeBatchParts), which leave large byte
// strings (attachment chunks) where they are instead of copying them into the body, are the
// same bytes as the one-buffer encoding, and a record sealed from parts is the same record.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordEndpoint } from '../../shared/protocol/record.ts';
import { encodeBatch, encodeBatchParts, encodeBody, encodeBodyParts, type Body } from '../../shared/protocol/rpc.ts';
import { PART_BYTES_MIN, type Value } from '../../shared/protocol/value.ts';
import { valueArb } from './arbitraries.ts';

// Values holding byte strings on both sides of the parts threshold, anywhere in the structure.
const largeBytesArb = fc.integer({ min: PART_BYTES_MIN - 2, max: PART_BYTES_MIN + 70_000 }).map((n) => new Uint8Array(randomBytes(n)));
const mixedValueArb: fc.Arbitrary<Value> = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    valueArb,
    largeBytesArb,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('id', 'offset', 'data', 'x'), tie('value'), { maxKeys: 3 }),
  ),
})).value;

const bodyArb: fc.Arbitrary<Body> = fc.oneof(
  fc.record({ kind: fc.constant('request' as const), reqId: fc.nat({ max: 0xffffffff }), method: fc.constantFrom('blob.put', 'send', 'ping'), params: mixedValueArb }),
  fc.record({ kind: fc.constant('result' as const), reqId: fc.nat({ max: 0xffffffff }), result: mixedValueArb }),
  fc.record({ kind: fc.constant('push' as const), topic: fc.constant('envelope'), data: mixedValueArb }),
  fc.record({ kind: fc.constant('error' as const), reqId: fc.nat({ max: 0xffffffff }), code: fc.constant('NOT_FOUND'), detail: fc.string({ maxLength: 30 }) }),
);

const joined = (parts: readonly Uint8Array[]): Buffer => Buffer.concat(parts);

describe('bodies as parts', () => {
  it('are the bytes of encodeBody, with byte strings from PART_BYTES_MIN up referenced, not copied', () => {
    fc.assert(fc.property(bodyArb, (body) => {
      const p = encodeBodyParts(body);
      const whole = encodeBody(body);
      expect(p.length).toBe(whole.length);
      expect(joined(p.parts).equals(whole)).toBe(true);
    }), { numRuns: 150 });
    const chunk = new Uint8Array(randomBytes(64 * 1024 + 16));
    const put = encodeBodyParts({ kind: 'request', reqId: 7, method: 'blob.put', params: { id: new Uint8Array(16), offset: 0, data: chunk } });
    expect(put.parts).toContain(chunk);
  });

  it('batch as parts is the bytes of encodeBatch, and refuses what encodeBatch refuses', () => {
    fc.assert(fc.property(fc.array(bodyArb, { minLength: 1, maxLength: 4 }), (bodies) => {
      const p = encodeBatchParts(bodies.map(encodeBodyParts));
      const whole = encodeBatch(bodies.map((b) => encodeBody(b)));
      expect(p.length).toBe(whole.length);
      expect(joined(p.parts).equals(whole)).toBe(true);
    }), { numRuns: 60 });
    expect(() => encodeBatchParts([])).toThrow(RangeError);
    const inner = encodeBatchParts([encodeBodyParts({ kind: 'result', reqId: 1, result: null })]);
    expect(() => encodeBatchParts([inner])).toThrow(RangeError);
  });

  it('a record sealed from parts is the record sealed from their concatenation', () => {
    const material = { id: randomBytes(8), c2s: randomBytes(32), s2c: randomBytes(32), transcriptHash: randomBytes(32) };
    const session = randomBytes(8);
    // Two endpoints of the same key, so both records carry the same seq.
    const a = new RecordEndpoint({ ...material, c2s: Buffer.from(material.c2s) }, 'client', Date.now, session);
    const b = new RecordEndpoint({ ...material, c2s: Buffer.from(material.c2s) }, 'client', Date.now, session);
    const body = encodeBodyParts({ kind: 'request', reqId: 3, method: 'blob.put', params: { id: new Uint8Array(16), offset: 65552, data: new Uint8Array(randomBytes(65552)) } });
    const nonce = randomBytes(24);
    const fromParts = a.seal(body, { msgId: 1n << 20n, nonce });
    const fromWhole = b.seal(joined(body.parts), { msgId: 1n << 20n, nonce });
    expect(fromParts.equals(fromWhole)).toBe(true);
  });
});
