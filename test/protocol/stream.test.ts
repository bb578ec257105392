// The attachment stream (shared/protocol/stream.ts): round trips at the edges, the pinned test
// vectors of docs/protocol.md, and every kind of damage detected (never yielding a wrong byte).
import { createHash, randomBytes } from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { describe, expect, it } from 'vitest';
import {
  chunkNonce, openStream, paddedSize, sealStream, streamLayout, StreamError,
  STREAM_CHUNK_BYTES, STREAM_SEALED_CHUNK_BYTES, STREAM_MIN_PADDED,
} from '../../shared/protocol/stream.ts';

async function* pieces(b: Uint8Array, step: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += step) yield b.subarray(i, Math.min(b.length, i + step));
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const x of it) out.push(Buffer.from(x));
  return out;
}

async function sealAll(key: Uint8Array, plain: Uint8Array, step = 10_000): Promise<Buffer[]> {
  return collect(sealStream(key, plain.length, pieces(plain, step)));
}

async function openAll(key: Uint8Array, size: number, sealed: Uint8Array, step = 7_777): Promise<Buffer> {
  return Buffer.concat(await collect(openStream(key, size, pieces(sealed, step))));
}

async function openError(key: Uint8Array, size: number, sealed: Uint8Array): Promise<StreamError> {
  const e = await openAll(key, size, sealed).then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(StreamError);
  return e as StreamError;
}

const KEY = Uint8Array.from({ length: 32 }, (_, i) => i);

describe('attachment stream', () => {
  it.each([0, 1, STREAM_CHUNK_BYTES - 1, STREAM_CHUNK_BYTES, STREAM_CHUNK_BYTES + 1, 3 * STREAM_CHUNK_BYTES + 5, 1_000_003])('round-trips %i bytes byte-exact', async (size) => {
    const key = randomBytes(32);
    const plain = randomBytes(size);
    const chunks = await sealAll(key, plain);
    const layout = streamLayout(size);
    expect(chunks).toHaveLength(layout.chunks);
    expect(chunks.reduce((n, c) => n + c.length, 0)).toBe(layout.sealedSize);
    for (const c of chunks.slice(0, -1)) expect(c.length).toBe(STREAM_SEALED_CHUNK_BYTES);
    expect((await openAll(key, size, Buffer.concat(chunks))).equals(plain)).toBe(true);
  });

  it('pads to Padmé sizes, never below the minimum, so the relay learns only a size class', () => {
    expect(paddedSize(0)).toBe(STREAM_MIN_PADDED);
    expect(paddedSize(1)).toBe(STREAM_MIN_PADDED);
    expect(paddedSize(1025)).toBe(1088);
    expect(paddedSize(20 * 1024 * 1024 + 1)).toBe(20 * 1024 * 1024 + 2 ** 19);
    for (const n of [5000, 65537, 123_456_789]) {
      expect(paddedSize(n)).toBeGreaterThanOrEqual(n);
      expect(paddedSize(n)).toBeLessThanOrEqual(n * 1.12 + 1);
    }
    // Two different sizes of one class seal to the same length.
    expect(streamLayout(1_000_001).sealedSize).toBe(streamLayout(1_000_100).sealedSize);
  });

  it('matches the test vectors (docs/protocol.md): chunk i sealed under counter(11 B BE) || final flag', async () => {
    expect(Buffer.from(chunkNonce(0, true)).toString('hex')).toBe('000000000000000000000001');
    expect(Buffer.from(chunkNonce(258, false)).toString('hex')).toBe('000000000000000000010200');
    // An independent construction with @noble/ciphers gives the same bytes.
    const hello = new TextEncoder().encode('hello');
    const padded = new Uint8Array(STREAM_MIN_PADDED);
    padded.set(hello);
    const expected = chacha20poly1305(KEY, chunkNonce(0, true)).encrypt(padded);
    const got = Buffer.concat(await sealAll(KEY, hello));
    expect(got.equals(Buffer.from(expected))).toBe(true);
    expect(createHash('sha256').update(got).digest('hex')).toBe(VECTOR_HELLO_SHA256);
    const two = new Uint8Array(STREAM_CHUNK_BYTES + 1).fill(0x61);
    const sealedTwo = Buffer.concat(await sealAll(KEY, two));
    expect(sealedTwo.length).toBe(streamLayout(two.length).sealedSize);
    const tail = new Uint8Array(paddedSize(two.length) - STREAM_CHUNK_BYTES);
    tail[0] = 0x61;
    const independent = Buffer.concat([
      chacha20poly1305(KEY, chunkNonce(0, false)).encrypt(two.subarray(0, STREAM_CHUNK_BYTES)),
      chacha20poly1305(KEY, chunkNonce(1, true)).encrypt(tail),
    ]);
    expect(sealedTwo.equals(independent)).toBe(true);
    expect(createHash('sha256').update(sealedTwo).digest('hex')).toBe(VECTOR_TWO_CHUNKS_SHA256);
  });

  it('detects a flipped bit in any chunk, a truncation, a dropped or extra chunk, and reordering', async () => {
    const size = 3 * STREAM_CHUNK_BYTES + 100;
    const plain = randomBytes(size);
    const chunks = await sealAll(KEY, plain);
    expect(chunks).toHaveLength(4);
    const all = Buffer.concat(chunks);
    for (const at of [0, STREAM_SEALED_CHUNK_BYTES + 3, all.length - 1]) {
      const bad = Buffer.from(all);
      bad[at] = (bad[at] as number) ^ 1;
      expect((await openError(KEY, size, bad)).code).toBe('ATTACHMENT_CORRUPT');
    }
    // Cut at a chunk boundary: the short stream has no final chunk.
    expect((await openError(KEY, size, Buffer.concat(chunks.slice(0, 3)))).code).toBe('ATTACHMENT_TRUNCATED');
    expect((await openError(KEY, size, all.subarray(0, all.length - 1))).code).toBe('ATTACHMENT_TRUNCATED');
    // A full chunk presented as the last one (the flag differs), and a swap.
    const [c0, c1, c2, c3] = chunks as [Buffer, Buffer, Buffer, Buffer];
    expect((await openError(KEY, 2 * STREAM_CHUNK_BYTES + 100, Buffer.concat([c0, c1, c2]))).code).toBe('ATTACHMENT_CORRUPT');
    expect((await openError(KEY, size, Buffer.concat([c1, c0, c2, c3]))).code).toBe('ATTACHMENT_CORRUPT');
    expect((await openError(KEY, size, Buffer.concat([all, Buffer.alloc(1)]))).code).toBe('ATTACHMENT_CORRUPT');
    // The wrong key, and a stream sealed under another size, open to nothing.
    expect((await openError(randomBytes(32), size, all)).code).toBe('ATTACHMENT_CORRUPT');
  });

  it('refuses padding that is not zeros (a sender cannot hide bytes after the declared size)', async () => {
    const plain = randomBytes(500);
    const sealed = Buffer.concat(await sealAll(KEY, plain));
    // Declared 400 bytes: bytes 400..499 are not zero padding.
    expect((await openError(KEY, 400, sealed)).code).toBe('ATTACHMENT_CORRUPT');
  });

  it('refuses a source whose length differs from the declared size', async () => {
    await expect(collect(sealStream(KEY, 10, pieces(randomBytes(11), 4)))).rejects.toThrow(RangeError);
    await expect(collect(sealStream(KEY, 10, pieces(randomBytes(9), 4)))).rejects.toThrow(RangeError);
  });
});

const VECTOR_HELLO_SHA256 = 'f9f6013192dbcef3e3fed7af7baffc564d93b21cd78dda4bbd54e794c3222ef7';
const VECTOR_TWO_CHUNKS_SHA256 = 'df15ad39de6fe9d63c7fd7cdea1a19a6e93171b8ae8c333235bb8f630cb3f27c';
