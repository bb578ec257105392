// Each group's place in the chat list kept on the main side (main/messenger/group-activity.ts):
// an incoming group text reaches the member as a `groupActivity` event (unread count, newest
// message) without any call, counted without scanning history; groupsActivity answers from what
// is kept (no history page read per call); reading, deleting and a lock bring the count back
// from the history. Real relay process, real libsignal, real vaults on disk.
import { beforeAll, describe, expect, it } from 'vitest';
import type { GroupActivity } from '../../shared/api.ts';
import type { Vault } from '../../main/vault/index.ts';
import { messagingScene, PASSWORD, peersOn, waitFor, type Peer } from '../messaging/helpers.ts';

const scene = messagingScene('group-activity', ['alice', 'bob']);
let alice: Peer, bob: Peer;
let groupId = '';

const vaultOf = (p: Peer): Vault => (p.m as unknown as { life: { current(): { vault: Vault } } }).life.current().vault;
/** The `limit` of every history page bob's vault reads from now on (an observation: the call still runs). */
function watchPages(p: Peer): number[] {
  const vault = vaultOf(p);
  const limits: number[] = [];
  const page = vault.pageMessages.bind(vault);
  vault.pageMessages = ((conv: string, opts: { limit: number }) => {
    limits.push(opts.limit);
    return page(conv, opts as never);
  }) as Vault['pageMessages'];
  return limits;
}
/** The keys of every read of a kv namespace from bob's vault from now on (an observation: the read still runs). */
function watchKv(p: Peer, namespace: string): string[] {
  const vault = vaultOf(p);
  const keys: string[] = [];
  const get = vault.kvGet.bind(vault);
  vault.kvGet = (ns: string, key: string) => {
    if (ns === namespace) keys.push(key);
    return get(ns, key);
  };
  return keys;
}
const pushed = (p: Peer): GroupActivity[] => p.events.flatMap((e) => (e.name === 'groupActivity' && e.payload.groupId === groupId ? [e.payload] : []));
const lastPushed = (p: Peer) => pushed(p).at(-1);
const asked = async (p: Peer) => (await p.m.groupsActivity()).find((a) => a.groupId === groupId);

beforeAll(async () => {
  ({ alice, bob } = await peersOn(scene, ['alice', 'bob'], 'ga_'));
}, 120_000);

describe('group activity counters', () => {
  it('an incoming text is pushed with its count; asking reads no history; read, delete and lock recount', async () => {
    groupId = (await alice.m.groupCreate({ name: 'Counters', members: ['ga_bob'] })).groupId;
    await waitFor(async () => (await bob.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'the group at bob');
    expect((await asked(bob))?.unread).toBe(0);

    // Three texts arrive: bob's list hears of each by an event, no call of his involved.
    const pages = watchPages(bob);
    bob.events.length = 0;
    for (const text of ['one', 'two', 'three']) await alice.m.groupSend({ groupId, text });
    await waitFor(() => lastPushed(bob)?.unread === 3, 30_000, 'the pushed count');
    expect(lastPushed(bob)).toMatchObject({ unread: 3, lastMessage: { text: 'three', direction: 'in', sender: 'ga_alice' } });
    // Counted, not scanned: only single-row reads of the newest message.
    expect(pages.length).toBeGreaterThan(0);
    expect(pages.every((limit) => limit === 1)).toBe(true);

    // Asking answers what is kept, without reading a page.
    pages.length = 0;
    for (let i = 0; i < 5; i++) expect(await asked(bob)).toEqual(lastPushed(bob));
    expect(pages).toEqual([]);

    // Reading the newest: recounted from the history, pushed as 0.
    const newest = (await bob.m.groupHistory({ groupId, limit: 10 })).messages.at(-1)!;
    await bob.m.groupMarkRead({ groupId, upToMessageId: newest.id });
    await waitFor(() => lastPushed(bob)?.unread === 0, 30_000, 'the count after reading');
    expect(await asked(bob)).toMatchObject({ unread: 0, lastMessage: { text: 'three' } });

    // One more arrives (1), then bob deletes it: the newest and the count follow the deletion.
    const records = watchKv(bob, 'groups');
    await alice.m.groupSend({ groupId, text: 'four' });
    await waitFor(() => lastPushed(bob)?.unread === 1, 30_000, 'the count of four');
    // The group's record is read once for the text (checked against, then announced), not again
    // to announce it or to refresh the chat list's newest message (alice's chain came earlier).
    expect(records).toEqual([groupId]);
    const four = (await bob.m.groupHistory({ groupId, limit: 10 })).messages.at(-1)!;
    expect(four.text).toBe('four');
    await bob.m.deleteMessage({ conversationId: `g${groupId}`, messageId: four.id });
    await waitFor(() => lastPushed(bob)?.unread === 0, 30_000, 'the pushed count after the deletion');
    expect(await asked(bob)).toMatchObject({ unread: 0, lastMessage: { text: 'three' } });

    // Locked meanwhile: after unlock the count comes from the history again, still right.
    await alice.m.groupSend({ groupId, text: 'five' });
    await waitFor(() => lastPushed(bob)?.unread === 1, 30_000, 'the count of five');
    await bob.m.lock();
    await bob.m.unlock({ password: PASSWORD });
    expect(await asked(bob)).toMatchObject({ unread: 1, lastMessage: { text: 'five' } });
  });
});
