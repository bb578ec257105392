// Everyday features of the service: message details (delivered and read times), drafts and nicknames sealed in the vault (kept across a
// restart, never in a file in the clear), and replies that quote a message on both devices
// (the quoted message's id travels inside the padded E2E content). Real relay, real libsignal.
import { describe, expect, it } from 'vitest';
import { apiMethods } from '../../shared/api.ts';
import { messagingScene, newPeer, reopen, filesContaining, waitFor, type Peer, codeOf } from './helpers.ts';

const scene = messagingScene('daily', ['alice', 'bob']);
const { dirs, peers } = scene;

describe('drafts, nicknames and replies', () => {
  it('keeps a draft and a nickname sealed across a restart; replies quote the message on both sides', async () => {
    const started = await scene.startRelay();
    let alice: Peer = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    peers.push(alice, bob);
    const contact = await alice.m.contactAdd({ handle: 'bob' });
    const conversationId = contact.conversationId;

    // Draft: kept, sealed, cleared by ''.
    expect(await alice.m.getDraft({ conversationId })).toEqual({ text: '' });
    await alice.m.setDraft({ conversationId, text: 'half-written marmalade plan' });
    const named = await alice.m.setNickname({ contactId: contact.id, nickname: '  Bobby B  ' });
    expect(apiMethods.setNickname.result.parse(named)).toMatchObject({ handle: 'bob', displayName: 'Bobby B' });
    // The notification setting: sender only by default, kept in settings.json (readable while locked).
    expect((await alice.m.settingsGet()).notifications).toBe('sender');
    expect(apiMethods.settingsUpdate.result.parse(await alice.m.settingsUpdate({ notifications: 'full' })).notifications).toBe('full');
    expect(await codeOf(alice.m.setNickname({ contactId: contact.id, nickname: 'a\u0007b' }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(alice.m.setNickname({ contactId: contact.id, nickname: 'n'.repeat(65) }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(alice.m.getDraft({ conversationId: 'c-nope' }))).toBe('UNKNOWN_CONVERSATION');
    await alice.m.close();
    expect(await filesContaining(dirs.alice, 'marmalade')).toEqual([]);
    expect(await filesContaining(dirs.alice, 'Bobby')).toEqual([]);
    alice = await reopen(dirs.alice);
    peers.push(alice);
    expect(await alice.m.getDraft({ conversationId })).toEqual({ text: 'half-written marmalade plan' });
    expect((await alice.m.settingsGet()).notifications).toBe('full');
    expect((await alice.m.conversationsList({}))[0]).toMatchObject({ id: conversationId, title: 'Bobby B' });
    expect((await alice.m.contactsList())[0]).toMatchObject({ handle: 'bob', displayName: 'Bobby B' });
    await alice.m.setDraft({ conversationId, text: '' });
    expect(await alice.m.getDraft({ conversationId })).toEqual({ text: '' });
    expect((await alice.m.setNickname({ contactId: contact.id, nickname: '' })).displayName).toBe('bob');

    // Reply: bob quotes alice's message; alice replies to bob's reply (a message she received
    // and read, so its content id must outlive the read receipt).
    const first = await alice.m.sendText({ conversationId, text: 'first from alice' });
    expect(first.replyTo).toBeUndefined();
    await waitFor(async () => (await bob.m.conversationsList({})).length === 1, 60_000, 'bob sees the conversation');
    const bobConv = (await bob.m.conversationsList({}))[0]!;
    await waitFor(async () => (await bob.m.historyPage({ conversationId: bobConv.id, anchor: { kind: 'newest' }, limit: 10 })).messages.length === 1);
    const bobFirst = (await bob.m.historyPage({ conversationId: bobConv.id, anchor: { kind: 'newest' }, limit: 10 })).messages[0]!;
    await bob.m.markRead({ conversationId: bobConv.id, upToMessageId: bobFirst.id });
    // Details: when alice's message was delivered and read, from the receipts.
    await waitFor(async () => (await alice.m.messageDetails({ messageId: first.id })).readAt !== null, 60_000, 'read receipt');
    const details = apiMethods.messageDetails.result.parse(await alice.m.messageDetails({ messageId: first.id }));
    expect(details).toMatchObject({ id: first.id, direction: 'out', state: 'read', sentAt: first.sentAt });
    expect(details.deliveredAt).not.toBeNull();
    expect(details.readAt! >= details.deliveredAt!).toBe(true);
    expect((await bob.m.messageDetails({ messageId: bobFirst.id })).readAt).not.toBeNull();
    expect(await codeOf(alice.m.messageDetails({ messageId: 'm-nope' }))).toBe('UNKNOWN_MESSAGE');
    const bobReply = await bob.m.sendText({ conversationId: bobConv.id, text: 'answering you', replyTo: bobFirst.id });
    expect(bobReply.replyTo).toEqual({ id: bobFirst.id, direction: 'in', text: 'first from alice' });

    const aliceHistory = async () => (await alice.m.historyPage({ conversationId, anchor: { kind: 'newest' }, limit: 10 })).messages;
    await waitFor(async () => (await aliceHistory()).length === 2, 60_000, 'alice receives the reply');
    const received = apiMethods.historyPage.result.parse({ messages: await aliceHistory(), hasOlder: false, hasNewer: false }).messages[1]!;
    expect(received.text).toBe('answering you');
    expect(received.replyTo).toEqual({ id: first.id, direction: 'out', text: 'first from alice' });

    await alice.m.markRead({ conversationId, upToMessageId: received.id });
    const back = await alice.m.sendText({ conversationId, text: 'reply to your reply', replyTo: received.id });
    expect(back.replyTo).toMatchObject({ id: received.id, direction: 'in' });
    await waitFor(async () => (await bob.m.historyPage({ conversationId: bobConv.id, anchor: { kind: 'newest' }, limit: 10 })).messages.length === 3);
    const bobSees = (await bob.m.historyPage({ conversationId: bobConv.id, anchor: { kind: 'newest' }, limit: 10 })).messages[2]!;
    expect(bobSees.replyTo).toEqual({ id: bobReply.id, direction: 'out', text: 'answering you' });

    // A reply can only quote a message of the same conversation.
    expect(await codeOf(alice.m.sendText({ conversationId, text: 'x', replyTo: 'm-not-a-message' }))).toBe('UNKNOWN_MESSAGE');
  });
});
