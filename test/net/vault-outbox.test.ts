// The outbox kept in the real vault: requests queued while offline survive quitting the app
// (vault locked and reopened) and are delivered once on the next start.
import { afterAll, describe, expect, it } from 'vitest';
import { RelayClient } from '../../main/net/client.ts';
import { RelayMailbox } from '../../main/net/mailbox.ts';
import { PermanentKey } from '../../main/net/permanent-key.ts';
import { PERMANENT_KEY_SECRET, vaultOutboxStore, vaultPermanentKeyStore } from '../../main/net/stores.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import type { RunningRelay } from '../../relay/relay.ts';
import { inProcessRelay, makeClient, tempDir, waitFor } from './harness.ts';

const PASSWORD = 'correct horse battery staple 42';
const profile = tempDir('outbox-profile');
const relayDir = tempDir('outbox-relay');
const stops: (() => Promise<void> | void)[] = [];
let relay: RunningRelay | undefined;

afterAll(async () => {
  for (const s of stops.reverse()) await s();
  await relay?.close();
  profile.cleanup();
  relayDir.cleanup();
});

async function vaultClient(vault: Vault, r: RunningRelay): Promise<{ client: RelayClient; mailbox: RelayMailbox }> {
  const client = new RelayClient({
    descriptor: r.descriptor,
    permanentKey: await PermanentKey.loadOrCreate(vaultPermanentKeyStore(vault)),
    outbox: vaultOutboxStore(vault),
    backoff: { baseMs: 50, maxMs: 500 },
  });
  stops.push(() => client.stop());
  return { client, mailbox: new RelayMailbox(client) };
}

describe('outbox in the vault', () => {
  it('quitting while offline loses nothing; the permanent key is the same after reopening', async () => {
    relay = await inProcessRelay(relayDir.dir);
    const bob = await makeClient(relay.descriptor);
    stops.push(() => bob.client.stop());
    await bob.client.start();
    await waitFor(() => bob.client.state === 'ready');
    await bob.mailbox.register('bob');
    const got: string[] = [];
    bob.mailbox.onEnvelope((e) => {
      got.push(`${e.from}:${Buffer.from(e.body).toString()}`);
    });

    const { vault } = await Vault.create(profile.dir, PASSWORD, { kdf: TEST_KDF });
    const first = await vaultClient(vault, relay);
    await first.client.start();
    await waitFor(() => first.client.state === 'ready');
    await first.mailbox.register('alice');
    await first.client.stop();
    // offline now: these wait in the sealed outbox
    void first.mailbox.send('bob', Buffer.from('one'), 'queued-offline-1').catch(() => undefined);
    void first.mailbox.send('bob', Buffer.from('two'), 'queued-offline-2').catch(() => undefined);
    await waitFor(() => vault.outboxList().length === 2);
    const seedBefore = vault.getAccountSecret(PERMANENT_KEY_SECRET);
    vault.lock(); // quit

    const reopened = await Vault.unlock(profile.dir, PASSWORD);
    stops.push(() => reopened.lock());
    expect(reopened.outboxList().map((i) => i.id)).toEqual(['queued-offline-1', 'queued-offline-2']);
    expect(reopened.getAccountSecret(PERMANENT_KEY_SECRET)).toEqual(seedBefore);
    const second = await vaultClient(reopened, relay);
    const outcomes: string[] = [];
    second.client.on('durable', (o) => outcomes.push(o.id));
    await second.client.start();
    await waitFor(() => got.length === 2 && reopened.outboxList().length === 0);
    expect(got).toEqual(['alice:one', 'alice:two']);
    expect(outcomes).toEqual(['queued-offline-1', 'queued-offline-2']);
  });
});
