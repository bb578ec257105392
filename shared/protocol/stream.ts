// Attachment stream: one random 32-byte key per file, the plaintext padded, cut into 64 KiB
// chunks, each sealed with ChaCha20-Poly1305 under a nonce of an 11-byte big-endian chunk
// counter and a final-chunk flag byte (age's STREAM, C2SP age §payload). A chunk moved to
// another place, a dropped tail, an extra chunk or a flipped bit fails to open. The relay sees
// only the padded ciphertext size (docs/protocol.md "Attachment stream").
import { createCipheriv, createDecipheriv, createHash, getCiphers } from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { CodedError } from '../errors.ts';

export const STREAM_KEY_BYTES = 32;
/** Plaintext bytes per chunk (age's size). */
export const STREAM_CHUNK_BYTES = 64 * 1024;
export const STREAM_TAG_BYTES = 16;
/** Ciphertext bytes of a full chunk: one chunk is one blob put/get, well under the 256 KiB frame. */
export const STREAM_SEALED_CHUNK_BYTES = STREAM_CHUNK_BYTES + STREAM_TAG_BYTES;
/** Smallest padded plaintext: tiny files all look alike. */
export const STREAM_MIN_PADDED = 1024;

export type StreamErrorCode = 'ATTACHMENT_CORRUPT' | 'ATTACHMENT_TRUNCATED';

/** A stream that does not open as the sender sealed it; nothing of it may be shown or saved. */
export class StreamError extends CodedError<StreamErrorCode> {
  constructor(code: StreamErrorCode, detail: string) {
    super(code, `${code}: ${detail}`);
  }
}

const nativeAvailable = getCiphers().includes('chacha20-poly1305');

/** Which ChaCha20-Poly1305 runs a chunk: Node's (OpenSSL) when it has one, else @noble/ciphers; both give the same bytes. */
export type ChunkCipher = 'native' | 'noble';
export function defaultChunkCipher(): ChunkCipher {
  return nativeAvailable ? 'native' : 'noble';
}

/**
 * Padmé (Nikitin et al., PETS 2019): rounds `size` up so that only O(log log size) bits of it
 * remain, at most about 12% overhead; and never below STREAM_MIN_PADDED.
 */
export function paddedSize(size: number): number {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError('size must be a non-negative integer');
  if (size <= STREAM_MIN_PADDED) return STREAM_MIN_PADDED;
  const e = Math.floor(Math.log2(size));
  const s = Math.floor(Math.log2(e)) + 1;
  const mask = 2 ** (e - s) - 1;
  return Math.ceil(size / (mask + 1)) * (mask + 1);
}

export interface StreamLayout {
  /** Plaintext length before padding. */
  size: number;
  padded: number;
  chunks: number;
  /** Bytes the relay stores: padded + one tag per chunk. */
  sealedSize: number;
}

export function streamLayout(size: number): StreamLayout {
  const padded = paddedSize(size);
  const chunks = Math.max(1, Math.ceil(padded / STREAM_CHUNK_BYTES));
  return { size, padded, chunks, sealedSize: padded + chunks * STREAM_TAG_BYTES };
}

/** Nonce of chunk `index`: 11-byte big-endian counter || 0x01 on the final chunk, else 0x00. */
export function chunkNonce(index: number, last: boolean): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError('bad chunk index');
  const n = new Uint8Array(12);
  let v = index;
  for (let i = 10; i >= 0 && v > 0; i--) {
    n[i] = v % 256;
    v = Math.floor(v / 256);
  }
  n[11] = last ? 1 : 0;
  return n;
}

function checkKey(key: Uint8Array): void {
  if (key.length !== STREAM_KEY_BYTES) throw new RangeError('stream key must be 32 bytes');
}

/**
 * The chunk AEAD itself, shared with the backup file (main/backup/age-file.ts): the sealed chunk
 * as parts (ciphertext then tag natively, one buffer from noble) so a writer can writev them
 * without a copy.
 */
export function sealChunkParts(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, cipher: ChunkCipher = defaultChunkCipher()): Uint8Array[] {
  if (cipher === 'noble') return [chacha20poly1305(key, nonce).encrypt(plaintext)];
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: STREAM_TAG_BYTES });
  const body = c.update(plaintext);
  c.final();
  return [body, c.getAuthTag()];
}

/** Opens one sealed chunk under `nonce`, or null for any failure (a failed native open's plaintext is zeroed). */
export function openChunkWithNonce(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, cipher: ChunkCipher = defaultChunkCipher()): Uint8Array | null {
  if (sealed.length < STREAM_TAG_BYTES) return null;
  if (cipher === 'noble') {
    try {
      return chacha20poly1305(key, nonce).decrypt(sealed);
    } catch {
      return null;
    }
  }
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: STREAM_TAG_BYTES });
  const n = sealed.length - STREAM_TAG_BYTES;
  d.setAuthTag(sealed.subarray(n));
  const body = d.update(sealed.subarray(0, n));
  try {
    d.final();
  } catch {
    body.fill(0);
    return null;
  }
  return body;
}

const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Seals one chunk (at most STREAM_CHUNK_BYTES of plaintext). */
export function sealChunk(key: Uint8Array, index: number, last: boolean, plaintext: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(plaintext.length + STREAM_TAG_BYTES);
  sealChunkInto(key, index, last, plaintext, out);
  return out;
}

/**
 * sealChunk into the caller's `out` (at least plaintext.length + STREAM_TAG_BYTES bytes; the
 * sealed chunk is its start), so an uploader can reuse its chunk buffers instead of leaving a
 * joined copy per chunk for the collector. Returns the sealed length.
 */
export function sealChunkInto(key: Uint8Array, index: number, last: boolean, plaintext: Uint8Array, out: Uint8Array): number {
  checkKey(key);
  if (plaintext.length > STREAM_CHUNK_BYTES) throw new RangeError('chunk too large');
  if (out.length < plaintext.length + STREAM_TAG_BYTES) throw new RangeError('output too small');
  let at = 0;
  for (const part of sealChunkParts(key, chunkNonce(index, last), plaintext)) {
    out.set(part, at);
    at += part.length;
  }
  return at;
}

/** Opens one chunk, or null for any failure (one failure path). */
export function openChunk(key: Uint8Array, index: number, last: boolean, sealed: Uint8Array): Buffer | null {
  checkKey(key);
  if (sealed.length < STREAM_TAG_BYTES || sealed.length > STREAM_SEALED_CHUNK_BYTES) return null;
  const body = openChunkWithNonce(key, chunkNonce(index, last), sealed);
  return body && asBuffer(body);
}

/** Byte length of sealed chunk `index` in a stream of `layout`. */
export function sealedChunkLength(layout: StreamLayout, index: number): number {
  if (index < layout.chunks - 1) return STREAM_SEALED_CHUNK_BYTES;
  return layout.padded - (layout.chunks - 1) * STREAM_CHUNK_BYTES + STREAM_TAG_BYTES;
}

/** Re-cuts arbitrary pieces into exact `sizeOf(i)`-byte units (the last may be short: the caller checks). */
async function* units(source: AsyncIterable<Uint8Array>, sizeOf: (i: number) => number, count: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let have = 0;
  let i = 0;
  for await (const piece of source) {
    parts.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
    have += piece.byteLength;
    while (i < count && have >= sizeOf(i)) {
      const all = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
      const want = sizeOf(i);
      yield Buffer.from(all.subarray(0, want));
      const rest = all.subarray(want);
      parts = rest.length > 0 ? [rest] : [];
      have = rest.length;
      i++;
    }
    if (i >= count && have > 0) break;
  }
  if (have > 0) yield parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

/**
 * Seals `source` (exactly `size` bytes, in pieces of any length) and yields the sealed chunks
 * in order, one per chunk. The padding (zeros) is sealed with the tail. Memory: one chunk.
 */
export async function* sealStream(key: Uint8Array, size: number, source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const layout = streamLayout(size);
  let read = 0;
  let index = 0;
  const plainOf = (i: number): number => (i < layout.chunks - 1 ? STREAM_CHUNK_BYTES : layout.padded - (layout.chunks - 1) * STREAM_CHUNK_BYTES);
  // The file's bytes, then zeros up to the padded size, cut into chunks.
  async function* padded(): AsyncGenerator<Uint8Array> {
    for await (const piece of source) {
      read += piece.byteLength;
      if (read > size) throw new RangeError('source is longer than its declared size');
      yield piece;
    }
    if (read !== size) throw new RangeError('source is shorter than its declared size');
    let pad = layout.padded - size;
    while (pad > 0) {
      const n = Math.min(pad, STREAM_CHUNK_BYTES);
      yield new Uint8Array(n);
      pad -= n;
    }
  }
  for await (const plain of units(padded(), plainOf, layout.chunks)) {
    yield sealChunk(key, index, index === layout.chunks - 1, plain);
    index++;
  }
}

/**
 * Opens sealed bytes (in pieces of any length) of a stream whose plaintext is `size` bytes and
 * yields the plaintext in order, without the padding. Throws StreamError when a chunk does not
 * open at its place, the stream ends early, runs on, or the padding is not zeros. A consumer
 * must not show or keep anything until the whole stream has opened (or the digest matched).
 */
export async function* openStream(key: Uint8Array, size: number, source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const layout = streamLayout(size);
  let index = 0;
  let out = 0;
  for await (const sealed of units(source, (i) => sealedChunkLength(layout, i), layout.chunks)) {
    if (index >= layout.chunks) throw new StreamError('ATTACHMENT_CORRUPT', 'data after the final chunk');
    const last = index === layout.chunks - 1;
    if (sealed.length !== sealedChunkLength(layout, index)) throw new StreamError('ATTACHMENT_TRUNCATED', `chunk ${index} is short`);
    const plain = openChunk(key, index, last, sealed);
    if (!plain) throw new StreamError('ATTACHMENT_CORRUPT', `chunk ${index} does not open`);
    const keep = Math.max(0, Math.min(plain.length, size - out));
    for (let i = keep; i < plain.length; i++) if (plain[i] !== 0) throw new StreamError('ATTACHMENT_CORRUPT', 'padding is not zeros');
    out += keep;
    index++;
    if (keep > 0) yield plain.subarray(0, keep);
  }
  if (index < layout.chunks) throw new StreamError('ATTACHMENT_TRUNCATED', `stream ends after ${index} of ${layout.chunks} chunks`);
}

/** SHA-256 of the sealed stream (what the E2E message carries and the downloader checks). */
export class SealedDigest {
  private readonly h = createHash('sha256');
  update(sealed: Uint8Array): void {
    this.h.update(sealed);
  }
  digest(): Buffer {
    return this.h.digest();
  }
}
