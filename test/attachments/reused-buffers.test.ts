// Reused transport buffers (shared/protocol/record.ts BufferPool): the relay reads each blob.get's
// chunk into a buffer of relay/blobs.ts blobReadBuffers and takes it back once the answer's
// record is sealed; record frames of 32 KiB and more (puts up, gets down) are sealed into slabs
// given back in the socket's write callback. Two downloads interleaved on one connection and an
// upload beside them must still arrive byte-exact, with buffers actually reused; and so must five
// downloads whose answers pile up in the relay's socket while the client does not read.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { downloadBlob, uploadFile, type BlobRef } from '../../main/net/attachments.ts';
import { blobReadBuffers } from '../../relay/blobs.ts';
import { inProcessRelay, makeClient, tempDir, type TestClient } from '../net/harness.ts';

const dirs = [tempDir('reuse-relay'), tempDir('reuse-files'), tempDir('reuse-relay-2')];
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const f of stops.reverse()) await f();
  for (const d of dirs) d.cleanup();
});

describe('reused read and frame buffers', () => {
  it('leave interleaved downloads and a concurrent upload byte-exact', async () => {
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
    const file = (name: string, size: number): { path: string; content: Buffer } => {
      const content = randomBytes(size);
      const path = join(dirs[1]!.dir, name);
      writeFileSync(path, content);
      return { path, content };
    };
    const a = file('a.bin', 5 * 1024 * 1024 + 3);
    const b = file('b.bin', 4 * 1024 * 1024 + 70_000);
    const c = file('c.bin', 3 * 1024 * 1024 + 1);
    const refA = await uploadFile(alice.client, a.path, ['bob']);
    const refB = await uploadFile(alice.client, b.path, ['bob']);
    const fetch = async (ref: BlobRef): Promise<Buffer> => {
      const parts: Buffer[] = [];
      await downloadBlob(bob.client, ref, (plain) => void parts.push(Buffer.from(plain)));
      return Buffer.concat(parts);
    };
    const before = { ...blobReadBuffers.counters };
    const states = [alice.states.length, bob.states.length];
    const [gotA, gotB, refC] = await Promise.all([fetch(refA), fetch(refB), uploadFile(alice.client, c.path, ['bob'])]);
    expect(gotA.equals(a.content)).toBe(true);
    expect(gotB.equals(b.content)).toBe(true);
    expect((await fetch(refC)).equals(c.content)).toBe(true);
    // Not recovered by a reconnect and re-send (a damaged record would drop the connection).
    expect([alice.states.slice(states[0]), bob.states.slice(states[1])]).toEqual([[], []]);
    const chunks = Math.ceil(a.content.length / 65_536) + Math.ceil(b.content.length / 65_536) + 1;
    // Every get took a pooled buffer, and most of them were buffers given back by an earlier get.
    expect(blobReadBuffers.counters.taken - before.taken).toBeGreaterThanOrEqual(chunks);
    expect(blobReadBuffers.counters.reused - before.reused).toBeGreaterThan(chunks / 2);
  });
  it('leave the relay\'s answers intact while they wait in its socket (the client not reading)', async () => {
    const relay = await inProcessRelay(dirs[2]!.dir);
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
    const files = [0, 1, 2, 3, 4].map((i) => {
      const content = randomBytes(3 * 1024 * 1024 + 1000 * i);
      const path = join(dirs[1]!.dir, `backed-${i}.bin`);
      writeFileSync(path, content);
      return { path, content };
    });
    const refs: BlobRef[] = [];
    for (const f of files) refs.push(await uploadFile(alice.client, f.path, ['bob']));
    // Bob stops reading: five windows of gets (about 10 MiB of answers, under the relay's 16 MiB
    // cut-off) fill the kernel's buffers and then wait, sealed, in the relay's socket.
    const socket = (bob.client as unknown as { socket?: TLSSocket }).socket;
    if (!socket) throw new Error('bob has no socket');
    const bobStates = bob.states.length;
    socket.pause();
    const downloads = refs.map(async (ref) => {
      const parts: Buffer[] = [];
      await downloadBlob(bob.client, ref, (plain) => void parts.push(Buffer.from(plain)));
      return Buffer.concat(parts);
    });
    await new Promise((r) => setTimeout(r, 1500));
    socket.resume();
    const got = await Promise.all(downloads);
    for (const [i, f] of files.entries()) expect(got[i]!.equals(f.content)).toBe(true);
    expect(bob.states.slice(bobStates)).toEqual([]);
  });
});
