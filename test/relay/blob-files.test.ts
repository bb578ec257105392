// A blob's file at the relay (relay/blobs.ts) is made by its first put, not by blob.create: a blob
// that never gets bytes leaves no file (an account could otherwise leave quota / one chunk =
// 16,384 empty files; such a blob still counts one chunk against the quota). Real relay process
// (the CLI), real clients, killed and restarted.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BLOB_RECIPIENT_CHARGE_BYTES, MIN_BLOB_CHARGE_BYTES } from '../../relay/blobs.ts';
import { freePort, RelayProcess } from '../chaos/relay-process.ts';
import { makeClient, tempDir, type TestClient } from '../net/harness.ts';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function user(relay: RelayProcess, handle: string): Promise<TestClient> {
  const c = await makeClient(relay.descriptor);
  closers.push(() => c.client.stop());
  await c.client.start();
  await c.client.call('register', { handle });
  return c;
}

describe('blob files at the relay', () => {
  it('a blob gets its file from its first put: creates without bytes leave none, across a restart too', async () => {
    const t = tempDir('blob-files');
    closers.push(() => t.cleanup());
    const port = await freePort();
    let relay = await RelayProcess.start(t.dir, port);
    closers.push(() => relay.kill('SIGKILL'));
    const alice = await user(relay, 'alice');
    const bob = await user(relay, 'bob');
    const files = (): string[] => (existsSync(join(t.dir, 'blobs')) ? readdirSync(join(t.dir, 'blobs')).sort() : []);
    const ids: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) ids.push((await alice.client.call('blob.create', { size: 100, recipients: ['bob'] })).id);
    expect(files()).toEqual([]);
    // Each still counts one chunk and its recipient against the quota.
    expect((await alice.client.call('blob.limits', null)).usedBytes).toBe(20 * (MIN_BLOB_CHARGE_BYTES + BLOB_RECIPIENT_CHARGE_BYTES));
    const hex = (id: Uint8Array): string => Buffer.from(id).toString('hex');
    const content = randomBytes(100);
    expect(await alice.client.call('blob.put', { id: ids[0]!, offset: 0, data: content.subarray(0, 60) })).toEqual({ length: 60 });
    expect(files()).toEqual([hex(ids[0]!)]);

    // Killed and started again (the clients reconnect and bind again): what was put is kept, the
    // blobs without bytes still have no file and take their first put now.
    await relay.kill('SIGKILL');
    relay = await RelayProcess.start(t.dir, port);
    const [alice2, bob2] = [alice, bob];
    expect(files()).toEqual([hex(ids[0]!)]);
    expect(await alice2.client.call('blob.status', { id: ids[0]! })).toMatchObject({ size: 100, length: 60 });
    expect(await alice2.client.call('blob.put', { id: ids[0]!, offset: 60, data: content.subarray(60) })).toEqual({ length: 100 });
    expect(Buffer.from((await bob2.client.call('blob.get', { id: ids[0]!, offset: 0, length: 100 })).data).equals(content)).toBe(true);
    expect(await alice2.client.call('blob.put', { id: ids[1]!, offset: 0, data: content })).toEqual({ length: 100 });
    expect(Buffer.from((await bob2.client.call('blob.get', { id: ids[1]!, offset: 0, length: 100 })).data).equals(content)).toBe(true);
    expect(files()).toEqual([hex(ids[0]!), hex(ids[1]!)].sort());
    // Withdrawn without bytes: nothing to remove, and the row goes.
    expect(await alice2.client.call('blob.done', { id: ids[2]! })).toEqual({ deleted: true });
    expect(await refusal(bob2.client.call('blob.status', { id: ids[2]! }))).toBe('NOT_FOUND');
    expect(files()).toEqual([hex(ids[0]!), hex(ids[1]!)].sort());
  }, 120_000);
});

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  return (e as { code?: string }).code ?? String(e);
}
