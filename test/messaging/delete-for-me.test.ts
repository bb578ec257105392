// "Delete for me" through the Messenger (issue #14): a queued message deleted while the relay is
// down leaves the sealed outbox (it is not sent later) and search; the API announces the
// deletion; a message of another conversation is refused and changes nothing.
import { describe, expect, it } from 'vitest';
import { ApiError, apiEvents } from '../../shared/api.ts';
import { fullHistory, messagingScene, peersOn } from './helpers.ts';

const scene = messagingScene('delete-api', ['alice', 'bob', 'carol'] as const);

describe('Messenger deleteMessage / deleteConversation', () => {
  it('drops a queued message from the outbox, search and history; refuses another chat\'s message', async () => {
    const { alice } = await peersOn(scene, ['alice', 'bob', 'carol']);
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    const toCarol = (await alice.m.contactAdd({ handle: 'carol' })).conversationId;
    const first = await alice.m.sendText({ conversationId: toBob, text: 'hello before the outage' });
    const other = await alice.m.sendText({ conversationId: toCarol, text: 'for carol only' });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });

    await scene.stopRelay();
    const queued = await alice.m.sendText({ conversationId: toBob, text: 'wombatquasar while offline' });
    expect(queued.state).toBe('queued');
    expect((await alice.m.connectionState()).outboxSize).toBe(1);
    expect((await alice.m.search({ query: 'wombatquasar', order: 'newest', limit: 10 })).hits).toHaveLength(1);

    // Another conversation's message: UNKNOWN_MESSAGE, nothing deleted.
    await expect(alice.m.deleteMessage({ conversationId: toBob, messageId: other.id })).rejects.toMatchObject({ code: 'UNKNOWN_MESSAGE' });
    await expect(alice.m.deleteMessage({ conversationId: 'c-none', messageId: other.id })).rejects.toBeInstanceOf(ApiError);
    expect((await fullHistory(alice.m, toCarol)).map((m) => m.text)).toEqual(['for carol only']);

    alice.events.length = 0;
    expect(await alice.m.deleteMessage({ conversationId: toBob, messageId: queued.id })).toEqual({ deleted: 1 });
    // The send left the outbox; its durable withdraw took its place (its frame may have gone out).
    expect((await alice.m.connectionState()).outboxSize).toBe(1);
    expect((await alice.m.search({ query: 'wombatquasar', order: 'newest', limit: 10 })).hits).toEqual([]);
    expect((await fullHistory(alice.m, toBob)).map((m) => m.id)).toEqual([first.id]);
    // A jump to it (as from a search result shown before the delete) lands nowhere.
    await expect(alice.m.historyPage({ conversationId: toBob, anchor: { kind: 'around', messageId: queued.id }, limit: 20 })).rejects.toMatchObject({ code: 'UNKNOWN_MESSAGE' });
    const announced = alice.events.filter((e) => e.name === 'messagesDeleted');
    expect(announced.map((e) => apiEvents.messagesDeleted.parse(e.payload))).toEqual([{ conversationId: toBob, messageIds: [queued.id], all: false }]);

    expect(await alice.m.deleteConversation({ conversationId: toBob })).toEqual({ deleted: 1 });
    expect(await fullHistory(alice.m, toBob)).toEqual([]);
    expect((await alice.m.search({ query: 'outage', order: 'newest', limit: 10 })).hits).toEqual([]);
    expect((await alice.m.conversationsList({})).map((c) => c.id)).toContain(toBob); // the chat stays, empty
    expect((await fullHistory(alice.m, toCarol)).map((m) => m.text)).toEqual(['for carol only']);
  });
});
