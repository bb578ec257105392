// fast-check generators that know the protocol's structure: valid values and frames, and
// near-valid mutations of them (truncated, extended, bit-flipped, length fields lying).
import fc from 'fast-check';
import { encodeValue, type Value } from '../../shared/protocol/value.ts';
import { FRAME_ERROR, FRAME_HELLO, FRAME_HELLO_REPLY, FRAME_RECORD, HELLO_BYTES, HELLO_REPLY_BYTES, ERROR_FRAME_BYTES, RECORD_MIN_BYTES } from '../../shared/protocol/frames.ts';
import { BODY_ERROR, BODY_PUSH, BODY_REQUEST, BODY_RESULT } from '../../shared/protocol/rpc.ts';

export const valueArb: fc.Arbitrary<Value> = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    fc.string({ maxLength: 20 }),
    fc.uint8Array({ maxLength: 40 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

export const methodNameArb = fc.oneof(
  fc.constantFrom('bind', 'ping', 'time', 'register', 'resolve', 'send', 'ack'),
  fc.constantFrom('constructor', 'toString', 'valueOf', 'hasOwnProperty'),
  fc.stringMatching(/^[a-z][a-zA-Z0-9.]{0,31}$/),
);

/** Params shaped like each method's, with wrong or edge-case field values. */
export const paramsArb: fc.Arbitrary<Value> = fc.oneof(
  valueArb,
  fc.record({ handle: fc.oneof(fc.stringMatching(/^[a-z0-9_]{3,32}$/), valueArb) }),
  fc.record({ to: fc.oneof(fc.stringMatching(/^[a-z0-9_]{3,32}$/), valueArb), idem: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/), valueArb), body: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 64 }), valueArb) }),
  fc.record({ ids: fc.oneof(fc.array(fc.nat(), { maxLength: 5 }), valueArb) }),
  fc.record({ message: fc.uint8Array({ maxLength: 200 }), signature: fc.uint8Array({ minLength: 64, maxLength: 64 }) }),
);

export function mutate(bytes: Uint8Array): fc.Arbitrary<Buffer> {
  const b = Buffer.from(bytes);
  return fc.oneof(
    fc.constant(b),
    fc.nat({ max: Math.max(0, b.length) }).map((n) => b.subarray(0, n)),
    fc.uint8Array({ minLength: 1, maxLength: 16 }).map((x) => Buffer.concat([b, x])),
    fc.tuple(fc.nat({ max: Math.max(0, b.length - 1) }), fc.integer({ min: 0, max: 7 })).map(([i, bit]) => {
      const c = Buffer.from(b);
      if (c.length > 0) c[i] = (c[i] as number) ^ (1 << bit);
      return c;
    }),
    fc.tuple(fc.nat({ max: Math.max(0, b.length - 1) }), fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([i, x]) => {
      const c = Buffer.from(b);
      c.set(x.subarray(0, Math.max(0, c.length - i)), i);
      return c;
    }),
  );
}

export const encodedValueArb: fc.Arbitrary<Buffer> = valueArb.chain((v) => mutate(encodeValue(v)));

export const bodyBytesArb: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.constantFrom(BODY_REQUEST, BODY_RESULT, BODY_ERROR, BODY_PUSH, 0, 5, 255),
    fc.uint8Array({ minLength: 4, maxLength: 4 }),
    fc.oneof(methodNameArb, fc.string({ maxLength: 40 }), fc.stringMatching(/^[A-Z][A-Z_]{0,20}$/)),
    encodedValueArb,
  )
  .chain(([kind, reqId, name, value]) => {
    const nb = Buffer.from(name, 'utf8');
    const raw = Buffer.concat([Buffer.of(kind), reqId, Buffer.of(nb.length & 0xff), nb, value]);
    return mutate(raw);
  });

export const frameBytesArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((x) => Buffer.from(x)),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((x) => Buffer.from(x)),
  fc.constantFrom(FRAME_HELLO, FRAME_HELLO_REPLY, FRAME_RECORD, FRAME_ERROR).chain((type) => {
    const size = { [FRAME_HELLO]: HELLO_BYTES, [FRAME_HELLO_REPLY]: HELLO_REPLY_BYTES, [FRAME_RECORD]: RECORD_MIN_BYTES + 20, [FRAME_ERROR]: ERROR_FRAME_BYTES }[type] ?? 10;
    return fc.tuple(fc.integer({ min: -3, max: 3 }), fc.uint8Array({ minLength: size + 3, maxLength: size + 3 }), fc.constantFrom(1, 0, 2)).map(([delta, fill, ver]) => {
      const b = Buffer.from(fill.subarray(0, Math.max(1, size + delta)));
      b[0] = type;
      if (b.length > 1 && type !== FRAME_RECORD && type !== FRAME_ERROR) b[1] = ver;
      return b;
    });
  }),
);

/** BATCH bodies (docs/protocol.md "Bodies"): well-formed ones of garbage bodies, then mutated. */
export const batchBytesArb: fc.Arbitrary<Buffer> = fc
  .array(bodyBytesArb.filter((b) => b.length > 0 && b[0] !== 5), { minLength: 1, maxLength: 4 })
  .chain((bodies) => {
    const parts: Buffer[] = [Buffer.of(5, 0, bodies.length)];
    for (const b of bodies) {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      parts.push(len, b);
    }
    return mutate(Buffer.concat(parts));
  });

/** What a record may carry: a body or a batch of bodies. */
export const recordBodyBytesArb: fc.Arbitrary<Buffer> = fc.oneof(bodyBytesArb, batchBytesArb);
