// XChaCha20-Poly1305 for sealed rows, sealed files and key wrapping.
//
// Two interchangeable engines produce byte-identical output:
// - native: HChaCha20 (noble) derives the XChaCha subkey, then Node's OpenSSL
//   'chacha20-poly1305' (IETF, 12-byte nonce 0x00000000 || nonce[16..24]) does the bulk work.
//   About 5x faster than noble per small row, which is what makes sealed inserts cheap.
// - noble: @noble/ciphers xchacha20poly1305, used when the runtime's crypto lacks
//   chacha20-poly1305 (Electron's BoringSSL build is not guaranteed to offer it).
//
// A sealed blob is `nonce(24) || ciphertext || tag(16)`. Batches share one random 16-byte
// nonce prefix and count the last 8 bytes, so HChaCha20 runs once per batch instead of once
// per row; every nonce is still unique (random 128-bit prefix per batch, counter within it).
import { createCipheriv, createDecipheriv, getCiphers } from 'node:crypto';
import { RandomPool } from './random-pool.ts';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { CodedError } from '../../shared/errors.ts';
import { hchachaSubkey, KEY_BYTES, NONCE_BYTES, TAG_BYTES } from '../../shared/protocol/aead.ts';
import { keyCopy } from '../../shared/protocol/secret-bytes.ts';

// The same construction as the transport's records (shared/protocol/aead.ts), whose HChaCha20
// subkey derivation and sizes it uses.
export { KEY_BYTES, NONCE_BYTES, TAG_BYTES };
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/** Thrown when a blob fails authentication; callers turn it into VaultCorrupt / WrongPassword. */
export class SealOpenError extends CodedError<'SEAL_OPEN_FAILED'> {
  constructor(message = 'authentication failed') {
    super('SEAL_OPEN_FAILED', message);
  }
}

let nativeAvailable = getCiphers().includes('chacha20-poly1305');

/** Which engine seals and opens. Tests force 'noble' to prove both engines agree. */
export function aeadEngine(): 'native' | 'noble' {
  return nativeAvailable ? 'native' : 'noble';
}

/** For tests and benchmarks only: pretend native ChaCha20-Poly1305 is (un)available. */
export function setAeadEngineForTesting(engine: 'native' | 'noble'): void {
  nativeAvailable = engine === 'native' && getCiphers().includes('chacha20-poly1305');
}

/** Seals into `out` = nonce || ct || tag; the nonce bytes must already be in out[0..24]. */
function nativeSealInto(subkey: Buffer, iv: Buffer, out: Buffer, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  out.copy(iv, 4, 16, 24);
  const cipher = createCipheriv('chacha20-poly1305', subkey, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(ad, { plaintextLength: plaintext.length });
  out.set(cipher.update(plaintext), NONCE_BYTES);
  cipher.final();
  out.set(cipher.getAuthTag(), NONCE_BYTES + plaintext.length);
  return out;
}

function nativeOpen(subkey: Buffer, blob: Uint8Array, ad: Uint8Array): Buffer {
  const iv = Buffer.alloc(12);
  iv.set(blob.subarray(16, 24), 4);
  const decipher = createDecipheriv('chacha20-poly1305', subkey, iv, { authTagLength: TAG_BYTES });
  const ctLen = blob.length - SEAL_OVERHEAD;
  decipher.setAAD(ad, { plaintextLength: ctLen });
  decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
  const body = decipher.update(blob.subarray(NONCE_BYTES, NONCE_BYTES + ctLen));
  try {
    decipher.final();
  } catch {
    body.fill(0);
    throw new SealOpenError();
  }
  return body;
}

/** Seals one blob under `key` with a fresh random nonce. */
export function seal(key: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  const sealer = new BatchSealer(key);
  try {
    return sealer.seal(plaintext, ad);
  } finally {
    sealer.dispose(); // its HChaCha20 subkey is derived from the key: zeroed, not left to the collector
  }
}

/** Opens `nonce || ct || tag`; throws SealOpenError on any mismatch. */
export function open(key: Uint8Array, blob: Uint8Array, ad: Uint8Array): Buffer {
  if (blob.length < SEAL_OVERHEAD) throw new SealOpenError('blob too short');
  if (!nativeAvailable) {
    try {
      const nonce = blob.subarray(0, NONCE_BYTES);
      const plain = xchacha20poly1305(key, nonce, ad).decrypt(blob.subarray(NONCE_BYTES));
      try {
        return keyCopy(plain);
      } finally {
        plain.fill(0); // often a key (the data key from a wrap); the copy is off the V8 heap
      }
    } catch {
      throw new SealOpenError();
    }
  }
  const subkey = hchachaSubkey(key, blob.subarray(0, 16));
  try {
    return nativeOpen(subkey, blob, ad);
  } finally {
    subkey.fill(0);
  }
}

// Nonce prefixes come from a pool of CSPRNG bytes (a received message seals several rows, each
// with its own sealer, and a randomBytes call each cost more than the sealing). Nonces are not secret.
const prefixes = new RandomPool();

/**
 * Seals many blobs under one key: one random 16-byte nonce prefix and one HChaCha20 per
 * sealer, an 8-byte counter per blob. Use one sealer per batch (per transaction), then drop it.
 */
export class BatchSealer {
  private readonly key: Uint8Array;
  private readonly prefix: Buffer;
  private subkey: Buffer | undefined;
  private counter = 0n;
  private readonly iv = Buffer.alloc(12);

  constructor(key: Uint8Array) {
    this.key = key;
    this.prefix = prefixes.take(16);
    this.subkey = nativeAvailable ? hchachaSubkey(key, this.prefix) : undefined;
  }

  seal(plaintext: Uint8Array, ad: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(NONCE_BYTES + plaintext.length + TAG_BYTES);
    this.prefix.copy(out, 0);
    out.writeBigUInt64LE(this.counter, 16);
    this.counter += 1n;
    if (this.subkey) return nativeSealInto(this.subkey, this.iv, out, plaintext, ad);
    out.set(xchacha20poly1305(this.key, out.subarray(0, NONCE_BYTES), ad).encrypt(plaintext), NONCE_BYTES);
    return out;
  }

  /** Zeroes the batch subkey. */
  dispose(): void {
    this.subkey?.fill(0);
    this.subkey = undefined;
  }
}

/** Caches HChaCha20 subkeys by nonce prefix while opening many blobs of one batch (e.g. a page). */
export class BatchOpener {
  private readonly key: Uint8Array;
  private readonly cache = new Map<string, Buffer>();

  constructor(key: Uint8Array) {
    this.key = key;
  }

  open(blob: Uint8Array, ad: Uint8Array): Buffer {
    if (blob.length < SEAL_OVERHEAD) throw new SealOpenError('blob too short');
    if (!nativeAvailable) return open(this.key, blob, ad);
    const prefixKey = Buffer.from(blob.buffer, blob.byteOffset, 16).toString('latin1');
    let subkey = this.cache.get(prefixKey);
    if (!subkey) {
      if (this.cache.size >= 64) this.dispose();
      subkey = hchachaSubkey(this.key, blob.subarray(0, 16));
      this.cache.set(prefixKey, subkey);
    }
    return nativeOpen(subkey, blob, ad);
  }

  dispose(): void {
    for (const k of this.cache.values()) k.fill(0);
    this.cache.clear();
  }
}
