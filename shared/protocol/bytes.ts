// Small byte helpers shared by the codec, handshake and record layer.
import { timingSafeEqual } from 'node:crypto';

export function concat(...parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

export function u64be(value: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(value));
  return b;
}

export function u32be(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b;
}

/** Constant-time for equal lengths; different lengths are not secret here. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function isAllZero(a: Uint8Array): boolean {
  let acc = 0;
  for (const x of a) acc |= x;
  return acc === 0;
}

export function toBuffer(a: Uint8Array): Buffer {
  return Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

export function ascii(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}
