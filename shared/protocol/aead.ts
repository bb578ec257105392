// XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha): subkey = HChaCha20(key, nonce[0..16]),
// then IETF ChaCha20-Poly1305 with nonce 0x00000000 || nonce[16..24]. Node's native
// chacha20-poly1305 is ~5x faster than pure JS; when the runtime lacks it (some BoringSSL
// builds), @noble/ciphers' xchacha20poly1305 gives the same bytes.
import { createCipheriv, createDecipheriv, getCiphers } from 'node:crypto';
import { hchacha, xchacha20poly1305 } from '@noble/ciphers/chacha.js';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;

const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
const nativeAvailable = getCiphers().includes('chacha20-poly1305');

function subkey(key: Uint8Array, nonce: Uint8Array): Buffer {
  const kb = Buffer.from(key.buffer, key.byteOffset, KEY_BYTES);
  const nb = Buffer.from(nonce.buffer, nonce.byteOffset, NONCE_BYTES);
  const k = new Uint32Array(8);
  const n = new Uint32Array(4);
  const out = new Uint32Array(8);
  for (let i = 0; i < 8; i++) k[i] = kb.readUInt32LE(4 * i);
  for (let i = 0; i < 4; i++) n[i] = nb.readUInt32LE(4 * i);
  hchacha(SIGMA, k, n, out);
  const sub = Buffer.alloc(KEY_BYTES);
  for (let i = 0; i < 8; i++) sub.writeUInt32LE(out[i] as number, 4 * i);
  k.fill(0);
  out.fill(0);
  return sub;
}

function ietfNonce(nonce: Uint8Array): Buffer {
  const iv = Buffer.alloc(12);
  iv.set(nonce.subarray(16, 24), 4);
  return iv;
}

function check(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== KEY_BYTES) throw new RangeError('key must be 32 bytes');
  if (nonce.length !== NONCE_BYTES) throw new RangeError('nonce must be 24 bytes');
}

/** Returns ciphertext || tag. */
export function seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  check(key, nonce);
  if (!nativeAvailable) return Buffer.from(xchacha20poly1305(key, nonce, ad).encrypt(plaintext));
  const sub = subkey(key, nonce);
  try {
    const c = createCipheriv('chacha20-poly1305', sub, ietfNonce(nonce), { authTagLength: TAG_BYTES });
    c.setAAD(ad, { plaintextLength: plaintext.length });
    const body = c.update(plaintext);
    c.final();
    return Buffer.concat([body, c.getAuthTag()]);
  } finally {
    sub.fill(0);
  }
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
  const sub = subkey(key, nonce);
  try {
    const d = createDecipheriv('chacha20-poly1305', sub, ietfNonce(nonce), { authTagLength: TAG_BYTES });
    const ctLen = sealed.length - TAG_BYTES;
    d.setAAD(ad, { plaintextLength: ctLen });
    d.setAuthTag(sealed.subarray(ctLen));
    const body = d.update(sealed.subarray(0, ctLen));
    d.final();
    return body;
  } catch {
    return null;
  } finally {
    sub.fill(0);
  }
}
