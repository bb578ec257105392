// Messages, their states and history pages (shared/api.ts).
import { z } from 'zod';
import { DisappearingTimer } from '../disappearing.ts';
import { Id, MAX_TEXT_CHARS, Timestamp } from './scalars.ts';

export const MessageDirection = z.enum(['in', 'out']);
/** queued = in the outbox, not yet accepted by the relay. */
export const MessageState = z.enum(['queued', 'sent', 'delivered', 'read', 'received', 'failed']);

export const Message = z.strictObject({
  id: Id,
  conversationId: Id,
  /** Strictly increasing within a conversation, in storage order. */
  orderKey: z.number().int(),
  direction: MessageDirection,
  /** Contact id of the author, or 'self'. */
  sender: Id,
  sentAt: Timestamp,
  receivedAt: Timestamp,
  text: z.string().max(MAX_TEXT_CHARS),
  state: MessageState,
  /** Deleted for everyone by its sender: a tombstone ("This message was deleted"), text empty. */
  deleted: z.literal(true).optional(),
  /** The message this one replies to, with the start of its text (null if no longer stored). */
  replyTo: z
    .strictObject({ id: Id, direction: MessageDirection, text: z.string().max(200) })
    .nullable()
    .optional(),
  /** The disappearing timer this message was sent under (absent: none). */
  timerSeconds: DisappearingTimer.optional(),
  /**
   * When it disappears (ms, this device's clock); null while the countdown has not started (a
   * received message starts it when first shown). Present exactly when timerSeconds is.
   */
  expiresAt: Timestamp.nullable().optional(),
  /** A system line, not a text: the sender set the conversation's timer to these seconds (0 = off). */
  timerChange: z.strictObject({ seconds: DisappearingTimer }).optional(),
});

/** When a message reached each state, on this device's clock (null: not yet, or not recorded). */
export const MessageDetails = z.strictObject({
  id: Id,
  direction: MessageDirection,
  state: MessageState,
  sentAt: Timestamp,
  receivedAt: Timestamp,
  deliveredAt: Timestamp.nullable(),
  readAt: Timestamp.nullable(),
});

export const MessagePreview = z.strictObject({
  /** At most 200 characters of the newest message. */
  text: z.string().max(200),
  direction: MessageDirection,
  sentAt: Timestamp,
  state: MessageState,
  /** Deleted for everyone: `text` is then "This message was deleted". */
  deleted: z.literal(true).optional(),
  /** The name of the message's file (untrusted text, at most 200 characters); `text` is its caption, maybe empty. */
  file: z.string().min(1).max(200).optional(),
});

export const HistoryAnchor = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('newest') }),
  z.strictObject({ kind: z.literal('before'), messageId: Id }),
  z.strictObject({ kind: z.literal('after'), messageId: Id }),
  /** The message plus about limit/2 on each side (search results jump here). */
  z.strictObject({ kind: z.literal('around'), messageId: Id }),
]);

export const HistoryPage = z.strictObject({
  /** Ascending by orderKey. */
  messages: z.array(Message).max(500),
  hasOlder: z.boolean(),
  hasNewer: z.boolean(),
});

export const MessageStateChange = z.strictObject({ id: Id, conversationId: Id, state: MessageState });
/** "Delete for me" done: these messages (or, `all`, every message of the conversation) are gone. */
export const MessagesDeleted = z.strictObject({ conversationId: Id, messageIds: z.array(Id).max(1000), all: z.boolean() });
export type MessagesDeleted = z.infer<typeof MessagesDeleted>;
/** Messages deleted for everyone, as the tombstones they are now (the `deletedForEveryone` event). */
export const MessagesTombstoned = z.strictObject({ conversationId: Id, messages: z.array(Message).max(100) });
export type MessagesTombstoned = z.infer<typeof MessagesTombstoned>;
/** How many messages a delete removed. */
export const DeleteResult = z.strictObject({ deleted: z.number().int().min(0) });

export type MessageDirection = z.infer<typeof MessageDirection>;
export type Message = z.infer<typeof Message>;
export type MessageDetails = z.infer<typeof MessageDetails>;
export type MessageState = z.infer<typeof MessageState>;
export type MessagePreview = z.infer<typeof MessagePreview>;
export type HistoryAnchor = z.infer<typeof HistoryAnchor>;
export type HistoryPage = z.infer<typeof HistoryPage>;
export type MessageStateChange = z.infer<typeof MessageStateChange>;
export type DeleteResult = z.infer<typeof DeleteResult>;
