// A sent message whose relay request never reached the outbox (the process died between the
// two writes), or whose 'sent' state was lost, is sent again at the next unlock under the same
// content id and idempotency key: it arrives, and only once; a text keeps that content id in its
// sealed entry, one stored by an older build in its own kv row, and either is re-sent.
import { describe, expect, it } from 'vitest';
import { ID_KEY_SECRET, newContentId, OUTGOING_CONTENT_IDS, outgoingMessageId } from '../../main/messenger/ids.ts';
import { Vault } from '../../main/vault/index.ts';
import { fullHistory, messagingScene, newPeer, PASSWORD, reopen, waitFor } from './helpers.ts';

const scene = messagingScene('r', ['alice', 'bob'] as const);
const { dirs, peers: open } = scene;

describe('interrupted sends', () => {
  it('are re-sent at unlock and stored once', async () => {
    const started = await scene.startRelay();
    let alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    open.push(alice, bob);
    const conv = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    await alice.m.sendText({ conversationId: conv, text: 'first' });
    await waitFor(async () => (await bob.m.contactsList()).length === 1, 60_000, 'bob sees alice');
    const bobConv = (await bob.m.contactsList())[0]!.conversationId;

    // Relay down: the message is queued; then its outbox entry is lost as if the process had
    // died before writing it.
    await started.relay.kill('SIGKILL');
    const lost = await alice.m.sendText({ conversationId: conv, text: 'lost in a crash' });
    expect((await alice.m.connectionState()).outboxSize).toBe(1);
    await alice.m.close();
    const v = await Vault.unlock(dirs.alice, PASSWORD);
    for (const item of v.outboxList()) v.outboxDelete(item.id);
    // Its content id is in its sealed entry, with no kv row of its own (outgoing.ts storeQueued)...
    expect(v.getMessage(lost.id)?.contentId).toMatch(/^[0-9a-f]{32}$/);
    expect(v.kvKeys(OUTGOING_CONTENT_IDS)).toEqual([]);
    // ...and a queued text an older build stored (its content id in that kv row) goes again too.
    const olderCid = newContentId();
    const idKey = v.getAccountSecret(ID_KEY_SECRET)!;
    const olderId = outgoingMessageId(idKey, olderCid);
    idKey.fill(0);
    v.transaction(() => {
      v.kvSet(OUTGOING_CONTENT_IDS, olderId, Buffer.from(olderCid, 'utf8'));
      v.appendMessages([{ id: olderId, conversationId: conv, direction: 'out', sender: 'self', sentAt: Date.now(), receivedAt: Date.now(), text: 'older build', state: 'queued' }]);
    });
    v.lock();

    await scene.startRelay(started.port);
    alice = await reopen(dirs.alice);
    open.push(alice);
    await waitFor(async () => (await fullHistory(bob.m, bobConv)).some((m) => m.text === 'lost in a crash'), 60_000, 'resent message arrives');
    await waitFor(async () => (await fullHistory(alice.m, conv)).find((m) => m.id === lost.id)?.state === 'delivered', 60_000, 'delivered');
    await waitFor(async () => (await fullHistory(alice.m, conv)).find((m) => m.id === olderId)?.state === 'delivered', 60_000, "the older build's text delivered");

    // Accepted, but the 'sent' state was lost: re-sending is deduplicated.
    await alice.m.close();
    const v2 = await Vault.unlock(dirs.alice, PASSWORD);
    v2.updateMessageState(lost.id, 'queued');
    v2.lock();
    alice = await reopen(dirs.alice);
    open.push(alice);
    await waitFor(async () => (await fullHistory(alice.m, conv)).find((m) => m.id === lost.id)?.state === 'sent', 60_000, 'sent again');
    expect(await alice.m.sync({ timeoutMs: 30_000 })).toEqual({ done: true });
    expect(await bob.m.sync({ timeoutMs: 30_000 })).toEqual({ done: true });
    const texts = (await fullHistory(bob.m, bobConv)).map((m) => m.text);
    // Once each; the two re-sent at the same unlock in either order.
    expect(texts.slice(0, 1)).toEqual(['first']);
    expect(texts.slice(1).sort()).toEqual(['lost in a crash', 'older build']);
  }, 300_000);
});
