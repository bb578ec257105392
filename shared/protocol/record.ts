// Record layer: temp_key_id || nonce || AEAD(dir_key, nonce, payload, ad = temp_key_id || direction),
// payload = msg_id(8) || seq(4) || session_id(8) || body. Checks on open, in order: tag (one
// failure path), session, replay window, time window. Every failure returns null.
import { randomBytes } from 'node:crypto';
import { open as aeadOpen, sealPartsInto as aeadSealPartsInto, NONCE_BYTES, TAG_BYTES } from './aead.ts';
import { bytesEqual, toBuffer } from './bytes.ts';
import { FRAME_RECORD, MAX_FRAME_BYTES, RECORD_HEADER_BYTES, TEMP_KEY_ID_BYTES, type RecordFrame } from './frames.ts';
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

/** Gives the buffer a sealed record frame of `length` bytes is written into. */
export type FrameAllocator = (length: number) => Buffer;

const freshFrame: FrameAllocator = (length) => Buffer.allocUnsafe(length);

/**
 * Reused buffers of a few fixed sizes (slabs) for large buffers that each lived for one write and
 * then waited outside the V8 heap for a collection: record frames (an attachment chunk's record,
 * 64-256 KiB; see framePool) and the relay's blob reads (relay/blobs.ts). A buffer is a view of a
 * slab; its user gives it back once nothing reads it any more (a frame: in the socket's write
 * callback, ws.send's, never before). Only ciphertext goes in (sealed records, sealed chunks), so
 * slabs need no zeroing. A buffer never given back (its connection closed first) is simply
 * collected; at most `maxFree` slabs of each size are kept.
 */
export class BufferPool {
  private readonly free: Map<number, ArrayBuffer[]>;
  /** Slabs handed out and not yet given back: give() takes back only these, once each (weak: one never given back is collected). */
  private readonly lent = new WeakSet<ArrayBuffer>();
  readonly counters = { taken: 0, reused: 0 };

  /** `slabSizes` ascending; a request under `minPooled` bytes or over the largest size gets a new buffer. */
  constructor(private readonly slabSizes: readonly number[], private readonly minPooled: number, private readonly maxFree = 16) {
    this.free = new Map(slabSizes.map((size) => [size, []]));
  }

  readonly take: FrameAllocator = (length) => {
    const size = this.slabSizes.find((s) => s >= length);
    if (length < this.minPooled || size === undefined) return freshFrame(length);
    this.counters.taken++;
    let slab = this.free.get(size)?.pop();
    if (slab) this.counters.reused++;
    else slab = new ArrayBuffer(size);
    this.lent.add(slab);
    return Buffer.from(slab, 0, length);
  };

  /** Takes back a buffer (or any view into it) take() handed out; anything else, or a second give, is ignored. */
  give(buffer: Uint8Array): void {
    const slab = buffer.buffer;
    if (!(slab instanceof ArrayBuffer) || !this.lent.delete(slab)) return;
    const free = this.free.get(slab.byteLength);
    if (free && free.length < this.maxFree) free.push(slab);
  }
}

/** Slab sizes of record frames: a chunk's record (64 KiB and its overhead) or a batch up to MAX_FRAME_BYTES. */
export const FRAME_SLAB_SIZES = [128 * 1024, MAX_FRAME_BYTES] as const;

/** A pool for record frames of at least 32 KiB (smaller ones are cheap to allocate). */
export function framePool(): BufferPool {
  return new BufferPool(FRAME_SLAB_SIZES, 32 * 1024);
}

/**
 * sealRecord of a body given as consecutive parts (rpc.ts BodyParts): sealed straight from
 * them, so an attachment chunk in a body is not first copied into one body buffer. The same
 * record as sealRecord of their concatenation.
 */
export function sealRecordParts(key: Uint8Array, tempKeyId: Uint8Array, direction: number, header: Omit<RecordPayload, 'body'>, body: readonly Uint8Array[], nonce: Uint8Array = freshNonce(), allocate: FrameAllocator = freshFrame): Buffer {
  if (tempKeyId.length !== TEMP_KEY_ID_BYTES || nonce.length !== NONCE_BYTES) throw new RangeError('bad temp key id or nonce length');
  let bodyLength = 0;
  for (const part of body) bodyLength += part.length;
  writeHeader(header, headerScratch);
  // type || temp_key_id || nonce || ciphertext || tag, written into one buffer
  const head = 1 + TEMP_KEY_ID_BYTES + NONCE_BYTES;
  const frame = allocate(head + RECORD_HEADER_BYTES + bodyLength + TAG_BYTES);
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

  /**
   * Seals `body`, one buffer or consecutive parts (rpc.ts BodyParts), into a record frame, a
   * buffer from `allocate` (e.g. a BufferPool's take) or a new one.
   */
  seal(body: Uint8Array | BodyParts, o: SealOverrides = {}, allocate?: FrameAllocator): Buffer {
    const sessionId = o.sessionId ?? this.sessionId;
    if (!sessionId) throw new Error('record endpoint has no session yet');
    const msgId = o.msgId ?? this.nextMsgId();
    this.seq = (this.seq + 1) >>> 0;
    const header = { msgId, seq: this.seq, sessionId };
    if (body instanceof Uint8Array) return sealRecordParts(this.sendKey, this.tempKeyId, this.sendDir, header, [toBuffer(body)], o.nonce, allocate);
    return sealRecordParts(this.sendKey, this.tempKeyId, this.sendDir, header, body.parts, o.nonce, allocate);
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
