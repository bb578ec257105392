// A tiny canonical binary value encoding for RPC parameters and results, so methods can be
// added (issue 4: prekeys) without changing the frame layout. Decoding is strict: every
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
const utf8 = new TextDecoder('utf-8', { fatal: true });

function bad(detail: string): never {
  throw new ProtocolError('BAD_FRAME', detail);
}

export function encodeValue(value: Value): Buffer {
  const parts: Buffer[] = [];
  write(value, parts, 0);
  return Buffer.concat(parts);
}

function head(tag: number, len: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = tag;
  b.writeUInt32BE(len, 1);
  return b;
}

function write(v: Value, out: Buffer[], depth: number): void {
  if (depth > MAX_DEPTH) throw new RangeError('value nested too deeply');
  if (v === null) out.push(Buffer.of(T_NULL));
  else if (v === false) out.push(Buffer.of(T_FALSE));
  else if (v === true) out.push(Buffer.of(T_TRUE));
  else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError('only non-negative safe integers are encodable');
    const b = Buffer.alloc(9);
    b[0] = T_UINT;
    b.writeBigUInt64BE(BigInt(v), 1);
    out.push(b);
  } else if (typeof v === 'string') {
    const s = Buffer.from(v, 'utf8');
    out.push(head(T_STRING, s.length), s);
  } else if (v instanceof Uint8Array) {
    out.push(head(T_BYTES, v.length), Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  } else if (Array.isArray(v)) {
    out.push(head(T_ARRAY, v.length));
    for (const item of v) write(item, out, depth + 1);
  } else {
    const keys = Object.keys(v);
    out.push(head(T_MAP, keys.length));
    for (const k of keys) {
      const kb = Buffer.from(k, 'utf8');
      if (kb.length > 255) throw new RangeError('map key too long');
      out.push(Buffer.of(kb.length), kb);
      write(v[k] as Value, out, depth + 1);
    }
  }
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
      const n = buf.readBigUInt64BE(r.pos);
      r.pos += 8;
      if (n > BigInt(Number.MAX_SAFE_INTEGER)) bad('integer out of range');
      return Number(n);
    }
    case T_BYTES:
    case T_STRING: {
      need(buf, r, 4);
      const len = buf.readUInt32BE(r.pos);
      r.pos += 4;
      need(buf, r, len);
      const slice = buf.subarray(r.pos, r.pos + len);
      r.pos += len;
      if (tag === T_BYTES) return new Uint8Array(slice);
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
