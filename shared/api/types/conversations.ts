// Conversation summaries for the chat list (shared/api.ts).
import { z } from 'zod';
import { DisappearingTimer } from '../disappearing.ts';
import { Count, Id, Timestamp } from './scalars.ts';
import { MessagePreview } from './messages.ts';

export const ConversationSummary = z.strictObject({
  id: Id,
  contactId: Id,
  title: z.string().max(256),
  lastActivity: Timestamp,
  unread: Count,
  lastMessage: MessagePreview.nullable(),
  verified: z.boolean(),
  identityChanged: z.boolean(),
  /**
   * True when a backup not signed by this profile (imported on the user's confirmation) created
   * this conversation or added messages to it: some of its history may have been written by
   * someone else. Absent otherwise.
   */
  importedUnverified: z.literal(true).optional(),
  /** The conversation's disappearing timer for new messages, in seconds (absent: off). */
  timerSeconds: DisappearingTimer.optional(),
});

export type ConversationSummary = z.infer<typeof ConversationSummary>;
