// Group chats (shared/api.ts; main/messenger/groups.ts): what a member sees of a group and its
// history. Membership itself is a signed log kept by each member (docs/protocol.md "Groups").
import { z } from 'zod';
import { Count, Handle, Id, MAX_TEXT_CHARS, Timestamp } from './scalars.ts';
import { MessageDirection, MessageState } from './messages.ts';
import { DisappearingTimer } from '../disappearing.ts';

/** Most members a group may have, this profile included (the relay's per-send recipient limit is this minus one, us). */
export const MAX_GROUP_MEMBERS = 256;
export const MAX_GROUP_NAME_CHARS = 100;
/**
 * 32 hex characters: a hash of the group's signed creation (docs/protocol.md §9b). The one rule
 * for every layer that reads a group id (signed changes, contents, backups, stored records).
 */
export const GROUP_ID_RE = /^[0-9a-f]{32}$/;
export const GroupId = z.string().regex(GROUP_ID_RE, 'must be a group id (32 hex characters)');
export const GroupName = z
  .string()
  .min(1)
  .max(MAX_GROUP_NAME_CHARS)
  // Checked here too so the CLI and UI say what is wrong before anything is signed.
  .refine((s) => s.trim().length > 0 && ![...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), 'must not be blank or hold control characters');

export const GroupInfo = z.strictObject({
  groupId: GroupId,
  /** The conversation the group's messages are stored under (history, search). */
  conversationId: Id,
  name: z.string().max(MAX_GROUP_NAME_CHARS),
  creator: Handle,
  /** Sorted handles, this profile's included while it is a member. */
  members: z.array(Handle).max(MAX_GROUP_MEMBERS),
  admins: z.array(Handle).max(MAX_GROUP_MEMBERS),
  /** Counts the changes applied since creation (1 after creation). */
  revision: z.number().int().positive(),
  /** False once this profile left or was removed: the group stays readable, nothing more arrives. */
  isMember: z.boolean(),
  /** The group's disappearing-message timer (seconds) when on; set by an admin (groupSetTimer). */
  timerSeconds: DisappearingTimer.optional(),
  /** Every member may add members, not only admins (an admin's change: groupAllowAdd); always set by the main side. */
  membersCanAdd: z.boolean(),
});

/** On an own group message: of the `of` members it was sent to, how many have it and have read it (main/messenger/group-receipts.ts). */
export const GroupReceiptCounts = z.strictObject({ delivered: Count, read: Count, of: Count });

export const GroupMessage = z.strictObject({
  id: Id,
  groupId: GroupId,
  direction: MessageDirection,
  /** The author's handle (this profile's own for direction 'out'). */
  sender: Handle,
  sentAt: Timestamp,
  receivedAt: Timestamp,
  text: z.string().max(MAX_TEXT_CHARS),
  state: MessageState,
  /** A membership line ("alice removed carol"), not a text: `sender` is the change's author. */
  system: z.literal(true).optional(),
  /** Own texts only: the members' receipts ("read by 2 of 3"); details through groupReceipts. */
  receipts: GroupReceiptCounts.optional(),
  /** Deleted for everyone by its author: a tombstone, `text` empty ("This message was deleted"). */
  deleted: z.literal(true).optional(),
  /** The group text this one replies to, with its author and the start of its text (null: no longer stored). */
  replyTo: z
    .strictObject({ id: Id, direction: MessageDirection, sender: Handle, text: z.string().max(200) })
    .nullable()
    .optional(),
  /** The disappearing timer this text was sent under (absent: none); in groupHistory. */
  timerSeconds: DisappearingTimer.optional(),
  /**
   * When it disappears (ms, this device's clock); null while the countdown has not started (a
   * received text starts it when first returned by groupHistory). Present exactly when timerSeconds is.
   */
  expiresAt: Timestamp.nullable().optional(),
});

export const GroupHistoryPage = z.strictObject({
  /** Ascending by storage order. */
  messages: z.array(GroupMessage).max(500),
  hasOlder: z.boolean(),
});

export type GroupInfo = z.infer<typeof GroupInfo>;
export type GroupMessage = z.infer<typeof GroupMessage>;
export type GroupReceiptCounts = z.infer<typeof GroupReceiptCounts>;
export type GroupHistoryPage = z.infer<typeof GroupHistoryPage>;
