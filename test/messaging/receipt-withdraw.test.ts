// A delivered receipt the relay still holds for a message deleted later is withdrawn (issue #14:
// "Receipts and the relay's queue are treated the same way"), on a real relay: bob's one receipt
// for two of alice's texts waits at the relay while alice is away; bob deletes one text; the
// receipt leaves the relay, and the other text is acknowledged again, so alice, back, sees the
// deleted one only as sent and the other as delivered.
import { describe, expect, it } from 'vitest';
import { fullHistory, messagingScene, newPeer, queuedEnvelopes, reopen, waitFor } from './helpers.ts';

const scene = messagingScene('rwd', ['alice', 'bob'] as const);
const { dirs, peers } = scene;

describe('receipts for a deleted message', () => {
  it('are withdrawn from the relay; the rest of the receipt is acknowledged again', { timeout: 180_000 }, async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    await bob.m.close();
    const gone = await alice.m.sendText({ conversationId: toBob, text: 'the one bob deletes' });
    const kept = await alice.m.sendText({ conversationId: toBob, text: 'the one bob keeps' });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await alice.m.close();

    // Bob fetches both: one delivered receipt for the two waits at the relay for alice.
    const bob2 = await reopen(dirs.bob);
    peers.push(bob2);
    expect(await bob2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const conv = (await bob2.m.conversationsList({}))[0]!;
    const received = await fullHistory(bob2.m, conv.id);
    expect(received.map((m) => m.text)).toEqual([gone.text, kept.text]);
    await waitFor(() => queuedEnvelopes(dirs.relay).length === 1, 60_000, 'the receipt at the relay');
    const receipt = queuedEnvelopes(dirs.relay)[0]!;

    expect(await bob2.m.deleteMessage({ conversationId: conv.id, messageId: received[0]!.id })).toEqual({ deleted: 1 });
    expect(await bob2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await waitFor(async () => (await bob2.m.connectionState()).outboxSize === 0, 60_000, "bob's outbox drained");
    expect(queuedEnvelopes(dirs.relay).some((e) => e.equals(receipt))).toBe(false);

    const alice2 = await reopen(dirs.alice);
    peers.push(alice2);
    expect(await alice2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await waitFor(async () => (await fullHistory(alice2.m, toBob)).find((m) => m.id === kept.id)?.state === 'delivered', 60_000, 'the kept one delivered');
    const states = new Map((await fullHistory(alice2.m, toBob)).map((m) => [m.id, m.state]));
    expect(states.get(gone.id)).toBe('sent');
    expect(states.get(kept.id)).toBe('delivered');
  });
});
