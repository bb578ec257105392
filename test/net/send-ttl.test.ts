// A send's `ttl` through the client (issue #14): the relay stores the envelope to expire that
// long after it stored it, also when the outbox re-sends it from a new client after a restart;
// without a ttl the relay's maximum applies.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryOutboxStore, MemoryPermanentKeyStore } from '../../main/net/stores.ts';
import type { RunningRelay } from '../../relay/relay.ts';
import { inProcessRelay, makeClient, tempDir, waitFor, waitForState, type TestClient } from './harness.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

const WEEK = 7 * 24 * 3600_000;

async function started(relay: RunningRelay, keyStore = new MemoryPermanentKeyStore(), outbox = new MemoryOutboxStore()): Promise<TestClient> {
  const c = await makeClient(relay.descriptor, { keyStore, outbox });
  cleanups.push(() => c.client.stop());
  await c.client.start();
  await waitForState(c.client, 'ready');
  return c;
}

function lifetimes(dir: string): [string, number][] {
  const db = new Database(join(dir, 'relay.db'), { readonly: true });
  try {
    return (db.prepare('SELECT body, expires_at - created_at AS life FROM queue ORDER BY id').all() as { body: Buffer; life: number }[]).map((r) => [r.body.toString(), r.life]);
  } finally {
    db.close();
  }
}

describe('send ttl', () => {
  it('reaches the relay as the envelope\'s lifetime, also when a new client re-sends it from the outbox', async () => {
    const t = tempDir('ttl');
    let relay = await inProcessRelay(t.dir, { envelopeTtlMs: WEEK });
    cleanups.push(t.cleanup, () => relay.close());
    const bob = await started(relay);
    await bob.mailbox.register('bob_ttl');
    await bob.client.stop();
    const keyStore = new MemoryPermanentKeyStore();
    const outbox = new MemoryOutboxStore();
    const alice = await started(relay, keyStore, outbox);
    await alice.mailbox.register('alice_ttl');
    await alice.mailbox.send('bob_ttl', Buffer.from('thirty seconds'), 'idem-ttl-00001', 30);
    await alice.mailbox.send('bob_ttl', Buffer.from('the maximum'), 'idem-ttl-00002');
    // Queued while the relay is down, and the client quits: the outbox entry keeps the ttl.
    const port = Number(new URL(relay.url).port);
    await relay.close();
    void alice.mailbox.send('bob_ttl', Buffer.from('one hour'), 'idem-ttl-00003', 3600).catch(() => undefined);
    await waitFor(() => outbox.list().length === 1);
    await alice.client.stop();
    relay = await inProcessRelay(t.dir, { port, envelopeTtlMs: WEEK });
    await started(relay, keyStore, outbox);
    await waitFor(() => outbox.list().length === 0);
    expect(lifetimes(t.dir)).toEqual([['thirty seconds', 30_000], ['the maximum', WEEK], ['one hour', 3600_000]]);
  });
});
