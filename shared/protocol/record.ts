// Record layer: temp_key_id || nonce || AEAD(dir_key, nonce, payload, ad = temp_key_id || direction),
// payload = msg_id(8) || seq(4) || session_id(8) || body. Checks on open, in order: tag (one
// failure path), session, replay window, time window. Every failure returns null.
import { randomBytes } from 'node:crypto';
import { open as aeadOpen, sealPartsInto as aeadSealPartsInto, NONCE_BYTES, TAG_BYTES } from './aead.ts';
import { bytesEqual, toBuffer } from './bytes.ts';
import { FRAME_RECORD, RECORD_HEADER_BYTES, TEMP_KEY_ID_BYTES, type RecordFrame } from './frames.ts';
import type { TempKeyMaterial } from './handshake.ts';
import type { BodyParts } from './rpc.ts';

export const DIRECTION_C2S = 0x01;
export const DIRECTION_S2C = 0x02;
export const REPLAY_WINDOW = 1000;
/** msg_id may be at most this far behind the receiver's (relay) clock. */
export const MAX_PAST_MS = 300_000;
/** ... and at most this far ahead. */
export const MAX_FUTURE_MS = 30_000;
/** msg_id = (ms since epoch << 16) | counter: time-based, strictly increasing per sender. */
export const MSG_ID_SHIFT = 16n;

export function msgIdTime(msgId: bigint): number {
  return Number(msgId >> MSG_ID_SHIFT);
}

export function recordAd(tempKeyId: Uint8Array, direction: number): Buffer {
  return Buffer.concat([tempKeyId, Buffer.of(direction)]);
}

// One AD buffer reused per call (records are sealed and opened synchronously, one at a time).
const adScratch = Buffer.alloc(TEMP_KEY_ID_BYTES + 1);
function adFor(tempKeyId: Uint8Array, direction: number): Buffer {
  if (tempKeyId.length !== TEMP_KEY_ID_BYTES) return recordAd(tempKeyId, direction);
  adScratch.set(tempKeyId);
  adScratch[TEMP_KEY_ID_BYTES] = direction;
  return adScratch;
}

export interface RecordPayload {
  msgId: bigint;
  seq: number;
  sessionId: Buffer;
  body: Buffer;
}

export function encodePayload(p: RecordPayload): Buffer {
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + p.body.length);
  writeHeader(p, out);
  out.set(p.body, RECORD_HEADER_BYTES);
  return out;
}

function writeHeader(p: Omit<RecordPayload, 'body'>, out: Buffer): void {
  out.writeBigUInt64BE(p.msgId, 0);
  out.writeUInt32BE(p.seq >>> 0, 8);
  if (p.sessionId.copy(out, 12) !== 8) throw new RangeError('session id must be 8 bytes');
}

// The payload header, written here and sealed ahead of the body (not copied in front of it).
const headerScratch = Buffer.alloc(RECORD_HEADER_BYTES);

// Nonces come from a pool refilled from the CSPRNG 170 at a time: one call per record cost
// more than the AEAD itself. Nonces are public; only uniqueness matters (192 random bits).
const NONCE_POOL_BYTES = NONCE_BYTES * 170;
let noncePool = Buffer.alloc(0);
let noncePos = NONCE_POOL_BYTES;

export function freshNonce(): Buffer {
  if (noncePos + NONCE_BYTES > noncePool.length) {
    noncePool = randomBytes(NONCE_POOL_BYTES);
    noncePos = 0;
  }
  // A view, not a copy: a pool is never written again once handed out.
  const n = noncePool.subarray(noncePos, noncePos + NONCE_BYTES);
  noncePos += NONCE_BYTES;
  return n;
}

export function sealRecord(key: Uint8Array, tempKeyId: Uint8Array, direction: number, payload: RecordPayload, nonce: Uint8Array = freshNonce()): Buffer {
  return sealRecordParts(key, tempKeyId, direction, payload, [payload.body], nonce);
}

/**
 * sealRecord of a body given as consecutive parts (rpc.ts BodyParts): sealed straight from
 * them, so an attachment chunk in a body is not first copied into one body buffer. The same
 * record as sealRecord of their concatenation.
 */
export function sealRecordParts(key: Uint8Array, tempKeyId: Uint8Array, direction: number, header: Omit<RecordPayload, 'body'>, body: readonly Uint8Array[], nonce: Uint8Array = freshNonce()): Buffer {
  if (tempKeyId.length !== TEMP_KEY_ID_BYTES || nonce.length !== NONCE_BYTES) throw new RangeError('bad temp key id or nonce length');
  let bodyLength = 0;
  for (const part of body) bodyLength += part.length;
  writeHeader(header, headerScratch);
  // type || temp_key_id || nonce || ciphertext || tag, written into one buffer
  const head = 1 + TEMP_KEY_ID_BYTES + NONCE_BYTES;
  const frame = Buffer.allocUnsafe(head + RECORD_HEADER_BYTES + bodyLength + TAG_BYTES);
  frame[0] = FRAME_RECORD;
  frame.set(tempKeyId, 1);
  frame.set(nonce, 1 + TEMP_KEY_ID_BYTES);
  return aeadSealPartsInto(key, nonce, [headerScratch, ...body], adFor(tempKeyId, direction), frame, head);
}

/** Tag check only; null on failure. */
export function openRecord(key: Uint8Array, frame: RecordFrame, direction: number): RecordPayload | null {
  const plain = aeadOpen(key, frame.nonce, frame.sealed, adFor(frame.tempKeyId, direction));
  if (!plain || plain.length < RECORD_HEADER_BYTES) return null;
  return {
    msgId: plain.readBigUInt64BE(0),
    seq: plain.readUInt32BE(8),
    sessionId: plain.subarray(12, 20),
    body: plain.subarray(RECORD_HEADER_BYTES),
  };
}

/** Remembers the last REPLAY_WINDOW msg_ids; anything at or below the evicted floor is refused. */
export class ReplayWindow {
  private readonly seen = new Set<bigint>();
  private readonly order: bigint[] = [];
  private head = 0;
  private floor = -1n;

  accept(msgId: bigint): boolean {
    if (msgId <= this.floor || this.seen.has(msgId)) return false;
    this.seen.add(msgId);
    this.order.push(msgId);
    if (this.order.length - this.head > REPLAY_WINDOW) {
      const evicted = this.order[this.head] as bigint;
      this.head++;
      this.seen.delete(evicted);
      if (evicted > this.floor) this.floor = evicted;
      if (this.head > 4096) {
        this.order.splice(0, this.head);
        this.head = 0;
      }
    }
    return true;
  }
}

export interface SealOverrides {
  /** Test-only overrides for crafting bad records and test vectors. */
  msgId?: bigint;
  nonce?: Uint8Array;
  sessionId?: Buffer;
}

/**
 * One side's view of one temp key: seals outgoing records, opens incoming ones.
 * `clock` returns the relay's time in ms (the relay's own clock, or the client's estimate).
 */
export class RecordEndpoint {
  readonly tempKeyId: Buffer;
  sessionId: Buffer | undefined;
  private readonly sendKey: Buffer;
  private readonly recvKey: Buffer;
  private readonly sendDir: number;
  private readonly recvDir: number;
  private lastMsgId = 0n;
  private seq = 0;
  private readonly window = new ReplayWindow();
  private readonly clock: () => number;

  constructor(material: TempKeyMaterial, side: 'client' | 'relay', clock: () => number, sessionId?: Buffer) {
    this.tempKeyId = material.id;
    this.sendKey = side === 'client' ? material.c2s : material.s2c;
    this.recvKey = side === 'client' ? material.s2c : material.c2s;
    this.sendDir = side === 'client' ? DIRECTION_C2S : DIRECTION_S2C;
    this.recvDir = side === 'client' ? DIRECTION_S2C : DIRECTION_C2S;
    this.clock = clock;
    this.sessionId = sessionId;
  }

  nextMsgId(): bigint {
    const t = BigInt(Math.floor(this.clock())) << MSG_ID_SHIFT;
    this.lastMsgId = t > this.lastMsgId ? t : this.lastMsgId + 1n;
    return this.lastMsgId;
  }

  /** Seals `body`, one buffer or consecutive parts (rpc.ts BodyParts), into a record frame. */
  seal(body: Uint8Array | BodyParts, o: SealOverrides = {}): Buffer {
    const sessionId = o.sessionId ?? this.sessionId;
    if (!sessionId) throw new Error('record endpoint has no session yet');
    const msgId = o.msgId ?? this.nextMsgId();
    this.seq = (this.seq + 1) >>> 0;
    const header = { msgId, seq: this.seq, sessionId };
    if (body instanceof Uint8Array) return sealRecord(this.sendKey, this.tempKeyId, this.sendDir, { ...header, body: toBuffer(body) }, o.nonce);
    return sealRecordParts(this.sendKey, this.tempKeyId, this.sendDir, header, body.parts, o.nonce);
  }

  /** All checks; null for every kind of failure. The first valid record pins the session. */
  open(frame: RecordFrame): RecordPayload | null {
    const p = openRecord(this.recvKey, frame, this.recvDir);
    if (!p) return null;
    if (this.sessionId && !bytesEqual(this.sessionId, p.sessionId)) return null;
    const now = this.clock();
    const t = msgIdTime(p.msgId);
    if (t < now - MAX_PAST_MS || t > now + MAX_FUTURE_MS) return null;
    if (!this.window.accept(p.msgId)) return null;
    if (!this.sessionId) this.sessionId = p.sessionId;
    return p;
  }

  zero(): void {
    this.sendKey.fill(0);
    this.recvKey.fill(0);
  }
}
