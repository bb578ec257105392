// A tiny canonical binary value encoding for RPC parameters and results, so methods can be
// added (as the prekey methods were) without changing the frame layout. Decoding is strict: every
// length is checked against the remaining input, depth is bounded, map keys are unique.

import { ProtocolError } from './errors.ts';

export type Value = null | boolean | number | string | Uint8Array | Value[] | { [key: string]: Value };
export type ValueMap = { [key: string]: Value };

const T_NULL = 0x00;
const T_FALSE = 0x01;
const T_TRUE = 0x02;
const T_UINT = 0x03;
const T_BYTES = 0x04;
const T_STRING = 0x05;
const T_ARRAY = 0x06;
const T_MAP = 0x07;

export const MAX_DEPTH = 16;
/** Byte strings at least this long are decoded as views of the input, not copies. */
const VIEW_BYTES_MIN = 32 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function bad(detail: string): never {
  throw new ProtocolError('BAD_FRAME', detail);
}

export function encodeValue(value: Value): Buffer {
  const out = Buffer.allocUnsafe(valueSize(value, 0));
  if (writeValue(value, out, 0, 0) !== out.length) throw new Error('value size mismatch');
  return out;
}

/** Byte strings at least this long are left out of the buffer by the parts encoding (referenced, not copied). */
export const PART_BYTES_MIN = VIEW_BYTES_MIN;

/**
 * Encoded size of `value` in bytes; throws RangeError for what cannot be encoded. With
 * `writeValue` it lets a caller put a value behind its own header in one allocation.
 * With `parts`, byte strings of at least PART_BYTES_MIN bytes count only their 5-byte header
 * and are appended to `parts` in encoding order (what writeValue with `cuts` leaves out).
 */
export function valueSize(v: Value, depth: number, parts?: Uint8Array[]): number {
  if (depth > MAX_DEPTH) throw new RangeError('value nested too deeply');
  if (v === null || v === false || v === true) return 1;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError('only non-negative safe integers are encodable');
    return 9;
  }
  if (typeof v === 'string') return 5 + Buffer.byteLength(v, 'utf8');
  if (v instanceof Uint8Array) {
    if (parts && v.length >= PART_BYTES_MIN) {
      parts.push(v);
      return 5;
    }
    return 5 + v.length;
  }
  if (Array.isArray(v)) {
    let n = 5;
    for (const item of v) n += valueSize(item, depth + 1, parts);
    return n;
  }
  let n = 5;
  for (const k of Object.keys(v)) {
    const klen = Buffer.byteLength(k, 'utf8');
    if (klen > 255) throw new RangeError('map key too long');
    n += 1 + klen + valueSize(v[k] as Value, depth + 1, parts);
  }
  return n;
}

/**
 * Writes `v` at `pos` (room checked by the caller via valueSize); returns the end position.
 * With `cuts`, a byte string of at least PART_BYTES_MIN bytes gets only its header written and
 * the position where its data belongs is appended to `cuts` (valueSize with `parts` sized it).
 */
export function writeValue(v: Value, out: Buffer, pos: number, depth: number, cuts?: number[]): number {
  if (depth > MAX_DEPTH) throw new RangeError('value nested too deeply');
  if (v === null) out[pos++] = T_NULL;
  else if (v === false) out[pos++] = T_FALSE;
  else if (v === true) out[pos++] = T_TRUE;
  else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError('only non-negative safe integers are encodable');
    out[pos] = T_UINT;
    // high and low 32 bits: v is a safe integer, so no BigInt is needed
    out.writeUInt32BE(Math.floor(v / 0x1_0000_0000), pos + 1);
    out.writeUInt32BE(v >>> 0, pos + 5);
    pos += 9;
  } else if (typeof v === 'string') {
    out[pos] = T_STRING;
    const len = out.write(v, pos + 5, 'utf8');
    out.writeUInt32BE(len, pos + 1);
    pos += 5 + len;
  } else if (v instanceof Uint8Array) {
    out[pos] = T_BYTES;
    out.writeUInt32BE(v.length, pos + 1);
    if (cuts && v.length >= PART_BYTES_MIN) {
      cuts.push(pos + 5);
      pos += 5;
    } else {
      out.set(v, pos + 5);
      pos += 5 + v.length;
    }
  } else if (Array.isArray(v)) {
    out[pos] = T_ARRAY;
    out.writeUInt32BE(v.length, pos + 1);
    pos += 5;
    for (const item of v) pos = writeValue(item, out, pos, depth + 1, cuts);
  } else {
    const keys = Object.keys(v);
    out[pos] = T_MAP;
    out.writeUInt32BE(keys.length, pos + 1);
    pos += 5;
    for (const k of keys) {
      const klen = out.write(k, pos + 1, 'utf8');
      if (klen > 255) throw new RangeError('map key too long');
      out[pos] = klen;
      pos = writeValue(v[k] as Value, out, pos + 1 + klen, depth + 1, cuts);
    }
  }
  return pos;
}

export function decodeValue(input: Uint8Array): Value {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const r = { pos: 0 };
  const v = read(buf, r, 0);
  if (r.pos !== buf.length) bad('trailing bytes after value');
  return v;
}

function need(buf: Buffer, r: { pos: number }, n: number): void {
  if (n < 0 || r.pos + n > buf.length) bad('value truncated');
}

function read(buf: Buffer, r: { pos: number }, depth: number): Value {
  if (depth > MAX_DEPTH) bad('value nested too deeply');
  need(buf, r, 1);
  const tag = buf[r.pos++] as number;
  switch (tag) {
    case T_NULL:
      return null;
    case T_FALSE:
      return false;
    case T_TRUE:
      return true;
    case T_UINT: {
      need(buf, r, 8);
      const hi = buf.readUInt32BE(r.pos);
      const lo = buf.readUInt32BE(r.pos + 4);
      r.pos += 8;
      // MAX_SAFE_INTEGER = 2^53 - 1: the high word may use at most 21 bits
      if (hi > 0x1f_ffff) bad('integer out of range');
      return hi * 0x1_0000_0000 + lo;
    }
    case T_BYTES:
    case T_STRING: {
      need(buf, r, 4);
      const len = buf.readUInt32BE(r.pos);
      r.pos += 4;
      need(buf, r, len);
      const slice = buf.subarray(r.pos, r.pos + len);
      r.pos += len;
      // Large byte strings (attachment chunks) are views of the input: a copy of each 64 KiB
      // chunk cost the relay and the client time and garbage. The inputs decoded here are
      // record plaintexts, fresh buffers owned by this decode alone. Small ones are copied, so a
      // kept id or key does not pin a whole record in memory.
      if (tag === T_BYTES) return len >= VIEW_BYTES_MIN ? new Uint8Array(slice.buffer, slice.byteOffset, len) : new Uint8Array(slice);
      try {
        return utf8.decode(slice);
      } catch {
        return bad('string is not valid UTF-8');
      }
    }
    case T_ARRAY: {
      need(buf, r, 4);
      const count = buf.readUInt32BE(r.pos);
      r.pos += 4;
      // Every item takes at least one byte, so a count beyond the rest is a lie.
      need(buf, r, count);
      const arr: Value[] = [];
      for (let i = 0; i < count; i++) arr.push(read(buf, r, depth + 1));
      return arr;
    }
    case T_MAP: {
      need(buf, r, 4);
      const count = buf.readUInt32BE(r.pos);
      r.pos += 4;
      need(buf, r, count * 2);
      const map: ValueMap = Object.create(null) as ValueMap;
      for (let i = 0; i < count; i++) {
        need(buf, r, 1);
        const klen = buf[r.pos++] as number;
        need(buf, r, klen);
        let key: string;
        try {
          key = utf8.decode(buf.subarray(r.pos, r.pos + klen));
        } catch {
          return bad('map key is not valid UTF-8');
        }
        r.pos += klen;
        if (Object.prototype.hasOwnProperty.call(map, key)) bad('duplicate map key');
        map[key] = read(buf, r, depth + 1);
      }
      return map;
    }
    default:
      return bad(`unknown value tag ${tag}`);
  }
}

export function isValueMap(v: Value): v is ValueMap {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}
