// "Delete for me" of a whole conversation goes through the vault's sliced deletion
// (main/messenger/deletion-slices.ts, issue #14 at scale): with each slice go the messenger's
// records of its messages (a queued one's outbox entry), then the draft; the event says all.
import { describe, expect, it } from 'vitest';
import { apiEvents } from '../../shared/api.ts';
import { fullHistory, messagingScene, newPeer, waitFor } from './helpers.ts';

const scene = messagingScene('delete-conv-slices', ['alice', 'bob'] as const);

describe('Messenger deleteConversation (sliced)', () => {
  it('deletes every message with the queued ones\' outbox entries and the draft; search and history are empty', async () => {
    const { descriptorText } = await scene.startRelay();
    const alice = await newPeer(scene.dirs.alice, 'alice', descriptorText);
    const bob = await newPeer(scene.dirs.bob, 'bob', descriptorText);
    scene.peers.push(alice, bob);
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    for (let i = 0; i < 3; i++) await alice.m.sendText({ conversationId: toBob, text: `delivered line ${i} marmotquill` });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    // Delivered (bob's receipts back, which may take a receipt batch's wait): no withdraw is due for them.
    await waitFor(async () => (await fullHistory(alice.m, toBob)).filter((m) => m.state === 'delivered').length === 3, 60_000, 'the three delivered');
    await scene.stopRelay();
    for (let i = 0; i < 2; i++) expect((await alice.m.sendText({ conversationId: toBob, text: `queued line ${i} marmotquill` })).state).toBe('queued');
    expect((await alice.m.connectionState()).outboxSize).toBe(2);
    await alice.m.setDraft({ conversationId: toBob, text: 'an unsent draft' });

    alice.events.length = 0;
    expect(await alice.m.deleteConversation({ conversationId: toBob })).toEqual({ deleted: 5 });
    // The sends left the outbox; a durable withdraw each took their place (their frames may have gone out).
    expect((await alice.m.connectionState()).outboxSize).toBe(2);
    expect(await fullHistory(alice.m, toBob)).toEqual([]);
    expect(await alice.m.getDraft({ conversationId: toBob })).toEqual({ text: '' });
    expect((await alice.m.search({ query: 'marmotquill', order: 'newest', limit: 10 })).hits).toEqual([]);
    const announced = alice.events.filter((e) => e.name === 'messagesDeleted').map((e) => apiEvents.messagesDeleted.parse(e.payload));
    expect(announced).toEqual([{ conversationId: toBob, messageIds: [], all: true }]);
    await expect(alice.m.deleteConversation({ conversationId: 'c-none' })).rejects.toMatchObject({ code: 'UNKNOWN_CONVERSATION' });
  });
});
