// Both sealing engines implement the same XChaCha20-Poly1305: blobs sealed by one open with the
// other, and with noble's reference xchacha20poly1305.
import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { BatchOpener, BatchSealer, open, seal, SealOpenError, setAeadEngineForTesting } from '../../main/vault/aead.ts';

describe('XChaCha20-Poly1305 engines', () => {
  afterEach(() => setAeadEngineForTesting('native'));

  it('gives every sealer its own nonce prefix, across refills of the prefix pool', () => {
    const key = randomBytes(32);
    const prefixes = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const blob = seal(key, new Uint8Array(1), new Uint8Array(0));
      prefixes.add(blob.subarray(0, 16).toString('hex'));
      expect(blob.subarray(16, 24)).toEqual(Buffer.alloc(8)); // counter 0: a fresh sealer
    }
    expect(prefixes.size).toBe(2000);
  });

  it('native and noble agree byte for byte and interoperate', () => {
    const key = randomBytes(32);
    for (const len of [0, 1, 200, 4096]) {
      const pt = randomBytes(len);
      const adBytes = randomBytes(len % 50);
      setAeadEngineForTesting('native');
      const a = seal(key, pt, adBytes);
      expect(Buffer.from(xchacha20poly1305(key, a.subarray(0, 24), adBytes).decrypt(a.subarray(24)))).toEqual(pt);
      setAeadEngineForTesting('noble');
      expect(open(key, a, adBytes)).toEqual(pt);
      const b = seal(key, pt, adBytes);
      setAeadEngineForTesting('native');
      expect(open(key, b, adBytes)).toEqual(pt);
      expect(new BatchOpener(key).open(b, adBytes)).toEqual(pt);
      // Same nonce -> same bytes from both engines.
      const expected = Buffer.concat([b.subarray(0, 24), xchacha20poly1305(key, b.subarray(0, 24), adBytes).encrypt(pt)]);
      expect(b).toEqual(expected);
    }
  });

  it('batch nonces are unique and a wrong AD or key fails', () => {
    const key = randomBytes(32);
    const s = new BatchSealer(key);
    const blobs = Array.from({ length: 100 }, (_, i) => s.seal(Buffer.from(`row ${i}`), Buffer.from(`ad ${i}`)));
    s.dispose();
    expect(new Set(blobs.map((b) => b.subarray(0, 24).toString('hex'))).size).toBe(100);
    expect(open(key, blobs[7]!, Buffer.from('ad 7')).toString()).toBe('row 7');
    expect(() => open(key, blobs[7]!, Buffer.from('ad 8'))).toThrow(SealOpenError);
    expect(() => open(randomBytes(32), blobs[7]!, Buffer.from('ad 7'))).toThrow(SealOpenError);
    expect(() => open(key, blobs[7]!.subarray(0, 30), Buffer.from('ad 7'))).toThrow(SealOpenError);
  });
});
