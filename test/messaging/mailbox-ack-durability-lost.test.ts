// Review s18 R4: once an fsync of the vault's WAL failed, the mailbox acknowledges nothing more
// in that unlock, even though a later fsync succeeds (the kernel reports a writeback error once,
// and a new file descriptor's fsync then passes while the lost pages stay lost): the vault's
// syncs throw DurabilityLost until it is locked, so the relay keeps every envelope and pushes
// them again after the next unlock. Real relay (in process), real clients, a real vault on disk;
// only the -wal file's fsync is made to fail, once.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { walSyncs } from './wal-sync-faults.ts';
import { RelayClient } from '../../main/net/client.ts';
import { RelayMailbox, type Envelope } from '../../main/net/mailbox.ts';
import { DurabilityLost } from '../../main/vault/errors.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { inProcessRelay, registeredPair, tempDir, waitFor, type TestClient } from '../net/harness.ts';
import { tempProfile } from '../vault/helpers.ts';

vi.mock('node:fs/promises', async (importOriginal) => (await import('./wal-sync-faults.ts')).withWalSyncFaults(await importOriginal()));

const relayDir = tempDir('ack-lost-relay');
const profile = tempProfile();
const started: TestClient[] = [];
let closeRelay: () => Promise<void> = async () => undefined;
let vault: Vault | undefined;

afterAll(async () => {
  vi.restoreAllMocks();
  for (const c of started) await c.client.stop();
  await closeRelay();
  vault?.lock();
  relayDir.cleanup();
  profile.cleanup();
});

const PASSWORD = 'pw-ack-durability-lost';

describe('acks after a failed fsync', () => {
  it('none in that unlock, though later fsyncs succeed; after lock and unlock the envelopes are pushed again and acked', { timeout: 120_000 }, async () => {
    vault = (await Vault.create(profile.dir, PASSWORD, { kdf: TEST_KDF })).vault;
    const relay = await inProcessRelay(relayDir.dir);
    closeRelay = () => relay.close();
    const { alice, bob } = await registeredPair(relay.descriptor, started);
    const call = RelayClient.prototype.call;
    const acked: number[][] = [];
    vi.spyOn(RelayClient.prototype, 'call').mockImplementation(function (this: RelayClient, ...args: Parameters<RelayClient['call']>) {
      if (this === bob.client && args[0] === 'ack') acked.push([...(args[1] as { ids: number[] }).ids]);
      return call.apply(this, args) as ReturnType<RelayClient['call']>;
    });
    // As the messenger stores a received message: a relaxed commit, made durable before its ack.
    const handled: string[] = [];
    const mailbox = new RelayMailbox(bob.client, () => (vault as Vault).syncCommittedForAcks());
    mailbox.onEnvelope((env: Envelope) => {
      const text = Buffer.from(env.body).toString();
      handled.push(text);
      const v = vault as Vault;
      v.relaxedTransaction(() => v.kvSet('received', `${handled.length}`, Buffer.from(text)));
    });

    await alice.mailbox.send('bob', Buffer.from('one'));
    await waitFor(() => acked.length === 1, 30_000, 'one acked after its fsync');

    walSyncs.failNext = true;
    await alice.mailbox.send('bob', Buffer.from('two'));
    await waitFor(() => walSyncs.failed === 1 && handled.length === 2, 30_000, 'two handled, its fsync failed');
    expect(vault.durabilityLost).toBe(true);
    // Pushed again after a reconnect, and a third: the fsync would succeed now, but nothing is acked.
    await bob.client.stop();
    await bob.client.start();
    await alice.mailbox.send('bob', Buffer.from('three'));
    await waitFor(() => handled.filter((t) => t === 'two').length === 2 && handled.includes('three'), 30_000, 'two again and three handled');
    await new Promise((r) => setTimeout(r, 300));
    expect(acked).toHaveLength(1);
    expect(() => vault?.syncCommitted()).toThrow(DurabilityLost);
    await expect(vault.syncCommittedAsync()).rejects.toBeInstanceOf(DurabilityLost);
    await expect(vault.syncCommittedForAcks()).rejects.toBeInstanceOf(DurabilityLost);

    // The next unlock is a new start: the relay pushes what it kept, and those acks go.
    await bob.client.stop();
    vault.lock();
    vault = await Vault.unlock(profile.dir, PASSWORD);
    expect(vault.durabilityLost).toBe(false);
    await bob.client.start();
    await waitFor(() => acked.length >= 2, 30_000, 'acked after the unlock');
    expect(acked.slice(1).flat()).toHaveLength(2);
  });
});
