// Attachment transfer through a real relay (main/net/attachments.ts): a 20 MiB file survives a
// SIGKILL of the relay process mid-upload (restart, re-bind, continue from the acknowledged
// length) and arrives byte-exact, with the relay's blob exactly the sealed stream (nothing
// written twice); damage at the relay is detected and nothing of it is accepted.
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { downloadBlob, TransferError, uploadFile, type BlobCaller, type BlobRef } from '../../main/net/attachments.ts';
import { StreamError, streamLayout } from '../../shared/protocol/stream.ts';
import { freePort, RelayProcess } from '../chaos/relay-process.ts';
import { inProcessRelay, makeClient, tempDir, type TestClient } from './harness.ts';

const relayDir = tempDir('att-relay');
const filesDir = tempDir('att-files');
const procs: RelayProcess[] = [];
const clients: TestClient[] = [];
const closers: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const c of clients) await c.client.stop();
  for (const p of procs) await p.kill();
  for (const f of closers) await f();
  relayDir.cleanup();
  filesDir.cleanup();
});

async function user(descriptor: Parameters<typeof makeClient>[0], handle: string): Promise<TestClient> {
  const c = await makeClient(descriptor);
  clients.push(c);
  await c.client.start();
  await c.client.call('register', { handle });
  return c;
}

async function download(c: TestClient, ref: BlobRef): Promise<Buffer> {
  const parts: Buffer[] = [];
  await downloadBlob(c.client, ref, (p) => {
    parts.push(Buffer.from(p));
  });
  return Buffer.concat(parts);
}

describe('attachment transfer', () => {
  it('a 20 MiB upload continues after the relay is SIGKILLed and restarted, and arrives byte-exact', async () => {
    const port = await freePort();
    procs.push(await RelayProcess.start(relayDir.dir, port));
    const descriptor = procs[0]!.descriptor;
    const alice = await user(descriptor, 'alice');
    const bob = await user(descriptor, 'bob');
    const content = randomBytes(20 * 1024 * 1024);
    const path = join(filesDir.dir, 'big.bin');
    writeFileSync(path, content);

    let killed: Promise<void> | undefined;
    let acknowledged = 0;
    const seen: number[] = [];
    const upload = uploadFile(alice.client, path, ['bob'], {
      onProgress: (done, total) => {
        seen.push(done);
        acknowledged = done;
        if (!killed && done > total * 0.4) {
          killed = (async () => {
            await procs[0]!.kill('SIGKILL');
            procs.push(await RelayProcess.start(relayDir.dir, port));
          })();
        }
      },
    });
    const ref = await upload;
    await killed;
    const layout = streamLayout(content.length);
    expect(acknowledged).toBe(layout.sealedSize);
    // It was killed in the middle, not after the end.
    expect(seen.some((d) => d > 0 && d < layout.sealedSize * 0.9)).toBe(true);

    // The relay holds exactly the sealed stream: its digest, its size, no chunk twice.
    const blobs = readdirSync(join(relayDir.dir, 'blobs'));
    expect(blobs).toEqual([Buffer.from(ref.blobId).toString('hex')]);
    const file = join(relayDir.dir, 'blobs', blobs[0] as string);
    expect(statSync(file).size).toBe(layout.sealedSize);
    expect(createHash('sha256').update(readFileSync(file)).digest().equals(Buffer.from(ref.digest))).toBe(true);
    // Nothing of the plaintext is at the relay.
    expect(readFileSync(file).includes(content.subarray(1000, 1064))).toBe(false);

    const got = await download(bob, ref);
    expect(got.length).toBe(content.length);
    expect(got.equals(content)).toBe(true);
    // Bob is done: the relay deletes the blob.
    expect(await bob.client.call('blob.done', { id: ref.blobId })).toEqual({ deleted: true });
    expect(readdirSync(join(relayDir.dir, 'blobs'))).toEqual([]);
  }, 240_000);

  it('goes back to the relay\'s acknowledged length when puts were lost (as after a restart), nothing written twice', async () => {
    const d = tempDir('att-rewind');
    closers.push(async () => d.cleanup());
    const relay = await inProcessRelay(d.dir);
    closers.push(() => relay.close());
    const alice = await user(relay.descriptor, 'alice');
    const bob = await user(relay.descriptor, 'bob');
    const content = randomBytes(3 * 1024 * 1024 + 17);
    const path = join(filesDir.dir, 'rewind.bin');
    writeFileSync(path, content);
    // Two puts vanish on the way (never reach the relay); their callers hear the relay's length.
    const lost = new Set([5 * 65_552, 20 * 65_552]);
    const puts: number[] = [];
    const lossy: BlobCaller = {
      call: async (method, params) => {
        if (method === 'blob.put') {
          const p = params as { id: Uint8Array; offset: number };
          puts.push(p.offset);
          if (lost.delete(p.offset)) return (await alice.client.call('blob.status', { id: p.id })) as never;
        }
        return alice.client.call(method, params);
      },
    };
    const ref = await uploadFile(lossy, path, ['bob']);
    // The lost chunks were sent again, so some offsets appear twice; the relay's file is exact.
    expect(puts.length).toBeGreaterThan(streamLayout(content.length).chunks);
    const file = join(d.dir, 'blobs', Buffer.from(ref.blobId).toString('hex'));
    expect(statSync(file).size).toBe(streamLayout(content.length).sealedSize);
    expect(createHash('sha256').update(readFileSync(file)).digest().equals(Buffer.from(ref.digest))).toBe(true);
    expect((await download(bob, ref)).equals(content)).toBe(true);
  }, 120_000);

  it('detects a chunk changed at the relay, a wrong digest and a wrong key, and refuses a file over the limit', async () => {
    const d = tempDir('att-damage');
    closers.push(async () => d.cleanup());
    const relay = await inProcessRelay(d.dir, { blobMaxFileBytes: 300_000 });
    closers.push(() => relay.close());
    const alice = await user(relay.descriptor, 'alice');
    const bob = await user(relay.descriptor, 'bob');
    for (const size of [0, 1, 65_535, 65_536, 65_537]) {
      const content = randomBytes(size);
      const path = join(filesDir.dir, `f${size}`);
      writeFileSync(path, content);
      const ref = await uploadFile(alice.client, path, ['bob']);
      expect(ref.size).toBe(size);
      expect((await download(bob, ref)).equals(content)).toBe(true);
    }
    const content = randomBytes(200_000);
    const path = join(filesDir.dir, 'victim');
    writeFileSync(path, content);
    const ref = await uploadFile(alice.client, path, ['bob']);
    const errorOf = async (r: BlobRef): Promise<unknown> => download(bob, r).then(() => undefined, (e: unknown) => e);
    expect(await errorOf({ ...ref, key: randomBytes(32) })).toBeInstanceOf(StreamError);
    const wrongDigest = await errorOf({ ...ref, digest: randomBytes(32) });
    expect(wrongDigest).toBeInstanceOf(StreamError);
    expect((wrongDigest as StreamError).message).toContain('digest');
    expect(await errorOf({ ...ref, size: 199_000 })).toBeInstanceOf(StreamError);
    // Flip one byte of the second chunk in the relay's file.
    const file = join(d.dir, 'blobs', Buffer.from(ref.blobId).toString('hex'));
    const bytes = readFileSync(file);
    bytes[70_000] = (bytes[70_000] as number) ^ 0x40;
    writeFileSync(file, bytes);
    const e = await errorOf(ref);
    expect(e).toBeInstanceOf(StreamError);
    expect((e as StreamError).code).toBe('ATTACHMENT_CORRUPT');

    const big = join(filesDir.dir, 'too-big');
    writeFileSync(big, Buffer.alloc(300_001));
    const refused = await uploadFile(alice.client, big, ['bob']).then(() => undefined, (err: unknown) => err);
    expect(refused).toBeInstanceOf(TransferError);
    expect((refused as TransferError).code).toBe('ATTACHMENT_TOO_LARGE');
  }, 120_000);
});
