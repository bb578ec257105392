// The one chat list and the group receipt labels (renderer/src/chat/group-list.ts).
import { describe, expect, it } from 'vitest';
import type { ConversationSummary, GroupActivity, GroupInfo } from '../../shared/api.ts';
import { chatEntries, groupReceiptLabel, withActivity, withGroupInfo } from '../../renderer/src/chat/group-list.ts';

const conv = (id: string, title: string, lastActivity: number, unread = 0): ConversationSummary => ({
  id, contactId: `k${id}`, title, lastActivity, unread, lastMessage: null, verified: false, identityChanged: false,
});
const group = (n: string, name: string): GroupInfo => ({
  groupId: n.repeat(32), conversationId: `g${n.repeat(32)}`, name, creator: 'alice', members: ['alice', 'bob'], admins: ['alice'], revision: 1, isMember: true, membersCanAdd: false,
});
const act = (n: string, lastActivity: number, unread: number): GroupActivity => ({ groupId: n.repeat(32), conversationId: `g${n.repeat(32)}`, lastActivity, unread, lastMessage: null });

describe('chatEntries', () => {
  it('puts 1:1 chats and groups in one list by last activity, with the groups\' unread counts', () => {
    const entries = chatEntries([conv('c1', 'bob', 300, 2), conv('c2', 'carol', 100)], [group('a', 'Hikers'), group('b', 'Book club')], [act('a', 200, 5), act('b', 400, 0)]);
    expect(entries.map((e) => [e.kind, e.id, e.unread])).toEqual([
      ['group', `g${'b'.repeat(32)}`, 0],
      ['direct', 'c1', 2],
      ['group', `g${'a'.repeat(32)}`, 5],
      ['direct', 'c2', 0],
    ]);
  });

  it('a group whose activity is not loaded yet goes last, by name', () => {
    const entries = chatEntries([conv('c1', 'bob', 10)], [group('b', 'Zeta'), group('a', 'Alpha')], []);
    expect(entries.map((e) => e.id)).toEqual(['c1', `g${'a'.repeat(32)}`, `g${'b'.repeat(32)}`]);
  });
});

describe('withActivity', () => {
  it("replaces one group's entry from its event, adds a new one, keeps the list when nothing moved", () => {
    const list = [act('a', 200, 5), act('b', 400, 0)];
    expect(withActivity(list, act('a', 500, 6))).toEqual([act('a', 500, 6), act('b', 400, 0)]);
    expect(withActivity(list, act('c', 50, 1))).toEqual([...list, act('c', 50, 1)]);
    expect(withActivity(list, act('b', 400, 0))).toBe(list);
  });
});

describe('withGroupInfo', () => {
  const renamed = (g: GroupInfo, name: string): GroupInfo => ({ ...g, name, revision: g.revision + 1 });
  it("an answer older than what an event showed meanwhile leaves the group as the event showed it", () => {
    // alice renames (revision 2): main sends the change, and bob's rename (revision 3) arrives
    // as a `group` event before the answer to alice's, which states revision 2.
    const two = renamed(group('a', 'Hikers'), 'Hikers 2');
    const three = renamed(two, 'Hikers 3');
    const afterEvent = withGroupInfo([two], three, true);
    expect(afterEvent).toEqual([three]);
    expect(withGroupInfo(afterEvent, two, false)).toBe(afterEvent);
    expect(withGroupInfo(afterEvent, two, true)).toBe(afterEvent);
  });
  it('a newer or equally new info replaces the shown one; the same list when nothing shown changes', () => {
    const list = [group('a', 'Alpha'), group('b', 'Beta')];
    const next = renamed(list[1]!, 'Beta 2');
    expect(withGroupInfo(list, next, false)).toEqual([list[0], next]);
    const left = { ...list[0]!, isMember: false };
    expect(withGroupInfo(list, left, false)).toEqual([left, list[1]]);
    expect(withGroupInfo(list, { ...list[0]! }, true)).toBe(list);
  });
  it('adds a group not listed yet only when asked (events), in name order', () => {
    const list = [group('a', 'Alpha'), group('c', 'Gamma')];
    expect(withGroupInfo(list, group('b', 'Beta'), false)).toBe(list);
    expect(withGroupInfo(list, group('b', 'Beta'), true).map((g) => g.name)).toEqual(['Alpha', 'Beta', 'Gamma']);
  });
});

describe('groupReceiptLabel', () => {
  it('says who read it, else who has it, else the state', () => {
    expect(groupReceiptLabel({ state: 'sent', receipts: { delivered: 2, read: 2, of: 2 } })).toBe('Read by 2 of 2');
    expect(groupReceiptLabel({ state: 'sent', receipts: { delivered: 3, read: 1, of: 5 } })).toBe('Read by 1 of 5');
    expect(groupReceiptLabel({ state: 'sent', receipts: { delivered: 1, read: 0, of: 5 } })).toBe('Delivered to 1 of 5');
    expect(groupReceiptLabel({ state: 'sent', receipts: { delivered: 0, read: 0, of: 5 } })).toBe('Sent');
    expect(groupReceiptLabel({ state: 'queued', receipts: { delivered: 0, read: 0, of: 5 } })).toBe('Waiting to send');
    expect(groupReceiptLabel({ state: 'sent' })).toBe('Sent');
  });
});
