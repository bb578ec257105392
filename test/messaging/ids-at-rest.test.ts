// E2E content ids are chosen by the sender. They must not reach the recipient's disk in a
// plaintext column, and the relay's idempotency keys must not equal anything stored on the
// sender's disk (a seized relay and a seized laptop should not line up). Read receipts, which
// need the content ids, still work (they are kept sealed).
import { describe, expect, it } from 'vitest';
import { filesContaining, fullHistory, messagingScene, newPeer, waitFor } from './helpers.ts';

const scene = messagingScene('ids', ['alice', 'bob']);
const { dirs, peers } = scene;

describe('message ids at rest', () => {
  it('no content id in the recipient profile or the relay; receipts still arrive', async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    peers.push(alice, bob);
    const toBob = await alice.m.contactAdd({ handle: 'bob' });
    for (let i = 0; i < 5; i++) await alice.m.sendText({ conversationId: toBob.conversationId, text: `hello ${i}` });
    await waitFor(async () => {
      const c = await bob.m.contactsList();
      return c.length === 1 && (await fullHistory(bob.m, c[0]!.conversationId)).length === 5;
    }, 60_000, 'bob receives 5');
    const bobConv = (await bob.m.contactsList())[0]!.conversationId;
    const received = await fullHistory(bob.m, bobConv);
    await bob.m.markRead({ conversationId: bobConv, upToMessageId: received.at(-1)!.id });
    await waitFor(async () => (await fullHistory(alice.m, toBob.conversationId)).every((m) => m.state === 'read'), 60_000, 'read receipts');

    const sent = await fullHistory(alice.m, toBob.conversationId);
    const contentIds = sent.map((m) => m.id.replace(/^o\./, ''));
    expect(contentIds.every((c) => /^[0-9a-f]{32}$/.test(c))).toBe(true);
    for (const p of peers) await p.m.close();
    peers.length = 0;
    await scene.stopRelay();
    for (const cid of contentIds) {
      expect(filesContaining(dirs.bob, cid)).toEqual([]);
      expect(filesContaining(dirs.relay, cid)).toEqual([]);
    }
    // The scan itself works: Alice's own ids are on her disk (her vault's plaintext id column).
    expect(filesContaining(dirs.alice, contentIds[0]!).length).toBeGreaterThan(0);
  });
});
