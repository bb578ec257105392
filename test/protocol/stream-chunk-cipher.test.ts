// The one chunk AEAD (shared/protocol/stream.ts) that attachments and the age backup file both
// use: Node's and noble's ChaCha20-Poly1305 give the same sealed bytes, each opens the other's,
// and the attachment's sealChunk is exactly those parts under the STREAM nonce.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chunkNonce, defaultChunkCipher, openChunk, openChunkWithNonce, sealChunk, sealChunkParts, STREAM_CHUNK_BYTES } from '../../shared/protocol/stream.ts';

const key = randomBytes(32);
const plain = randomBytes(STREAM_CHUNK_BYTES);
const join = (parts: Uint8Array[]): Buffer => Buffer.concat(parts);

describe('stream chunk cipher', () => {
  it('native and noble seal the same bytes and open each other', () => {
    expect(defaultChunkCipher()).toBe('native');
    const nonce = chunkNonce(5, false);
    const native = join(sealChunkParts(key, nonce, plain, 'native'));
    const noble = join(sealChunkParts(key, nonce, plain, 'noble'));
    expect(native.equals(noble)).toBe(true);
    expect(Buffer.from(openChunkWithNonce(key, nonce, native, 'noble')!).equals(plain)).toBe(true);
    expect(Buffer.from(openChunkWithNonce(key, nonce, noble, 'native')!).equals(plain)).toBe(true);
    expect(sealChunk(key, 5, false, plain).equals(native)).toBe(true);
    expect(openChunk(key, 5, false, native)!.equals(plain)).toBe(true);
  });

  it('a wrong nonce (place or last flag) or a flipped bit opens to null with either engine', () => {
    const sealed = join(sealChunkParts(key, chunkNonce(1, true), plain.subarray(0, 100)));
    const flipped = Buffer.from(sealed);
    flipped[3]! ^= 1;
    for (const cipher of ['native', 'noble'] as const) {
      expect(openChunkWithNonce(key, chunkNonce(1, true), sealed, cipher)).not.toBeNull();
      expect(openChunkWithNonce(key, chunkNonce(1, false), sealed, cipher)).toBeNull();
      expect(openChunkWithNonce(key, chunkNonce(2, true), sealed, cipher)).toBeNull();
      expect(openChunkWithNonce(key, chunkNonce(1, true), flipped, cipher)).toBeNull();
      expect(openChunkWithNonce(key, chunkNonce(1, true), sealed.subarray(0, 15), cipher)).toBeNull();
    }
  });

  it('the nonce is the 11-byte big-endian counter then the last flag', () => {
    expect(Buffer.from(chunkNonce(0x0102030405, true)).toString('hex')).toBe('000000000000010203040501');
    expect(Buffer.from(chunkNonce(0, false)).toString('hex')).toBe('000000000000000000000000');
  });
});
