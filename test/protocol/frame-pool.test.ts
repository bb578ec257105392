// BufferPool (shared/protocol/record.ts) as framePool(): large record frames sealed into reused
// slabs are the same records as fresh ones, and a slab is handed out again only after it was given
// back, once.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeFrame, type RecordFrame } from '../../shared/protocol/frames.ts';
import { framePool, RecordEndpoint } from '../../shared/protocol/record.ts';

function endpoints(): { client: RecordEndpoint; twin: RecordEndpoint; relay: RecordEndpoint } {
  const material = { id: randomBytes(8), c2s: randomBytes(32), s2c: randomBytes(32), transcriptHash: randomBytes(32) };
  const now = Date.now();
  const session = randomBytes(8);
  // client and twin: the same key and session, each at its first seq.
  return { client: new RecordEndpoint(material, 'client', () => now, session), twin: new RecordEndpoint(material, 'client', () => now, session), relay: new RecordEndpoint(material, 'relay', () => now) };
}

describe('BufferPool (record frames)', () => {
  it('seals a chunk-sized record into a slab: the same bytes as a fresh frame, and it opens', () => {
    const { client, twin, relay } = endpoints();
    const pool = framePool();
    const body = randomBytes(64 * 1024 + 100);
    const nonce = randomBytes(24);
    const msgId = BigInt(Date.now()) << 16n;
    const pooled = client.seal({ parts: [body.subarray(0, 50), body.subarray(50)], length: body.length }, { msgId, nonce }, pool.take);
    const fresh = twin.seal(body, { msgId, nonce });
    expect(pooled.buffer.byteLength).toBe(128 * 1024);
    expect(pooled.equals(fresh)).toBe(true);
    const opened = relay.open(decodeFrame(pooled) as RecordFrame);
    expect(opened?.body.equals(body)).toBe(true);
  });

  it('hands a slab out again only after give, and only once per give', () => {
    const pool = framePool();
    const a = pool.take(70_000);
    const b = pool.take(70_000);
    // Both lent at once: never the same slab.
    expect(a.buffer).not.toBe(b.buffer);
    pool.give(a);
    pool.give(a); // a second give of the same frame is ignored
    const c = pool.take(70_000);
    const d = pool.take(70_000);
    expect(c.buffer).toBe(a.buffer);
    expect(d.buffer).not.toBe(a.buffer);
    expect(d.buffer).not.toBe(b.buffer);
    expect(pool.counters).toEqual({ taken: 4, reused: 1 });
  });

  it('keeps frames apart by size class and leaves small frames and foreign buffers out', () => {
    const pool = framePool();
    const small = pool.take(1000);
    expect(small.buffer.byteLength).not.toBe(128 * 1024);
    const large = pool.take(200_000);
    expect(large.buffer.byteLength).toBe(256 * 1024);
    pool.give(large);
    pool.give(small);
    pool.give(Buffer.alloc(200_000));
    // A 128 KiB-class frame does not get the 256 KiB slab, a 256 KiB-class one does.
    expect(pool.take(100_000).buffer).not.toBe(large.buffer);
    expect(pool.take(150_000).buffer).toBe(large.buffer);
    expect(pool.counters).toEqual({ taken: 3, reused: 1 });
  });
});
