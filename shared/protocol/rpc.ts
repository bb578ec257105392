// Record bodies: requests, responses, errors and pushes. See docs/protocol.md "Bodies".
import { toBuffer, u32be } from './bytes.ts';
import { ProtocolError } from './errors.ts';
import { decodeValue, valueSize, writeValue, type Value } from './value.ts';

export const BODY_REQUEST = 0x01;
export const BODY_RESULT = 0x02;
export const BODY_ERROR = 0x03;
export const BODY_PUSH = 0x04;
/** Several bodies in one record (docs/protocol.md "Bodies"): one AEAD and one TLS write for all. */
export const BODY_BATCH = 0x05;
export const MAX_BATCH_BODIES = 1024;
/** Senders start a new record before a batch grows past this (frames are at most 256 KiB). */
export const BATCH_TARGET_BYTES = 128 * 1024;

const NAME_RE = /^[a-z][a-zA-Z0-9.]{0,31}$/;
const CODE_RE = /^[A-Z][A-Z0-9_]{0,47}$/;
const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true });

export interface RequestBody { kind: 'request'; reqId: number; method: string; params: Value }
export interface ResultBody { kind: 'result'; reqId: number; result: Value }
export interface ErrorBody { kind: 'error'; reqId: number; code: string; detail: string }
export interface PushBody { kind: 'push'; topic: string; data: Value }
export type Body = RequestBody | ResultBody | ErrorBody | PushBody;

function bad(detail: string): never {
  throw new ProtocolError('BAD_FRAME', detail);
}

function checkName(s: string): void {
  if (!NAME_RE.test(s)) throw new RangeError(`invalid method or topic name: ${s}`);
}

/** kind || [reqId(4)] || [len || name] || value, in one allocation. */
function withValue(kind: number, reqId: number | undefined, nameStr: string | undefined, v: Value): Buffer {
  const head = 1 + (reqId === undefined ? 0 : 4) + (nameStr === undefined ? 0 : 1 + nameStr.length);
  const out = Buffer.allocUnsafe(head + valueSize(v, 0));
  out[0] = kind;
  let pos = 1;
  if (reqId !== undefined) {
    out.writeUInt32BE(reqId >>> 0, pos);
    pos += 4;
  }
  if (nameStr !== undefined) {
    out[pos] = nameStr.length;
    out.write(nameStr, pos + 1, 'latin1');
    pos += 1 + nameStr.length;
  }
  if (writeValue(v, out, pos, 0) !== out.length) throw new Error('body size mismatch');
  return out;
}

export function encodeBody(body: Body): Buffer {
  switch (body.kind) {
    case 'request':
      checkName(body.method);
      return withValue(BODY_REQUEST, body.reqId, body.method, body.params);
    case 'result':
      return withValue(BODY_RESULT, body.reqId, undefined, body.result);
    case 'error': {
      if (!CODE_RE.test(body.code)) throw new RangeError(`invalid error code: ${body.code}`);
      const detail = Buffer.from(body.detail.slice(0, 200), 'utf8');
      const len = Buffer.alloc(2);
      len.writeUInt16BE(detail.length);
      return Buffer.concat([Buffer.of(BODY_ERROR), u32be(body.reqId), Buffer.of(body.code.length), Buffer.from(body.code, 'latin1'), len, detail]);
    }
    case 'push':
      checkName(body.topic);
      return withValue(BODY_PUSH, undefined, body.topic, body.data);
  }
}

function readName(b: Buffer, pos: number, re: RegExp): [string, number] {
  if (pos >= b.length) bad('name truncated');
  const len = b[pos] as number;
  if (pos + 1 + len > b.length) bad('name truncated');
  const s = b.subarray(pos + 1, pos + 1 + len).toString('latin1');
  if (!re.test(s)) bad('invalid name');
  return [s, pos + 1 + len];
}

export function decodeBody(input: Uint8Array): Body {
  const b = toBuffer(input);
  if (b.length < 1) bad('empty body');
  const kind = b[0];
  if (kind === BODY_PUSH) {
    const [topic, pos] = readName(b, 1, NAME_RE);
    return { kind: 'push', topic, data: decodeValue(b.subarray(pos)) };
  }
  if (b.length < 5) bad('body truncated');
  const reqId = b.readUInt32BE(1);
  switch (kind) {
    case BODY_REQUEST: {
      const [method, pos] = readName(b, 5, NAME_RE);
      return { kind: 'request', reqId, method, params: decodeValue(b.subarray(pos)) };
    }
    case BODY_RESULT:
      return { kind: 'result', reqId, result: decodeValue(b.subarray(5)) };
    case BODY_ERROR: {
      const [code, pos] = readName(b, 5, CODE_RE);
      if (pos + 2 > b.length) bad('error detail truncated');
      const len = b.readUInt16BE(pos);
      if (pos + 2 + len !== b.length) bad('error detail length mismatch');
      let detail: string;
      try {
        detail = UTF8_STRICT.decode(b.subarray(pos + 2));
      } catch {
        return bad('error detail is not UTF-8');
      }
      return { kind: 'error', reqId, code, detail };
    }
    default:
      return bad(`unknown body kind ${String(kind)}`);
  }
}

/** BATCH = 0x05 || u16(count) || (u32(len) || body)*count; inner bodies are never batches. */
export function encodeBatch(bodies: readonly Uint8Array[]): Buffer {
  if (bodies.length < 1 || bodies.length > MAX_BATCH_BODIES) throw new RangeError('batch must hold 1..1024 bodies');
  let size = 3;
  for (const b of bodies) {
    if (b.length < 1 || b[0] === BODY_BATCH) throw new RangeError('a batch holds only plain bodies');
    size += 4 + b.length;
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = BODY_BATCH;
  out.writeUInt16BE(bodies.length, 1);
  let pos = 3;
  for (const b of bodies) {
    out.writeUInt32BE(b.length, pos);
    out.set(b, pos + 4);
    pos += 4 + b.length;
  }
  return out;
}

/** One body, or every body of a batch in order. Throws ProtocolError('BAD_FRAME'). */
export function decodeBodies(input: Uint8Array): Body[] {
  const b = toBuffer(input);
  if (b.length < 1 || b[0] !== BODY_BATCH) return [decodeBody(b)];
  if (b.length < 3) bad('batch truncated');
  const count = b.readUInt16BE(1);
  if (count < 1 || count > MAX_BATCH_BODIES) bad('batch count out of range');
  const out: Body[] = [];
  let pos = 3;
  for (let i = 0; i < count; i++) {
    if (pos + 4 > b.length) bad('batch truncated');
    const len = b.readUInt32BE(pos);
    pos += 4;
    if (len < 1 || pos + len > b.length) bad('batch entry truncated');
    if (b[pos] === BODY_BATCH) bad('nested batch');
    out.push(decodeBody(b.subarray(pos, pos + len)));
    pos += len;
  }
  if (pos !== b.length) bad('trailing bytes after batch');
  return out;
}
