// The chat list's one line under a chat's name (screens/ChatList.tsx), the same for 1:1 chats
// and groups. Pure, unit-tested in test/renderer/preview.test.ts.
import type { ChatEntry } from './group-list.ts';

export const DELETED_PREVIEW = 'This message was deleted';

/** "You: …", "@carol: …" or the line alone; a file without a caption reads "File: name", one with a caption the caption. */
export function chatPreview(e: ChatEntry, memberName: (handle: string) => string): string {
  const last = e.kind === 'direct' ? e.conversation.lastMessage : e.activity?.lastMessage ?? null;
  if (!last) return e.kind === 'group' ? `${e.group.members.length} members` : '';
  // Main sends a tombstone's line as text too; the flag keeps it right if a caption was kept.
  // Words, not a paperclip emoji: without an emoji font (common on Linux) it shows as a box.
  const body = last.deleted ? DELETED_PREVIEW : last.text === '' && last.file ? `File: ${last.file}` : last.text;
  if (last.direction === 'out') return `You: ${body}`;
  if (e.kind === 'group' && e.activity?.lastMessage && !e.activity.lastMessage.system) return `${memberName(e.activity.lastMessage.sender)}: ${body}`;
  return body;
}
