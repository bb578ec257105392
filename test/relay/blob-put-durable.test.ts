// R6 through the whole relay (RelayCore's wiring of relay/blobs.ts): a blob.put's new length is
// written only after its chunk's file is fsynced, in a batch whose answer waits for the -wal
// fsync after that commit. Real in-process relay and client; fsyncs held by ./relay-wal-faults.ts.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { inProcessRelay, makeClient, tempDir, waitFor } from '../net/harness.ts';
import { letRelayWalSyncsGo, relayWalSyncs as walSyncs } from './relay-wal-faults.ts';

vi.mock('node:fs/promises', async (importOriginal) => (await import('./relay-wal-faults.ts')).withRelayWalFaults(await importOriginal()));

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  letRelayWalSyncsGo();
  for (const c of closers.splice(0).reverse()) await c();
});

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 1));
};

describe('a blob.put through the relay', () => {
  it('is answered only after its chunk, then its length, are on disk', async () => {
    const t = tempDir('blob-put-durable');
    closers.push(() => t.cleanup());
    const relay = await inProcessRelay(t.dir);
    closers.push(() => relay.close());
    const alice = await makeClient(relay.descriptor);
    closers.push(() => alice.client.stop());
    await alice.client.start();
    await alice.client.call('register', { handle: 'alice' });
    const { id } = await alice.client.call('blob.create', { size: 100, recipients: ['alice'] });
    const blobFile = join(t.dir, 'blobs', Buffer.from(id).toString('hex'));
    const reader = new Database(join(t.dir, 'relay.db'), { readonly: true });
    closers.push(() => {
      reader.close();
    });
    const lengthOnDisk = (): number => (reader.prepare('SELECT length FROM blobs').get() as { length: number }).length;

    walSyncs.paths = [];
    walSyncs.held = true;
    let answered = false;
    const put = alice.client.call('blob.put', { id, offset: 0, data: randomBytes(10) }).then((r) => {
      answered = true;
      return r;
    });
    await waitFor(() => walSyncs.paths.includes(blobFile), 60_000, 'the chunk fsync asked for');
    await turns(20);
    expect(lengthOnDisk()).toBe(0);
    expect(answered).toBe(false);
    // The chunk's fsync (and any -wal fsync waiting beside it) done; the next ones are held again.
    const asked = walSyncs.waiters.length;
    letRelayWalSyncsGo();
    walSyncs.held = true;
    await waitFor(() => walSyncs.waiters.length > 0 && walSyncs.paths.length > asked, 60_000, 'the -wal fsync after the length commit');
    await turns(20);
    expect(lengthOnDisk()).toBe(10);
    expect(answered).toBe(false);
    letRelayWalSyncsGo();
    expect(await put).toEqual({ length: 10 });
  }, 30_000);
});
