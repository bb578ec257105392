// Delete for me of our message that the relay holds for a recipient who has not fetched it, made
// while the relay is down and followed by closing the app: the withdraw is in the sealed outbox
// (written with the deletion), so after a restart it reaches the relay and the recipient never
// gets the message. A withdraw held only in memory was lost at close (the envelope waited up to
// the relay's 30 days for the recipient).
import { describe, expect, it } from 'vitest';
import { fullHistory, messagingScene, newPeer, queuedEnvelopes, reopen } from './helpers.ts';

const scene = messagingScene('dwd', ['alice', 'bob'] as const);
const { dirs, peers } = scene;
const WORD = 'trombulaxine';

describe('delete for me withdraws durably', () => {
  it('deleted while the relay is down, then closed: after the restart the envelope leaves the relay', { timeout: 120_000 }, async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    await bob.m.close();
    const kept = await alice.m.sendText({ conversationId: toBob, text: 'this one stays' });
    const gone = await alice.m.sendText({ conversationId: toBob, text: `the ${WORD} is taken back` });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const held = queuedEnvelopes(dirs.relay);
    expect(held).toHaveLength(2);

    await scene.stopRelay();
    expect(await alice.m.deleteMessage({ conversationId: toBob, messageId: gone.id })).toEqual({ deleted: 1 });
    await alice.m.close();

    await scene.startRelay(started.port);
    const alice2 = await reopen(dirs.alice);
    peers.push(alice2);
    expect(await alice2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    expect((await alice2.m.connectionState()).outboxSize).toBe(0);
    expect(queuedEnvelopes(dirs.relay)).toEqual([held[0]]);

    const bob2 = await reopen(dirs.bob);
    peers.push(bob2);
    expect(await bob2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const conv = (await bob2.m.conversationsList({}))[0]!;
    expect((await fullHistory(bob2.m, conv.id)).map((m) => m.text)).toEqual([kept.text]);
  });
});
