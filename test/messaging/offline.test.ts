// Offline: with no relay reachable, an existing profile unlocks, browses every conversation,
// pages around a message and searches; the connection says offline and nothing waits on the
// network. Real relay child process (stopped for the offline part), real profiles on disk.
import { describe, expect, it } from 'vitest';
import { fullHistory, messagingScene, peersOn, reopen, waitFor } from './helpers.ts';

const scene = messagingScene('offline', ['alice', 'bob']);
const { dirs, peers } = scene;

describe('offline history', () => {
  it('browse, page around a message and search all work with the relay stopped', async () => {
    const { alice, bob } = await peersOn(scene, ['alice', 'bob']);
    const toBob = await alice.m.contactAdd({ handle: 'bob' });
    const words = ['Zürich', 'Москва', '東京タワー', 'plain'];
    for (let i = 0; i < 40; i++) {
      await alice.m.sendText({ conversationId: toBob.conversationId, text: `note ${i} about ${words[i % words.length]} offlinemarker${i}` });
    }
    await waitFor(async () => {
      const contacts = await bob.m.contactsList();
      return contacts.length === 1 && (await fullHistory(bob.m, contacts[0]!.conversationId)).length === 40;
    }, 120_000, 'bob receives 40');
    await bob.m.close();
    peers.splice(peers.indexOf(bob), 1);

    // The relay goes away entirely; Bob reopens his profile.
    await scene.stopRelay();
    const again = await reopen(dirs.bob);
    peers.push(again);

    const state = await again.m.connectionState();
    expect(['offline', 'connecting']).toContain(state.phase);

    const conversations = await again.m.conversationsList({});
    expect(conversations).toHaveLength(1);
    const conv = conversations[0]!;
    const history = await fullHistory(again.m, conv.id);
    expect(history.map((m) => m.text)).toEqual(Array.from({ length: 40 }, (_, i) => `note ${i} about ${words[i % words.length]} offlinemarker${i}`));

    const target = history[20]!;
    const around = await again.m.historyPage({ conversationId: conv.id, anchor: { kind: 'around', messageId: target.id }, limit: 7 });
    expect(around.messages.map((m) => m.id)).toEqual(history.slice(17, 24).map((m) => m.id));

    const hits = await again.m.search({ query: 'zurich', order: 'newest', limit: 50 });
    expect(hits.hits.map((h) => h.messageId).sort()).toEqual(history.filter((m) => m.text.includes('Zürich')).map((m) => m.id).sort());
    const cjk = await again.m.search({ query: 'タワー', order: 'newest', limit: 50 });
    expect(cjk.hits).toHaveLength(10);
    const exact = await again.m.search({ query: 'offlinemarker20', order: 'newest', limit: 5, conversationId: conv.id });
    expect(exact.hits.map((h) => h.messageId)).toEqual([target.id]);
    expect((await again.m.connectionState()).phase).not.toBe('ready');
  });
});
