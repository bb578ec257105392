// A delete for me made while the app has no relay connection (offline mode here; the unlock purge
// of expired messages runs before the connection is up too) withdraws our receipt naming the
// message, and the rest of that receipt is acknowledged again once a connection is up: the intent
// to re-send waits in the vault (receipt-resend.ts) and goes after the next unlock's connect.
// Before: it went only with a later deletion or receipt, so the sender never saw the kept text as
// delivered. Real relay process, real vaults on disk.
import { describe, expect, it } from 'vitest';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';
import { fullHistory, messagingScene, newPeer, PASSWORD, queuedEnvelopes, reopen, waitFor } from '../messaging/helpers.ts';

const scene = messagingScene('rro', ['alice', 'bob'] as const);
const { dirs, peers } = scene;

describe('receipts re-sent after an offline deletion', () => {
  it('are withdrawn, and the rest of the receipt goes once connected', { timeout: 180_000 }, async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    await bob.m.close();
    const gone = await alice.m.sendText({ conversationId: toBob, text: 'the one bob deletes offline' });
    const kept = await alice.m.sendText({ conversationId: toBob, text: 'the one bob keeps' });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await alice.m.close();

    // Bob fetches both: one delivered receipt for the two waits at the relay for alice.
    const bob2 = await reopen(dirs.bob);
    expect(await bob2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const conv = (await bob2.m.conversationsList({}))[0]!;
    const received = await fullHistory(bob2.m, conv.id);
    expect(received.map((m) => m.text)).toEqual([gone.text, kept.text]);
    await waitFor(() => queuedEnvelopes(dirs.relay).length === 1, 60_000, 'the receipt at the relay');
    const receipt = queuedEnvelopes(dirs.relay)[0]!;
    await bob2.m.close();

    // Offline: no connection at all while the message is deleted.
    const offline = await openMessenger({ profileDir: dirs.bob, kdf: TEST_KDF, offline: true });
    await offline.unlock({ password: PASSWORD });
    expect(await offline.deleteMessage({ conversationId: conv.id, messageId: received[0]!.id })).toEqual({ deleted: 1 });
    await offline.close();
    expect(queuedEnvelopes(dirs.relay)).toEqual([receipt]);

    // Online again: the withdraw (durable, in the outbox) and the re-sent rest of the receipt go.
    const bob3 = await reopen(dirs.bob);
    peers.push(bob3);
    await waitFor(() => !queuedEnvelopes(dirs.relay).some((e) => e.equals(receipt)) && queuedEnvelopes(dirs.relay).length === 1, 60_000, 'the receipt replaced');

    const alice2 = await reopen(dirs.alice);
    peers.push(alice2);
    expect(await alice2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await waitFor(async () => (await fullHistory(alice2.m, toBob)).find((m) => m.id === kept.id)?.state === 'delivered', 60_000, 'the kept one delivered');
    const states = new Map((await fullHistory(alice2.m, toBob)).map((m) => [m.id, m.state]));
    expect(states.get(gone.id)).toBe('sent');
    expect(states.get(kept.id)).toBe('delivered');
  });
});
