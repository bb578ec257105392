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

/** Writes kind || [reqId(4)] || [len || name] at the start of `out`; returns where the value goes. */
function writeHead(out: Buffer, kind: number, reqId: number | undefined, nameStr: string | undefined): number {
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
  return pos;
}

function headBytes(reqId: number | undefined, nameStr: string | undefined): number {
  return 1 + (reqId === undefined ? 0 : 4) + (nameStr === undefined ? 0 : 1 + nameStr.length);
}

/** kind || [reqId(4)] || [len || name] || value, in one allocation. */
function withValue(kind: number, reqId: number | undefined, nameStr: string | undefined, v: Value): Buffer {
  const out = Buffer.allocUnsafe(headBytes(reqId, nameStr) + valueSize(v, 0));
  if (writeValue(v, out, writeHead(out, kind, reqId, nameStr), 0) !== out.length) throw new Error('body size mismatch');
  return out;
}

/**
 * A body as consecutive parts (their concatenation is the encoded body) and its length: byte
 * strings of at least PART_BYTES_MIN (an attachment chunk) are referenced, not copied, so a
 * record is sealed straight from them (RecordEndpoint.seal takes parts). The caller must not
 * change those bytes until the record is sealed.
 */
export interface BodyParts {
  parts: Uint8Array[];
  length: number;
}

/** The parts encoding of kind || [reqId(4)] || [len || name] || value. */
function withValueParts(kind: number, reqId: number | undefined, nameStr: string | undefined, v: Value): BodyParts {
  const large: Uint8Array[] = [];
  const out = Buffer.allocUnsafe(headBytes(reqId, nameStr) + valueSize(v, 0, large));
  const cuts: number[] = [];
  if (writeValue(v, out, writeHead(out, kind, reqId, nameStr), 0, cuts) !== out.length || cuts.length !== large.length) throw new Error('body size mismatch');
  if (cuts.length === 0) return { parts: [out], length: out.length };
  const parts: Uint8Array[] = [];
  let from = 0;
  let length = out.length;
  cuts.forEach((at, i) => {
    const data = large[i] as Uint8Array;
    if (at > from) parts.push(out.subarray(from, at));
    parts.push(data);
    length += data.length;
    from = at;
  });
  if (out.length > from) parts.push(out.subarray(from));
  return { parts, length };
}

/** encodeBody as parts (see BodyParts); the same bytes. */
export function encodeBodyParts(body: Body): BodyParts {
  switch (body.kind) {
    case 'request':
      checkName(body.method);
      return withValueParts(BODY_REQUEST, body.reqId, body.method, body.params);
    case 'result':
      return withValueParts(BODY_RESULT, body.reqId, undefined, body.result);
    case 'push':
      checkName(body.topic);
      return withValueParts(BODY_PUSH, undefined, body.topic, body.data);
    case 'error': {
      const encoded = encodeBody(body);
      return { parts: [encoded], length: encoded.length };
    }
  }
}

/** encodeBatch of bodies given as parts, itself as parts: nothing of the bodies is copied. */
export function encodeBatchParts(bodies: readonly BodyParts[]): BodyParts {
  if (bodies.length < 1 || bodies.length > MAX_BATCH_BODIES) throw new RangeError('batch must hold 1..1024 bodies');
  const head = Buffer.allocUnsafe(3 + 4 * bodies.length);
  head[0] = BODY_BATCH;
  head.writeUInt16BE(bodies.length, 1);
  const parts: Uint8Array[] = [head.subarray(0, 3)];
  let length = 3;
  bodies.forEach((b, i) => {
    const first = b.parts[0];
    if (b.length < 1 || !first || first.length < 1 || first[0] === BODY_BATCH) throw new RangeError('a batch holds only plain bodies');
    const len = head.subarray(3 + 4 * i, 7 + 4 * i);
    len.writeUInt32BE(b.length, 0);
    parts.push(len, ...b.parts);
    length += 4 + b.length;
  });
  return { parts, length };
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
