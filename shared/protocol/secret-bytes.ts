// Buffers for key bytes, and HKDF without hidden copies of its input key.
//
// Where key bytes live decides whether zeroing them erases them:
// - A typed array of 64 bytes or less made by length (`new Uint8Array(32)`, `Buffer.alloc(32)`,
//   `randomBytes(32)`) keeps its bytes inside the V8 heap, where the garbage collector moves
//   objects and leaves the old bytes behind. An ArrayBuffer's backing store lives outside the
//   heap and never moves, so `fill(0)` on it is final. Keys therefore go into keyBuffer().
// - node:crypto's hkdfSync turns its input key into a KeyObject, a native copy that stays until
//   the garbage collector frees it (any time later, or never). hkdfSha256 uses HMAC objects
//   instead: they copy no key into a KeyObject and free their OpenSSL state, which OpenSSL
//   cleanses, at digest().
import { createHmac } from 'node:crypto';

/** A zeroed buffer outside the V8 heap: fill(0) on it erases the only copy. */
export function keyBuffer(length: number): Buffer {
  return Buffer.from(new ArrayBuffer(length));
}

/** Copies key bytes into a keyBuffer. */
export function keyCopy(bytes: Uint8Array): Buffer {
  const out = keyBuffer(bytes.length);
  out.set(bytes);
  return out;
}

/** HKDF-SHA256 (RFC 5869), byte-identical to hkdfSync('sha256', ...); the result is a keyBuffer. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: string | Uint8Array, length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 1 || length > 255 * 32) throw new RangeError('bad HKDF output length');
  const infoBytes = typeof info === 'string' ? Buffer.from(info, 'utf8') : info;
  // RFC 5869: an empty salt means HashLen zero bytes (HMAC pads a short key with zeros anyway).
  const prk = createHmac('sha256', salt.length > 0 ? salt : Buffer.alloc(32)).update(ikm).digest();
  const out = keyBuffer(length);
  let t: Buffer | undefined;
  try {
    for (let i = 1, off = 0; off < length; i++, off += 32) {
      const h = createHmac('sha256', prk);
      if (t) h.update(t);
      const next = h.update(infoBytes).update(Buffer.of(i)).digest();
      t?.fill(0);
      t = next;
      t.copy(out, off, 0, Math.min(32, length - off));
    }
    return out;
  } finally {
    t?.fill(0);
    prk.fill(0);
  }
}
