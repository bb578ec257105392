// Outer frames: one WebSocket binary message = one frame. See docs/protocol.md "Frames".
import { toBuffer } from './bytes.ts';
import { ProtocolError } from './errors.ts';
import { NONCE_BYTES, TAG_BYTES } from './aead.ts';

export const PROTOCOL_VERSION = 1;
/** ws maxPayload on both sides: small on purpose (DESIGN.md). */
export const MAX_FRAME_BYTES = 256 * 1024;

export const FRAME_HELLO = 0x01;
export const FRAME_HELLO_REPLY = 0x02;
export const FRAME_RECORD = 0x03;
export const FRAME_ERROR = 0x7f;

export const TEMP_KEY_ID_BYTES = 8;
export const X25519_PUB_BYTES = 32;
export const HANDSHAKE_NONCE_BYTES = 32;
export const SIGNATURE_BYTES = 64;

/** The bare 404 frame: int32 big-endian -404, unauthenticated (like MTProto's -404). */
export const UNKNOWN_KEY_FRAME: Buffer = (() => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(-404);
  return b;
})();

/** Inside a record: msg_id(8) seq(4) session_id(8). */
export const RECORD_HEADER_BYTES = 20;
export const RECORD_MIN_BYTES = 1 + TEMP_KEY_ID_BYTES + NONCE_BYTES + RECORD_HEADER_BYTES + TAG_BYTES;

export const HELLO_BYTES = 1 + 1 + X25519_PUB_BYTES + HANDSHAKE_NONCE_BYTES;
export const HELLO_REPLY_BYTES = 1 + 1 + X25519_PUB_BYTES + HANDSHAKE_NONCE_BYTES + 8 + 4 + SIGNATURE_BYTES;
export const ERROR_FRAME_BYTES = 1 + 2 + 4;

/** Codes carried by an ERROR frame (plaintext, sent before the relay refuses a handshake). */
export const ERROR_FRAME_CODES = { RATE_LIMITED: 1, HANDSHAKE_INVALID: 2 } as const;

export interface HelloFrame {
  type: 'hello';
  version: number;
  clientEphPub: Buffer;
  clientNonce: Buffer;
}
export interface HelloReplyFrame {
  type: 'helloReply';
  version: number;
  relayEphPub: Buffer;
  relayNonce: Buffer;
  /** Relay clock, ms since the epoch. */
  relayTime: number;
  /** Longest temp key lifetime the relay accepts, seconds. */
  maxTtlSec: number;
  signature: Buffer;
}
export interface RecordFrame {
  type: 'record';
  tempKeyId: Buffer;
  nonce: Buffer;
  sealed: Buffer;
}
export interface ErrorFrame {
  type: 'error';
  code: number;
  retryAfterMs: number;
}
export interface UnknownKeyFrame {
  type: 'unknownKey';
}
export type Frame = HelloFrame | HelloReplyFrame | RecordFrame | ErrorFrame | UnknownKeyFrame;

function bad(detail: string): never {
  throw new ProtocolError('BAD_FRAME', detail);
}

/** Structural decode of one frame. Copies nothing secret; throws ProtocolError('BAD_FRAME'). */
export function decodeFrame(input: Uint8Array): Frame {
  const b = toBuffer(input);
  if (b.length > MAX_FRAME_BYTES) throw new ProtocolError('FRAME_TOO_LARGE');
  if (b.length === 4) {
    if (b.readInt32BE(0) !== -404) bad('4-byte frame that is not -404');
    return { type: 'unknownKey' };
  }
  if (b.length === 0) bad('empty frame');
  const type = b[0];
  switch (type) {
    case FRAME_HELLO: {
      if (b.length !== HELLO_BYTES) bad('hello has wrong length');
      if (b[1] !== PROTOCOL_VERSION) bad('unsupported protocol version');
      return { type: 'hello', version: b[1], clientEphPub: b.subarray(2, 34), clientNonce: b.subarray(34, 66) };
    }
    case FRAME_HELLO_REPLY: {
      if (b.length !== HELLO_REPLY_BYTES) bad('hello reply has wrong length');
      if (b[1] !== PROTOCOL_VERSION) bad('unsupported protocol version');
      const relayTime = b.readBigUInt64BE(66);
      if (relayTime > BigInt(Number.MAX_SAFE_INTEGER)) bad('relay time out of range');
      return {
        type: 'helloReply',
        version: b[1],
        relayEphPub: b.subarray(2, 34),
        relayNonce: b.subarray(34, 66),
        relayTime: Number(relayTime),
        maxTtlSec: b.readUInt32BE(74),
        signature: b.subarray(78, 142),
      };
    }
    case FRAME_RECORD: {
      if (b.length < RECORD_MIN_BYTES) bad('record too short');
      return {
        type: 'record',
        tempKeyId: b.subarray(1, 9),
        nonce: b.subarray(9, 9 + NONCE_BYTES),
        sealed: b.subarray(9 + NONCE_BYTES),
      };
    }
    case FRAME_ERROR: {
      if (b.length !== ERROR_FRAME_BYTES) bad('error frame has wrong length');
      return { type: 'error', code: b.readUInt16BE(1), retryAfterMs: b.readUInt32BE(3) };
    }
    default:
      return bad(`unknown frame type ${String(type)}`);
  }
}

export function encodeHello(clientEphPub: Uint8Array, clientNonce: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(FRAME_HELLO, PROTOCOL_VERSION), clientEphPub, clientNonce]);
}

export function encodeHelloReply(f: Omit<HelloReplyFrame, 'type' | 'version'>): Buffer {
  const tail = Buffer.alloc(12);
  tail.writeBigUInt64BE(BigInt(f.relayTime), 0);
  tail.writeUInt32BE(f.maxTtlSec, 8);
  return Buffer.concat([Buffer.of(FRAME_HELLO_REPLY, PROTOCOL_VERSION), f.relayEphPub, f.relayNonce, tail, f.signature]);
}

export function encodeRecordFrame(tempKeyId: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(FRAME_RECORD), tempKeyId, nonce, sealed]);
}

export function encodeErrorFrame(code: number, retryAfterMs: number): Buffer {
  const b = Buffer.alloc(ERROR_FRAME_BYTES);
  b[0] = FRAME_ERROR;
  b.writeUInt16BE(code, 1);
  b.writeUInt32BE(Math.max(0, Math.min(0xffffffff, Math.round(retryAfterMs))), 3);
  return b;
}
