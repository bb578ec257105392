// XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha): subkey = HChaCha20(key, nonce[0..16]),
// then IETF ChaCha20-Poly1305 with nonce 0x00000000 || nonce[16..24]. Node's native
// chacha20-poly1305 is ~5x faster than pure JS; when the runtime lacks it (some BoringSSL
// builds), @noble/ciphers' xchacha20poly1305 gives the same bytes.
// This runs three or more times per relayed message on each side, so the native path keeps
// its scratch words in module-level arrays (zeroed after every use) and writes the sealed
// bytes straight into the caller's frame instead of concatenating.
import { createCipheriv, createDecipheriv, getCiphers } from 'node:crypto';
import { endianness } from 'node:os';
import { hchacha, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { keyBuffer } from './secret-bytes.ts';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;

const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
const nativeAvailable = getCiphers().includes('chacha20-poly1305');
const littleEndian = endianness() === 'LE';

// Scratch for one subkey derivation at a time (JS is single-threaded; nothing here awaits).
// Outside the V8 heap (keyBuffer), so the garbage collector never leaves moved copies of keys.
const kWords = new Uint32Array(keyBuffer(32).buffer, 0, 8);
const nWords = new Uint32Array(keyBuffer(16).buffer, 0, 4);
const outWords = new Uint32Array(keyBuffer(32).buffer, 0, 8);
const kBytes = new Uint8Array(kWords.buffer);
const nBytes = new Uint8Array(nWords.buffer);
const subBytes = new Uint8Array(outWords.buffer);
const ivScratch = new Uint8Array(12);

/** Derives the HChaCha20 subkey into `subBytes`; the caller zeroes it with `wipe()`. */
function subkey(key: Uint8Array, nonce: Uint8Array): Uint8Array {
  if (littleEndian) {
    kBytes.set(key);
    nBytes.set(nonce.subarray(0, 16));
  } else {
    const kv = new DataView(key.buffer, key.byteOffset, KEY_BYTES);
    const nv = new DataView(nonce.buffer, nonce.byteOffset, 16);
    for (let i = 0; i < 8; i++) kWords[i] = kv.getUint32(4 * i, true);
    for (let i = 0; i < 4; i++) nWords[i] = nv.getUint32(4 * i, true);
  }
  hchacha(SIGMA, kWords, nWords, outWords);
  if (!littleEndian) {
    const ov = new DataView(subBytes.buffer);
    for (let i = 0; i < 8; i++) ov.setUint32(4 * i, outWords[i] as number, true);
  }
  kWords.fill(0);
  return subBytes;
}

function wipe(): void {
  outWords.fill(0);
  kWords.fill(0);
}

/**
 * HChaCha20(key, nonce[0..16]): the XChaCha20 subkey as a new keyBuffer the caller zeroes, for
 * a caller that seals or opens many blobs under one nonce prefix (the vault's batches).
 */
export function hchachaSubkey(key: Uint8Array, prefix16: Uint8Array): Buffer {
  if (key.length !== KEY_BYTES || prefix16.length < 16) throw new RangeError('key must be 32 bytes and the prefix 16');
  const out = keyBuffer(32);
  try {
    out.set(subkey(key, prefix16));
  } finally {
    wipe();
  }
  return out;
}

function ietfNonce(nonce: Uint8Array): Uint8Array {
  ivScratch.set(nonce.subarray(16, 24), 4);
  return ivScratch;
}

function check(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== KEY_BYTES) throw new RangeError('key must be 32 bytes');
  if (nonce.length !== NONCE_BYTES) throw new RangeError('nonce must be 24 bytes');
}

/**
 * Seals `plaintext` and writes ciphertext || tag into `out` at `offset` (which must have
 * plaintext.length + TAG_BYTES bytes of room). Returns `out`.
 */
export function sealInto(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, out: Buffer, offset: number): Buffer {
  check(key, nonce);
  if (out.length - offset < plaintext.length + TAG_BYTES) throw new RangeError('output too small');
  if (!nativeAvailable) {
    out.set(xchacha20poly1305(key, nonce, ad).encrypt(plaintext), offset);
    return out;
  }
  try {
    const c = createCipheriv('chacha20-poly1305', subkey(key, nonce), ietfNonce(nonce), { authTagLength: TAG_BYTES });
    c.setAAD(ad, { plaintextLength: plaintext.length });
    const body = c.update(plaintext);
    c.final();
    out.set(body, offset);
    out.set(c.getAuthTag(), offset + body.length);
    return out;
  } finally {
    wipe();
  }
}

/**
 * sealInto for a plaintext given as consecutive parts (a record's header and its body), so the
 * caller need not copy them into one buffer first: a 64 KiB attachment chunk is then copied
 * once less per record, on each side.
 */
export function sealPartsInto(key: Uint8Array, nonce: Uint8Array, parts: readonly Uint8Array[], ad: Uint8Array, out: Buffer, offset: number): Buffer {
  check(key, nonce);
  let length = 0;
  for (const p of parts) length += p.length;
  if (out.length - offset < length + TAG_BYTES) throw new RangeError('output too small');
  if (!nativeAvailable) return sealInto(key, nonce, Buffer.concat(parts), ad, out, offset);
  try {
    const c = createCipheriv('chacha20-poly1305', subkey(key, nonce), ietfNonce(nonce), { authTagLength: TAG_BYTES });
    c.setAAD(ad, { plaintextLength: length });
    let pos = offset;
    for (const p of parts) {
      const body = c.update(p);
      out.set(body, pos);
      pos += body.length;
    }
    c.final();
    out.set(c.getAuthTag(), pos);
    return out;
  } finally {
    wipe();
  }
}

/** Returns ciphertext || tag. */
export function seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  return sealInto(key, nonce, plaintext, ad, Buffer.allocUnsafe(plaintext.length + TAG_BYTES), 0);
}

/** Returns the plaintext, or null for any failure (one failure path, no detail). */
export function open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Buffer | null {
  check(key, nonce);
  if (sealed.length < TAG_BYTES) return null;
  if (!nativeAvailable) {
    try {
      return Buffer.from(xchacha20poly1305(key, nonce, ad).decrypt(sealed));
    } catch {
      return null;
    }
  }
  try {
    const d = createDecipheriv('chacha20-poly1305', subkey(key, nonce), ietfNonce(nonce), { authTagLength: TAG_BYTES });
    const ctLen = sealed.length - TAG_BYTES;
    d.setAAD(ad, { plaintextLength: ctLen });
    d.setAuthTag(sealed.subarray(ctLen));
    const body = d.update(sealed.subarray(0, ctLen));
    d.final();
    return body;
  } catch {
    return null;
  } finally {
    wipe();
  }
}
