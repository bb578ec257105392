// A resumed download (main/net/attachments.ts downloadBlob with `stored`) reseals the plaintext
// chunks an earlier attempt kept, only to hash them; each buffer `stored` hands back is the
// download's own copy (the messenger's comes from vault.kvGet) and must be zeroed once used, also
// the one that ends the resume (a chunk of the wrong length), so no file plaintext is left in
// freed memory (review s15 F4). Real relay, real client, real sealed stream.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadBlob, uploadFile, type BlobRef } from '../../main/net/attachments.ts';
import type { RunningRelay } from '../../relay/relay.ts';
import { STREAM_CHUNK_BYTES } from '../../shared/protocol/stream.ts';
import { inProcessRelay, makeClient, tempDir, type TestClient } from '../net/harness.ts';

const relayDir = tempDir('resume-zeroes-relay');
const filesDir = tempDir('resume-zeroes-files');
let relay: RunningRelay | undefined;
const clients: TestClient[] = [];
afterAll(async () => {
  for (const c of clients) await c.client.stop();
  await relay?.close();
  relayDir.cleanup();
  filesDir.cleanup();
});

async function user(r: RunningRelay, handle: string): Promise<TestClient> {
  const c = await makeClient(r.descriptor);
  clients.push(c);
  await c.client.start();
  await c.client.call('register', { handle });
  return c;
}

// Five whole chunks and a partial one: the last chunk is never taken from `stored`.
const content = randomBytes(5 * STREAM_CHUNK_BYTES + 1000);
let bob: TestClient;
let ref: BlobRef;

beforeAll(async () => {
  relay = await inProcessRelay(relayDir.dir);
  const alice = await user(relay, 'alice');
  bob = await user(relay, 'bob');
  const path = join(filesDir.dir, 'file.bin');
  writeFileSync(path, content);
  ref = await uploadFile(alice.client, path, ['bob']);
});

const chunkOf = (i: number): Buffer => Buffer.from(content.subarray(i * STREAM_CHUNK_BYTES, (i + 1) * STREAM_CHUNK_BYTES));

/** Downloads with `kept(i)` as the earlier attempt's chunks; returns what it resumed from, the file and every buffer handed out. */
async function resumed(kept: (i: number) => Buffer | undefined): Promise<{ from: number; file: Buffer; handed: Buffer[] }> {
  const handed: Buffer[] = [];
  const parts: Buffer[] = [];
  const from = await downloadBlob(bob.client, ref, (p) => {
    parts.push(Buffer.from(p));
  }, {
    stored: (i) => {
      const b = kept(i);
      if (b) handed.push(b);
      return b;
    },
  });
  const prefix = Array.from({ length: from }, (_, i) => chunkOf(i));
  return { from, file: Buffer.concat([...prefix, ...parts]), handed };
}

const allZero = (b: Buffer): boolean => b.every((x) => x === 0);

describe('resumed download', () => {
  it('zeroes every kept chunk it was handed once resealed, and the file still arrives whole', async () => {
    const r = await resumed((i) => (i < 3 ? chunkOf(i) : undefined));
    expect(r.from).toBe(3);
    expect(r.file.equals(content)).toBe(true);
    expect(r.handed).toHaveLength(3);
    // The plaintext was there when handed out (so all-zero now means zeroed, not empty).
    expect(r.handed.every((b) => b.length === STREAM_CHUNK_BYTES)).toBe(true);
    expect(r.handed.every(allZero)).toBe(true);
  });

  it('zeroes the chunk that ends the resume (wrong length) too', async () => {
    const r = await resumed((i) => (i < 2 ? chunkOf(i) : i === 2 ? chunkOf(2).subarray(0, 100) : undefined));
    expect(r.from).toBe(2);
    expect(r.file.equals(content)).toBe(true);
    expect(r.handed.map((b) => b.length)).toEqual([STREAM_CHUNK_BYTES, STREAM_CHUNK_BYTES, 100]);
    expect(r.handed.every(allZero)).toBe(true);
  });

  it('with every whole chunk kept: fetches only the last, zeroes all it was handed', async () => {
    const r = await resumed((i) => (i < 6 ? chunkOf(i) : undefined));
    expect(r.from).toBe(5);
    expect(r.file.equals(content)).toBe(true);
    expect(r.handed.length).toBeGreaterThanOrEqual(5);
    expect(r.handed.every(allZero)).toBe(true);
  });
});
