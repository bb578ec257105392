// The raw XChaCha20 stream of a sealed blob, for the tests that decrypt every BLOB of a profile
// with every observed subkey (test/messaging/profile-scan.ts, test/vault/deletion-scan.ts): the
// AEAD's ciphertext starts at block 1, so the stream alone (no tag, no associated data) recovers
// whatever any sealed value holds. The same bytes as noble's xchacha20(key, nonce, ct, _, 1), but
// OpenSSL's chacha20 does the bulk work and each HChaCha20 subkey is derived once per nonce prefix
// (a vault batch shares one prefix): the pure-JS stream was most of the deletion tests' time.
import { createDecipheriv, getCiphers } from 'node:crypto';
import { xchacha20 } from '@noble/ciphers/chacha.js';
import { hchachaSubkey, NONCE_BYTES, TAG_BYTES } from '../../shared/protocol/aead.ts';

const native = getCiphers().includes('chacha20');

/**
 * Decrypts sealed blobs (nonce(24) || ct || tag(16)) with each of `keys` as a raw stream. Call
 * dispose() when done: the HChaCha20 subkeys it caches are zeroed there.
 */
export class StreamOpener {
  private readonly keys: readonly Uint8Array[];
  /** Subkeys by nonce prefix (latin1), one per key in `keys`' order. */
  private readonly subkeys = new Map<string, Buffer[]>();
  private readonly iv = Buffer.alloc(16);

  constructor(keys: readonly Uint8Array[]) {
    this.keys = keys;
    // OpenSSL's chacha20 IV: a 32-bit little-endian block counter, then the 12-byte IETF nonce
    // 0x00000000 || nonce[16..24]. Block 1: block 0 keys Poly1305 in the AEAD.
    this.iv.writeUInt32LE(1, 0);
  }

  /** `blob`'s ciphertext (between its nonce and its tag) decrypted with each key, in `keys`' order. */
  *open(blob: Uint8Array): Generator<Uint8Array> {
    if (blob.length <= NONCE_BYTES + TAG_BYTES) return;
    const nonce = blob.subarray(0, NONCE_BYTES);
    const ct = blob.subarray(NONCE_BYTES, blob.length - TAG_BYTES);
    if (!native) {
      for (const k of this.keys) yield xchacha20(k, nonce, ct, undefined, 1);
      return;
    }
    const prefix = Buffer.from(nonce.buffer, nonce.byteOffset, 16).toString('latin1');
    let subs = this.subkeys.get(prefix);
    if (!subs) {
      if (this.subkeys.size >= 4096) this.dispose();
      subs = this.keys.map((k) => hchachaSubkey(k, nonce));
      this.subkeys.set(prefix, subs);
    }
    this.iv.set(nonce.subarray(16, 24), 8);
    for (const sub of subs) yield createDecipheriv('chacha20', sub, this.iv).update(ct);
  }

  dispose(): void {
    for (const subs of this.subkeys.values()) for (const s of subs) s.fill(0);
    this.subkeys.clear();
  }
}
