// Receipts and activity of group chats (shared/api.ts; main/messenger/group-receipts.ts): who of
// the members a message was sent to has it and has read it, and each group's place in the chat
// list (last activity, unread count).
import { z } from 'zod';
import { Count, Handle, Id, Timestamp } from './scalars.ts';
import { MessagePreview } from './messages.ts';
import { GroupId, MAX_GROUP_MEMBERS } from './groups.ts';

/** One recipient of an own group message: when it reached them and when they read it (absent: not yet). */
export const GroupMemberReceipt = z.strictObject({
  handle: Handle,
  deliveredAt: Timestamp.optional(),
  readAt: Timestamp.optional(),
});

export const GroupReceiptDetails = z.strictObject({
  messageId: Id,
  /** Every member the message was sent to, read first, then delivered, then the rest; by handle within each. */
  members: z.array(GroupMemberReceipt).max(MAX_GROUP_MEMBERS),
});

/** A group's entry in the chat list. */
export const GroupActivity = z.strictObject({
  groupId: GroupId,
  conversationId: Id,
  /** When its newest message (a membership line included) was stored; 0 when it has none. */
  lastActivity: Timestamp,
  /** Texts from other members after the last one read here (membership lines do not count). */
  unread: Count,
  lastMessage: MessagePreview.extend({ sender: Handle, system: z.literal(true).optional() }).nullable(),
});

export type GroupMemberReceipt = z.infer<typeof GroupMemberReceipt>;
export type GroupReceiptDetails = z.infer<typeof GroupReceiptDetails>;
export type GroupActivity = z.infer<typeof GroupActivity>;
