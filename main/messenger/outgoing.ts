/** The vault and relay steps of sending a text; sending.ts orders them (sendTextNow, resumeQueued). */
import type { StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import type { RelayConnection } from './connection.ts';
import { quotedContentId } from './conversations.ts';
import { OUTGOING_CONTENT_IDS, PENDING_SENDS, QUOTABLE_CONTENT_IDS, REPLY_TO } from './ids.ts';

export interface QueuedText {
  id: string;
  conversationId: string;
  contentId: string;
  at: number;
  text: string;
  replyToId: string | undefined;
}

/** The content id a reply to `messageId` names (ours or theirs), if it has one. */
export function quotableContentId(vault: Vault, messageId: string): string | undefined {
  const cid = vault.kvGet(OUTGOING_CONTENT_IDS, messageId) ?? vault.kvGet(QUOTABLE_CONTENT_IDS, messageId);
  return cid ? Buffer.from(cid).toString('utf8') : undefined;
}

/** Stores a text as 'queued'; returns it with the quoted message's content id, if any. */
export function storeQueued(vault: Vault, q: QueuedText): { stored: StoredMessage; replyTo: string | undefined } {
  // The content id is kept sealed (a resume at unlock re-sends a queued message under it);
  // written first, so a queued message always has it.
  vault.kvSet(OUTGOING_CONTENT_IDS, q.id, Buffer.from(q.contentId, 'utf8'));
  const [stored] = vault.appendMessages([
    { id: q.id, conversationId: q.conversationId, direction: 'out', sender: 'self', sentAt: q.at, receivedAt: q.at, text: q.text, state: 'queued' },
  ]);
  if (!stored) throw new Error('the vault did not store the message');
  if (q.replyToId === undefined) return { stored, replyTo: undefined }; // a new id: no quote stored under it
  vault.kvSet(REPLY_TO, q.id, Buffer.from(q.replyToId, 'utf8'));
  return { stored, replyTo: quotedContentId(vault, q.id) };
}

/**
 * Durable: in the sealed outbox until the relay accepted it (onDurable then marks it 'sent');
 * the pending record maps the idempotency key back to the content id. `ttlSec` (a disappearing
 * message's timer): the relay does not keep it undelivered longer than that.
 */
export function handToRelay(vault: Vault, conn: RelayConnection, handle: string, body: Uint8Array, idem: string, contentId: string, ttlSec?: number): void {
  vault.kvSet(PENDING_SENDS, idem, Buffer.from(contentId, 'utf8'));
  conn.mailbox.send(handle, body, idem, ttlSec).catch(() => undefined);
}
