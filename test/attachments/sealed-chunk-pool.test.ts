// The upload's reused sealed-chunk buffers (main/net/attachments.ts SealedChunkPool): a chunk is
// sealed into a caller's buffer with exactly sealChunk's bytes, and a put's data is never
// changed before the relay's answer to that put has arrived (RelayClient keeps it until then, to
// re-send it after a re-bind), also when the upload goes back after lost puts and seals again.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { downloadBlob, uploadFile, type BlobCaller } from '../../main/net/attachments.ts';
import { sealChunk, sealChunkInto, STREAM_CHUNK_BYTES, STREAM_TAG_BYTES } from '../../shared/protocol/stream.ts';
import { inProcessRelay, makeClient, tempDir, type TestClient } from '../net/harness.ts';

const dirs = [tempDir('pool-relay'), tempDir('pool-files')];
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const f of stops.reverse()) await f();
  for (const d of dirs) d.cleanup();
});

describe('sealing into a caller\'s buffer', () => {
  it('gives sealChunk\'s bytes at the buffer\'s start and refuses a buffer too small', () => {
    const key = randomBytes(32);
    for (const len of [0, 1, 1000, STREAM_CHUNK_BYTES]) {
      const plain = randomBytes(len);
      const out = Buffer.alloc(STREAM_CHUNK_BYTES + STREAM_TAG_BYTES + 7, 0xee);
      const n = sealChunkInto(key, 9, len === 1, plain, out);
      expect(n).toBe(len + STREAM_TAG_BYTES);
      expect(out.subarray(0, n).equals(sealChunk(key, 9, len === 1, plain))).toBe(true);
      expect(out.subarray(n).every((b) => b === 0xee)).toBe(true);
    }
    expect(() => sealChunkInto(key, 0, true, randomBytes(100), Buffer.alloc(100 + STREAM_TAG_BYTES - 1))).toThrow(RangeError);
  });
});

describe('reused chunk buffers in an upload', () => {
  it('leave every put\'s data as it was sent until its answer, through a rewind, and the file arrives byte-exact', async () => {
    const relay = await inProcessRelay(dirs[0]!.dir);
    stops.push(() => relay.close());
    const user = async (handle: string): Promise<TestClient> => {
      const c = await makeClient(relay.descriptor);
      stops.push(() => c.client.stop());
      await c.client.start();
      await c.client.call('register', { handle });
      return c;
    };
    const alice = await user('alice');
    const bob = await user('bob');
    // Larger than TRANSFER_WINDOW + CHECKPOINT_CHUNKS chunks, so buffers are reused many times.
    const content = randomBytes(9 * 1024 * 1024 + 5);
    const path = join(dirs[1]!.dir, 'f.bin');
    writeFileSync(path, content);
    const lost = new Set([40 * 65_552, 130 * 65_552]);
    let puts = 0;
    let changed = 0;
    const watching: BlobCaller = {
      call: async (method, params) => {
        if (method !== 'blob.put') return alice.client.call(method, params);
        const p = params as { id: Uint8Array; offset: number; data: Uint8Array };
        puts++;
        const sent = Buffer.from(p.data);
        // A lost put never reaches the relay: its caller hears the relay's length, as after a restart.
        const answer = lost.delete(p.offset) ? alice.client.call('blob.status', { id: p.id }) : alice.client.call('blob.put', { id: p.id, offset: p.offset, data: p.data });
        const r = await answer;
        if (!sent.equals(p.data)) changed++;
        return { length: r.length } as never;
      },
    };
    const ref = await uploadFile(watching, path, ['bob']);
    expect(changed).toBe(0);
    expect(puts).toBeGreaterThan(Math.ceil(content.length / STREAM_CHUNK_BYTES));
    const parts: Buffer[] = [];
    await downloadBlob(bob.client, ref, (plain) => void parts.push(Buffer.from(plain)));
    expect(Buffer.concat(parts).equals(content)).toBe(true);
  });
});
