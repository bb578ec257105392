// The attachment hot path's copies (issue #15, bench/attachments): a record is sealed from its
// header and body as parts (no copy of a 64 KiB chunk in front of it) and must be byte for byte
// what sealing the joined payload gives, for any split, under the same key and nonce; and a large
// byte string (an attachment chunk) decodes as a view of the record plaintext while a small one
// (an id, a key) is copied, so a kept id never pins a whole record in memory.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { open, seal, sealPartsInto, TAG_BYTES } from '../../shared/protocol/aead.ts';
import { encodePayload, openRecord, sealRecord } from '../../shared/protocol/record.ts';
import { decodeFrame, type RecordFrame } from '../../shared/protocol/frames.ts';
import { decodeValue, encodeValue } from '../../shared/protocol/value.ts';

describe('sealing from parts', () => {
  it('gives the bytes of sealing the joined plaintext, for every split, and opens', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(24);
    const ad = randomBytes(9);
    const plain = randomBytes(65_536 + 16 + 37);
    const whole = seal(key, nonce, plain, ad);
    for (const cuts of [[0], [20], [1, 2, 3], [63, 64, 65], [20, 65_556], [plain.length]]) {
      const parts: Buffer[] = [];
      let at = 0;
      for (const c of [...cuts, plain.length]) {
        parts.push(plain.subarray(at, c));
        at = c;
      }
      const out = Buffer.alloc(5 + plain.length + TAG_BYTES, 0xee);
      sealPartsInto(key, nonce, parts, ad, out, 5);
      expect(out.subarray(0, 5).every((b) => b === 0xee)).toBe(true);
      expect(out.subarray(5).equals(whole)).toBe(true);
    }
    expect(open(key, nonce, whole, ad)?.equals(plain)).toBe(true);
    expect(() => sealPartsInto(key, nonce, [plain], ad, Buffer.alloc(plain.length + TAG_BYTES - 1), 0)).toThrow(RangeError);
  });

  it('a record sealed from header and body opens to the same payload as one sealed whole would', () => {
    const key = randomBytes(32);
    const tempKeyId = randomBytes(8);
    const nonce = randomBytes(24);
    const payload = { msgId: 123_456_789n << 16n, seq: 7, sessionId: randomBytes(8), body: randomBytes(65_600) };
    const frame = sealRecord(key, tempKeyId, 1, payload, nonce);
    const decoded = decodeFrame(frame) as RecordFrame;
    // The sealed part is the AEAD of header || body (what encodePayload joins), nothing else.
    expect(decoded.sealed.equals(seal(key, nonce, encodePayload(payload), Buffer.concat([tempKeyId, Buffer.of(1)])))).toBe(true);
    const opened = openRecord(key, decoded, 1);
    expect(opened?.msgId).toBe(payload.msgId);
    expect(opened?.seq).toBe(7);
    expect(opened?.sessionId.equals(payload.sessionId)).toBe(true);
    expect(opened?.body.equals(payload.body)).toBe(true);
  });
});

describe('decoding byte strings', () => {
  it('returns a large one as a view of the input and copies a small one', () => {
    const chunk = randomBytes(65_552);
    const id = randomBytes(16);
    const input = encodeValue({ id, data: chunk });
    const v = decodeValue(input) as { id: Uint8Array; data: Uint8Array };
    expect(Buffer.from(v.data).equals(chunk)).toBe(true);
    expect(Buffer.from(v.id).equals(id)).toBe(true);
    expect(v.data.buffer).toBe(input.buffer);
    expect(v.id.buffer).not.toBe(input.buffer);
    expect(v.id.buffer.byteLength).toBeLessThan(1024);
  });
});
