// Receipts in groups (issue #16; main/messenger/group-receipts.ts), end to end: real relay
// process, real libsignal, real vaults on disk. Each member's delivered and read receipt reaches
// the author ("read by 2 of 2", with who and when); the chat list's unread count and last
// activity follow; a receipt naming the message under another group, or from a member the
// message was not sent to, changes nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import type { GroupMessage } from '../../shared/api.ts';
import { encodeEnvelope, type E2e } from '../../main/e2e/index.ts';
import type { RelayConnection } from '../../main/messenger/connection.ts';
import { GROUP_INCOMING } from '../../main/messenger/group-receipts.ts';
import type { Vault } from '../../main/vault/index.ts';
import { codeOf, messagingScene, peersOn, waitFor, type Peer } from '../messaging/helpers.ts';

const scene = messagingScene('group-receipts', ['alice', 'bob', 'carol', 'dave']);
let alice: Peer, bob: Peer, carol: Peer, dave: Peer;
let groupId = '';

const e2eOf = (p: Peer): E2e => (p.m as unknown as { life: { current(): { registration: { e2e: E2e } } } }).life.current().registration.e2e;
const vaultOf = (p: Peer): Vault => (p.m as unknown as { life: { current(): { vault: Vault } } }).life.current().vault;
const connOf = (p: Peer): RelayConnection => (p.m as unknown as { life: { current(): { connection: RelayConnection } } }).life.current().connection;

async function own(p: Peer, text: string): Promise<GroupMessage> {
  const m = (await p.m.groupHistory({ groupId, limit: 500 })).messages.find((x) => x.direction === 'out' && x.text === text);
  if (!m) throw new Error(`no own message "${text}"`);
  return m;
}
async function incoming(p: Peer, text: string): Promise<GroupMessage | undefined> {
  return (await p.m.groupHistory({ groupId, limit: 500 })).messages.find((x) => x.direction === 'in' && x.text === text);
}
const activityOf = async (p: Peer) => (await p.m.groupsActivity()).find((a) => a.groupId === groupId)!;

beforeAll(async () => {
  ({ alice, bob, carol, dave } = await peersOn(scene, ['alice', 'bob', 'carol', 'dave'], 'r_'));
}, 120_000);

describe('group receipts', () => {
  it('delivered by both, then read by one and by the other: the author sees "read by 2 of 2" and who', async () => {
    groupId = (await alice.m.groupCreate({ name: 'Receipts', members: ['r_bob', 'r_carol'] })).groupId;
    for (const p of [bob, carol]) await waitFor(async () => (await p.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'the group at every member');
    const sent = await alice.m.groupSend({ groupId, text: 'did you read this?' });
    expect(sent.direction).toBe('out');

    // Both members store it and answer with a delivered receipt, unasked.
    for (const p of [bob, carol]) await waitFor(async () => (await incoming(p, 'did you read this?')) !== undefined, 30_000, 'the text at every member');
    await waitFor(async () => (await own(alice, 'did you read this?')).receipts?.delivered === 2, 30_000, 'two delivered receipts');
    expect((await own(alice, 'did you read this?')).receipts).toEqual({ delivered: 2, read: 0, of: 2 });
    // The message's own state stays what the relay made it.
    expect((await own(alice, 'did you read this?')).state).toBe('sent');

    // The members' chat list: one unread text (the membership line does not count), newest first.
    const bobBefore = await activityOf(bob);
    expect(bobBefore.unread).toBe(1);
    expect(bobBefore.lastMessage).toMatchObject({ text: 'did you read this?', direction: 'in', sender: 'r_alice' });
    expect(bobBefore.lastActivity).toBeGreaterThan(0);
    expect((await activityOf(alice)).unread).toBe(0);

    // bob reads it: alice sees one read, and who.
    const atBob = (await incoming(bob, 'did you read this?'))!;
    await bob.m.groupMarkRead({ groupId, upToMessageId: atBob.id });
    expect((await activityOf(bob)).unread).toBe(0);
    expect(vaultOf(bob).kvGet(GROUP_INCOMING, atBob.id)).toBeUndefined();
    await waitFor(async () => (await own(alice, 'did you read this?')).receipts?.read === 1, 30_000, 'bob\'s read receipt');
    const one = await alice.m.groupReceipts({ groupId, messageId: sent.id });
    expect(one.members.map((m) => [m.handle, m.deliveredAt !== undefined, m.readAt !== undefined])).toEqual([
      ['r_bob', true, true],
      ['r_carol', true, false],
    ]);

    // carol reads it too.
    const atCarol = (await incoming(carol, 'did you read this?'))!;
    await carol.m.groupMarkRead({ groupId, upToMessageId: atCarol.id });
    await waitFor(async () => (await own(alice, 'did you read this?')).receipts?.read === 2, 30_000, 'carol\'s read receipt');
    expect((await own(alice, 'did you read this?')).receipts).toEqual({ delivered: 2, read: 2, of: 2 });
    const both = await alice.m.groupReceipts({ groupId, messageId: sent.id });
    for (const m of both.members) expect(m.readAt! >= m.deliveredAt!).toBe(true);

    // Details only for own messages of that group.
    expect(await codeOf(bob.m.groupReceipts({ groupId, messageId: atBob.id }))).toBe('UNKNOWN_MESSAGE');
    expect(await codeOf(bob.m.groupMarkRead({ groupId, upToMessageId: sent.id }))).toBe('UNKNOWN_MESSAGE');
  }, 120_000);

  it('a receipt under another group id, or from a member the text was not sent to, changes nothing', async () => {
    const sent = await alice.m.groupSend({ groupId, text: 'second' });
    await waitFor(async () => (await own(alice, 'second')).receipts?.delivered === 2, 30_000, 'delivered');
    // The content id bob holds for the read receipt, sealed in his vault.
    const atBob = (await incoming(bob, 'second'))!;
    const { contentId } = JSON.parse(Buffer.from(vaultOf(bob).kvGet(GROUP_INCOMING, atBob.id)!).toString('utf8')) as { contentId: string };

    // dave joins after the text was sent; he then claims (over his own session) to have read it.
    await alice.m.groupAdd({ groupId, handle: 'r_dave' });
    await waitFor(async () => (await dave.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'dave in the group');
    const forge = async (from: Peer, gid: string) =>
      connOf(from).mailbox.send('r_alice', encodeEnvelope(await e2eOf(from).sendContent('r_alice', { v: 1, kind: 'group-receipt', groupId: gid, type: 'read', ids: [contentId] })));
    await forge(dave, groupId);
    // carol (who has not read it) names it under another group id.
    await forge(carol, 'f'.repeat(32));
    // What each sends after them proves they were handled (per-sender order at the relay).
    await dave.m.groupSend({ groupId, text: 'dave here' });
    await carol.m.groupSend({ groupId, text: 'carol here' });
    for (const text of ['dave here', 'carol here']) await waitFor(async () => (await incoming(alice, text)) !== undefined, 30_000, text);
    await bob.m.groupMarkRead({ groupId, upToMessageId: atBob.id });
    await waitFor(async () => (await own(alice, 'second')).receipts?.read === 1, 30_000, 'bob\'s read receipt');
    expect((await own(alice, 'second')).receipts).toEqual({ delivered: 2, read: 1, of: 2 });
    expect((await alice.m.groupReceipts({ groupId, messageId: sent.id })).members.map((m) => [m.handle, m.readAt !== undefined])).toEqual([
      ['r_bob', true],
      ['r_carol', false],
    ]);
  }, 120_000);

  it('the unread count reaches past one page of history; reading the newest clears it', async () => {
    // bob read up to 'second'; dave's and carol's texts after it are unread, the line adding dave is not counted.
    await waitFor(async () => (await activityOf(bob)).unread === 2, 30_000, 'two unread at bob');
    for (let i = 0; i < 60; i++) await carol.m.groupSend({ groupId, text: `c${i}` });
    await waitFor(async () => (await incoming(bob, 'c59')) !== undefined, 60_000, 'carol\'s texts at bob');
    const before = await activityOf(bob);
    expect(before.unread).toBe(62);
    expect(before.lastMessage).toMatchObject({ text: 'c59', sender: 'r_carol', direction: 'in' });
    await bob.m.groupMarkRead({ groupId, upToMessageId: (await incoming(bob, 'c59'))!.id });
    expect((await activityOf(bob)).unread).toBe(0);
    // sync waits for the read receipts to be out; carol then sees bob among the readers.
    expect((await bob.m.sync({ timeoutMs: 30_000 })).done).toBe(true);
    await waitFor(async () => (await own(carol, 'c59')).receipts?.read === 1, 30_000, 'bob\'s read receipt at carol');
  }, 180_000);
});
