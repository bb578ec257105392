// The chat list's line under a chat's name (renderer/src/chat/preview.ts), fed by main's
// summary fields (conversations.ts for 1:1, group-receipts.ts newestFields for groups).
import { describe, expect, it } from 'vitest';
import type { ConversationSummary, GroupActivity, GroupInfo, GroupMessage, MessagePreview } from '../../shared/api.ts';
import { chatEntries } from '../../renderer/src/chat/group-list.ts';
import { chatPreview } from '../../renderer/src/chat/preview.ts';
import { newestFields } from '../../main/messenger/group-receipts.ts';

const name = (h: string) => `@${h}`;
const direct = (lastMessage: MessagePreview) => {
  const c: ConversationSummary = { id: 'c1', contactId: 'k1', title: 'bob', lastActivity: 1, unread: 0, lastMessage, verified: false, identityChanged: false };
  return chatEntries([c], [], [])[0]!;
};
const G = 'a'.repeat(32);
const info: GroupInfo = { groupId: G, conversationId: `g${G}`, name: 'Hikers', creator: 'alice', members: ['alice', 'bob', 'carol'], admins: ['alice'], revision: 1, isMember: true, membersCanAdd: false };
const groupEntry = (newest: GroupMessage) => {
  const a: GroupActivity = { groupId: G, conversationId: `g${G}`, unread: 0, ...newestFields(newest) };
  return chatEntries([], [info], [a])[0]!;
};
const msg = (m: Partial<GroupMessage>): GroupMessage => ({ id: 'm1', groupId: G, direction: 'in', sender: 'carol', sentAt: 1, receivedAt: 2, text: 'hi', state: 'received', ...m });
const base = { sentAt: 1, state: 'received' as const };

describe('chatPreview', () => {
  it('a file without a caption shows the file, not an empty "You:"', () => {
    expect(chatPreview(direct({ ...base, text: '', direction: 'out', state: 'sent', file: 'photo.jpg' }), name)).toBe('You: File: photo.jpg');
    expect(chatPreview(direct({ ...base, text: '', direction: 'in', file: 'photo.jpg' }), name)).toBe('File: photo.jpg');
  });

  it('a file with a caption shows the caption', () => {
    expect(chatPreview(direct({ ...base, text: 'the summit', direction: 'in', file: 'photo.jpg' }), name)).toBe('the summit');
    expect(chatPreview(direct({ ...base, text: 'plain', direction: 'in' }), name)).toBe('plain');
  });

  it('a 1:1 message deleted for everyone reads "This message was deleted"', () => {
    expect(chatPreview(direct({ ...base, text: 'This message was deleted', direction: 'in', deleted: true }), name)).toBe('This message was deleted');
    expect(chatPreview(direct({ ...base, text: 'This message was deleted', direction: 'out', state: 'sent', deleted: true }), name)).toBe('You: This message was deleted');
  });

  it("a group's deleted message reads as in a 1:1 chat, from main's summary (its text is empty)", () => {
    expect(chatPreview(groupEntry(msg({ text: '', deleted: true })), name)).toBe('@carol: This message was deleted');
    expect(chatPreview(groupEntry(msg({ text: '', deleted: true, direction: 'out', sender: 'alice', state: 'sent' })), name)).toBe('You: This message was deleted');
    expect(chatPreview(groupEntry(msg({ text: 'hello' })), name)).toBe('@carol: hello');
    expect(chatPreview(groupEntry(msg({ text: 'alice removed bob', system: true, sender: 'alice' })), name)).toBe('alice removed bob');
  });

  it('a group without messages shows its size; a 1:1 chat without messages nothing', () => {
    expect(chatPreview(chatEntries([], [info], [])[0]!, name)).toBe('3 members');
    expect(chatPreview(chatEntries([{ id: 'c1', contactId: 'k1', title: 'bob', lastActivity: 1, unread: 0, lastMessage: null, verified: false, identityChanged: false }], [], [])[0]!, name)).toBe('');
  });
});
