// A text deleted while its delivered receipt waits in the sealed outbox for the fsync that covers
// its commit (receipts.ts hands receipts to the relay client only once durable): the receipt never
// goes (withdrawReceiptsOf takes it out of the outbox, as forgetSend does a text), so the sender
// never sees the deleted text as delivered. Before, the withdraw went to the relay first and the
// receipt after it (review s22 on fe6991d; the scenario is R's). Real relay process, vaults on disk.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { letWalSyncsGo, walSyncs } from './wal-sync-faults.ts';
import { fullHistory, messagingScene, newPeer, reopen, waitFor } from './helpers.ts';

vi.mock('node:fs/promises', async (importOriginal) => (await import('./wal-sync-faults.ts')).withWalSyncFaults(await importOriginal()));

const releaseHeld = (): void => letWalSyncsGo((w) => w.go());

describe('a receipt and the deletion of a text it names', () => {
  const scene = messagingScene('rr', ['alice', 'bob'] as const);
  const { dirs, peers } = scene;
  afterEach(releaseHeld);

  it('a receipt for a text deleted before its fsync never reaches the sender', { timeout: 180_000 }, async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    await bob.m.close();
    const sent = await alice.m.sendText({ conversationId: toBob, text: 'second' });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await alice.m.close();

    const bob2 = await reopen(dirs.bob);
    peers.push(bob2);
    // Every async -wal fsync waits from now on: bob's receipt commits, then waits for its fsync.
    walSyncs.held = true;
    await waitFor(() => bob2.events.some((e) => e.name === 'message'), 60_000, 'bob stored the text');
    const ev = bob2.events.find((e) => e.name === 'message')!;
    const msg = (ev as unknown as { payload: { id: string; conversationId: string } }).payload;
    await new Promise((r) => setTimeout(r, 1_500)); // the receipt's quiet moment (250 ms) and its commit
    const del = bob2.m.deleteMessage({ conversationId: msg.conversationId, messageId: msg.id });
    await Promise.race([del, new Promise((r) => setTimeout(r, 3_000))]);
    releaseHeld();
    await del;
    expect(await bob2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await waitFor(async () => (await bob2.m.connectionState()).outboxSize === 0, 60_000, 'bob outbox drained');
    await new Promise((r) => setTimeout(r, 1_000));
    const alice2 = await reopen(dirs.alice);
    peers.push(alice2);
    expect(await alice2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await new Promise((r) => setTimeout(r, 2_000));
    const state = (await fullHistory(alice2.m, toBob)).find((m) => m.id === sent.id)?.state;
    expect(state).toBe('sent');
  });
});
