// Replies in group chats (main/messenger/group-reply.ts), end to end on a real relay process,
// real libsignal and real vaults: a reply reaches the other members with the quote (author and
// text) mapped to their own stored ids; a reference to a text a member does not hold shows no
// quote and is no error; a malformed replyTo is refused with a typed error (API) or dropped
// (wire), changing nothing; a quote of a member who has since left still shows, and the lookup
// stops at the quoted author (members first; former ones capped).
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GroupMessage } from '../../shared/api.ts';
import { dispatchCall } from '../../shared/api/rpc.ts';
import { encodeContent, type E2e } from '../../main/e2e/index.ts';
import { PAD_BLOCK } from '../../main/e2e/content.ts';
import type { RelayConnection } from '../../main/messenger/connection.ts';
import type { GroupRecord } from '../../main/messenger/group-store.ts';
import type { SignedChange } from '../../main/messenger/group-ops.ts';
import { linkIncomingReply, MAX_FORMER_QUOTE_AUTHORS, quotableAuthors } from '../../main/messenger/group-reply.ts';
import { GroupLog } from '../../main/messenger/group-state.ts';
import { QUOTABLE_CONTENT_IDS, REPLY_TO, withIdKey } from '../../main/messenger/ids.ts';
import type { UnlockedSession } from '../../main/messenger/session.ts';
import { codeOf, messagingScene, peersOn, waitFor, type Peer } from '../messaging/helpers.ts';

const scene = messagingScene('greply', ['alice', 'bob', 'carol']);
let alice: Peer, bob: Peer, carol: Peer;
let groupId = '';

const sessionOf = (p: Peer): UnlockedSession => (p.m as unknown as { life: { require(): UnlockedSession } }).life.require();
const e2eOf = (p: Peer): E2e => sessionOf(p).registration!.e2e;
const connOf = (p: Peer): RelayConnection => sessionOf(p).connection!;

async function history(p: Peer): Promise<GroupMessage[]> {
  return (await p.m.groupHistory({ groupId, limit: 500 })).messages.filter((m) => !m.system);
}
const find = async (p: Peer, text: string): Promise<GroupMessage | undefined> => (await history(p)).find((m) => m.text === text);
const arrived = (p: Peer, text: string): Promise<void> => waitFor(async () => (await find(p, text)) !== undefined, 30_000, `"${text}" at a member`);

beforeAll(async () => {
  ({ alice, bob, carol } = await peersOn(scene, ['alice', 'bob', 'carol'], 'r_'));
  groupId = (await alice.m.groupCreate({ name: 'Replies', members: ['r_bob', 'r_carol'] })).groupId;
  for (const p of [bob, carol]) await waitFor(async () => (await p.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'the group at every member');
}, 120_000);

describe('replies in group chats', () => {
  it("a reply arrives at every other member with the quote of another member's text", async () => {
    await alice.m.groupSend({ groupId, text: 'lunch at noon?' });
    await arrived(bob, 'lunch at noon?');
    const atBob = (await find(bob, 'lunch at noon?'))!;
    // Through the contract's dispatcher, so the result is checked against the strict schema.
    const out = await dispatchCall(bob.m, 'groupSend', { groupId, text: 'yes, see you there', replyTo: atBob.id });
    expect(out).toMatchObject({ ok: true, value: { replyTo: { id: atBob.id, direction: 'in', sender: 'r_alice', text: 'lunch at noon?' } } });

    for (const [p, direction] of [[alice, 'out'], [carol, 'in']] as const) {
      await arrived(p, 'yes, see you there');
      const quoted = (await find(p, 'lunch at noon?'))!;
      expect((await find(p, 'yes, see you there'))!.replyTo).toEqual({ id: quoted.id, direction, sender: 'r_alice', text: 'lunch at noon?' });
    }
    // Bob's own history shows it too; texts that are not replies carry no quote.
    expect((await find(bob, 'yes, see you there'))!.replyTo).toMatchObject({ id: atBob.id, sender: 'r_alice' });
    expect((await find(carol, 'lunch at noon?'))!.replyTo).toBeUndefined();
  }, 60_000);

  it('replying to an own text: the others see the quote under the author', async () => {
    const own = await carol.m.groupSend({ groupId, text: 'who brings the cake?' });
    await carol.m.groupSend({ groupId, text: 'me, never mind', replyTo: own.id });
    await arrived(alice, 'me, never mind');
    expect((await find(alice, 'me, never mind'))!.replyTo).toMatchObject({ direction: 'in', sender: 'r_carol', text: 'who brings the cake?' });
    expect((await find(carol, 'me, never mind'))!.replyTo).toMatchObject({ id: own.id, direction: 'out', sender: 'r_carol' });
  }, 60_000);

  it('a quoted text deleted for me shows the reply with a null quote, not an error', async () => {
    await alice.m.groupSend({ groupId, text: 'to be forgotten' });
    await arrived(bob, 'to be forgotten');
    const q = (await find(bob, 'to be forgotten'))!;
    await bob.m.groupSend({ groupId, text: 'a reply that outlives it', replyTo: q.id });
    await arrived(carol, 'a reply that outlives it');
    const atCarol = (await find(carol, 'to be forgotten'))!;
    expect(await carol.m.deleteMessage({ conversationId: `g${groupId}`, messageId: atCarol.id })).toEqual({ deleted: 1 });
    expect((await find(carol, 'a reply that outlives it'))!.replyTo).toBeNull();
  }, 60_000);

  it('a quoted text its author deleted for everyone: the reply stays, its quote is null at every member', async () => {
    const said = await alice.m.groupSend({ groupId, text: 'a hasty remark' });
    await arrived(bob, 'a hasty remark');
    await bob.m.groupSend({ groupId, text: 'replying to the remark', replyTo: (await find(bob, 'a hasty remark'))!.id });
    await arrived(carol, 'replying to the remark');
    await arrived(alice, 'replying to the remark');
    expect(await alice.m.deleteMessage({ conversationId: `g${groupId}`, messageId: said.id, forEveryone: true })).toEqual({ deleted: 1 });
    for (const p of [alice, bob, carol]) {
      await waitFor(async () => (await find(p, 'replying to the remark'))!.replyTo === null, 30_000, 'the quote gone at every member');
      expect(JSON.stringify(await history(p))).not.toContain('a hasty remark');
    }
  }, 60_000);

  it('a reply naming a text the member never got shows no quote; a malformed one is dropped', async () => {
    // Bob encrypts on his own chain what a hostile or newer client could send.
    await bob.m.groupSend({ groupId, text: 'bob hands out his chain first' });
    await arrived(carol, 'bob hands out his chain first');
    const record = JSON.parse(Buffer.from(sessionOf(bob).vault.kvGet('groups', groupId)!).toString('utf8')) as GroupRecord;
    const send = async (bytes: Uint8Array<ArrayBuffer>): Promise<void> => {
      await connOf(bob).mailbox.send('r_carol', await e2eOf(bob).groups.encrypt(record.dist, bytes));
    };
    const text = (id: string, body: string, replyTo: string) => ({ v: 1 as const, kind: 'group-text' as const, groupId, id, sentAt: Date.now(), text: body, replyTo });
    await send(encodeContent(text('unknownref1', 'quoting something you never saw', 'c0ffeec0ffeec0ffeec0ffeec0ffee00')));
    // Not a content id: encodeContent refuses it, so the padded bytes are built here as a hostile client would.
    expect(() => encodeContent(text('badref1', 'malformed quote', '../../etc'))).toThrow();
    const json = new TextEncoder().encode(JSON.stringify(text('badref1', 'malformed quote', '../../etc')));
    const padded = new Uint8Array(Math.ceil((json.length + 1) / PAD_BLOCK) * PAD_BLOCK);
    padded.set(json);
    padded[json.length] = 0x80;
    await send(padded);
    await bob.m.groupSend({ groupId, text: 'marker after the forged ones' });
    await arrived(carol, 'marker after the forged ones');
    const got = await find(carol, 'quoting something you never saw');
    expect(got).toMatchObject({ sender: 'r_bob' });
    expect(got!.replyTo).toBeUndefined();
    expect(await find(carol, 'malformed quote')).toBeUndefined();
  }, 60_000);

  it('groupSend refuses a malformed or foreign replyTo with a typed error and sends nothing', async () => {
    const before = (await history(alice)).length;
    const bad = await dispatchCall(alice.m, 'groupSend', { groupId, text: 'nope', replyTo: 'not an id!' });
    expect(bad).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    expect(await codeOf(alice.m.groupSend({ groupId, text: 'nope', replyTo: 'no-such-message' }))).toBe('UNKNOWN_MESSAGE');
    // A membership line is not a text to quote.
    const line = (await alice.m.groupHistory({ groupId, limit: 500 })).messages.find((m) => m.system)!;
    expect(await codeOf(alice.m.groupSend({ groupId, text: 'nope', replyTo: line.id }))).toBe('UNKNOWN_MESSAGE');
    expect((await history(alice)).length).toBe(before);
  }, 60_000);

  // Last: carol leaves the group here.
  it('a reply quoting a member who has since left: members who hold the text show the quote under its author', async () => {
    await carol.m.groupSend({ groupId, text: 'I have to go soon' });
    await arrived(alice, 'I have to go soon');
    await arrived(bob, 'I have to go soon');
    await carol.m.groupLeave({ groupId });
    for (const p of [alice, bob]) await waitFor(async () => !(await p.m.groupsList()).find((g) => g.groupId === groupId)!.members.includes('r_carol'), 30_000, "carol's leave at a member");
    const atBob = (await find(bob, 'I have to go soon'))!;
    await bob.m.groupSend({ groupId, text: 'bye carol', replyTo: atBob.id });
    await arrived(alice, 'bye carol');
    const quoted = (await find(alice, 'I have to go soon'))!;
    expect((await find(alice, 'bye carol'))!.replyTo).toEqual({ id: quoted.id, direction: 'in', sender: 'r_carol', text: 'I have to go soon' });
  }, 60_000);

  // After carol left. A received reply's quote is looked up lazily (review s15 F2): ours, then the
  // members now, then former members newest first, at most MAX_FORMER_QUOTE_AUTHORS of them; the
  // lookups are counted through linkIncomingReply's lookup seam on alice's real vault.
  it("a reply's quote costs a lookup per candidate up to its author: members first, former ones capped", async () => {
    const vault = sessionOf(alice).vault;
    const record = JSON.parse(Buffer.from(vault.kvGet('groups', groupId)!).toString('utf8')) as GroupRecord;
    const log = GroupLog.restore(record.log);
    expect(log.state.members).toEqual(['r_alice', 'r_bob']);
    // A chain that also names many handles no longer in the group (as cheap adds and removes would):
    // newer than carol's leave, so her texts sit behind them.
    const gone = (n: number): SignedChange[] => Array.from({ length: n }, (_, i) => ({
      body: { v: 1, groupId, revision: log.state.revision + 1 + i, parent: '', author: 'r_bob', op: { type: 'remove', handle: `r_gone${i}` } },
      sig: '',
    }));
    const d = { self: () => 'r_alice', withIdKey: <T>(fn: (k: Uint8Array) => T): T => withIdKey(vault, fn) };
    const link = (contentId: string, chain: readonly SignedChange[]): { quoted: string | undefined; lookups: number } => {
      let lookups = 0;
      const replyId = `mtest${randomBytes(14).toString('hex')}`;
      linkIncomingReply(d, vault, groupId, quotableAuthors(chain, log.state.members), replyId, contentId, (qid) => {
        lookups++;
        return vault.getMessage(qid);
      });
      const raw = vault.kvGet(REPLY_TO, replyId);
      if (raw) vault.kvDelete(REPLY_TO, replyId);
      return { quoted: raw && Buffer.from(raw).toString('utf8'), lookups };
    };
    const contentIdOf = (m: GroupMessage): string => Buffer.from(vault.kvGet(QUOTABLE_CONTENT_IDS, m.id)!).toString('utf8');
    const fromBob = (await find(alice, 'bob hands out his chain first'))!;
    const fromCarol = (await find(alice, 'I have to go soon'))!;
    const chain = log.chainChanges();

    // Bob is a member now: ours (no), then bob: two lookups, however many handles the chain names.
    expect(link(contentIdOf(fromBob), [...chain, ...gone(MAX_FORMER_QUOTE_AUTHORS + 50)])).toEqual({ quoted: fromBob.id, lookups: 2 });
    // Carol left: found after ours, bob, and the former ones named after her leave (newest first).
    expect(link(contentIdOf(fromCarol), chain)).toEqual({ quoted: fromCarol.id, lookups: 3 });
    expect(link(contentIdOf(fromCarol), [...chain, ...gone(10)])).toEqual({ quoted: fromCarol.id, lookups: 13 });
    // Behind MAX_FORMER_QUOTE_AUTHORS newer former names she is no longer tried: no quote, bounded work.
    expect(link(contentIdOf(fromCarol), [...chain, ...gone(MAX_FORMER_QUOTE_AUTHORS)])).toEqual({ quoted: undefined, lookups: 2 + MAX_FORMER_QUOTE_AUTHORS });
    // A content id no one here wrote: every candidate once, and no more than the cap allows.
    expect(link('c0ffeec0ffeec0ffeec0ffeec0ffee11', [...chain, ...gone(1000)])).toEqual({ quoted: undefined, lookups: 2 + MAX_FORMER_QUOTE_AUTHORS });
  });
});
