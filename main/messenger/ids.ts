// Identifiers the messenger chooses. Contact ids are random (never derived from handles);
// stored message ids are derived so that a contact cannot pick another conversation's id and
// the content id can be recovered for receipts (docs/e2e.md "Message content").
import { randomBytes } from 'node:crypto';

export function newContactId(): string {
  return `c${randomBytes(12).toString('hex')}`;
}

export function conversationIdOf(contactId: string): string {
  return `d${contactId.slice(1)}`;
}

export function contactIdOfConversation(conversationId: string): string | undefined {
  return /^d[0-9a-f]{24}$/.test(conversationId) ? `c${conversationId.slice(1)}` : undefined;
}

/** The id inside the E2E content of a message we send: 32 hex characters. */
export function newContentId(): string {
  return randomBytes(16).toString('hex');
}

export function outgoingMessageId(contentId: string): string {
  return `o.${contentId}`;
}

export function incomingMessageId(contactId: string, contentId: string): string {
  return `i.${contactId}.${contentId}`;
}

/** The content id of an incoming message's stored id (for read receipts). */
export function contentIdOfIncoming(messageId: string): string | undefined {
  const m = /^i\.c[0-9a-f]{24}\.([A-Za-z0-9_-]{1,64})$/.exec(messageId);
  return m?.[1];
}

/** Idempotency key of the relay send carrying a text message (the outbox id). */
export function textIdempotencyKey(contentId: string): string {
  return `t${contentId}`;
}

export function contentIdOfTextIdempotencyKey(idem: string): string | undefined {
  return /^t[0-9a-f]{32}$/.test(idem) ? idem.slice(1) : undefined;
}

export function receiptIdempotencyKey(): string {
  return `r${randomBytes(16).toString('hex')}`;
}
