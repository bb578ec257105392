// Conversations and history as the API shows them: history paging, the message view with its
// reply quote, delivery/read times, drafts and the conversation summary. Reads and small kv
// writes on an unlocked vault only; events and the activity gate stay with the caller.
import { ApiError, type ConversationSummary, type HistoryPage, type Message, type ParamsOf, type ResultOf } from '../../shared/api.ts';
import { UNVERIFIED_IMPORTS } from '../backup/index.ts';
import { MAX_TEXT_CHARS } from '../e2e/index.ts';
import type { StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { isVerified } from '../vault/records.ts';
import { timerChangeLine } from '../../shared/api/disappearing.ts';
import { conversationTimer, newestNotExpired, timerChangeOf, withTimer } from './disappearing.ts';
import { OUTGOING_CONTENT_IDS, QUOTABLE_CONTENT_IDS, REPLY_TO, STATE_TIMES } from './ids.ts';
import { messageView } from './views.ts';
import { readKvJson, writeKvJson } from './kv-json.ts';
import { isTombstone } from './delete-for-everyone.ts';
import { recordOf } from './attachment-store.ts';

/** Sealed vault kv namespace of unsent drafts, keyed by conversation id. */
export const DRAFTS_NS = 'drafts';

/** The message as the UI sees it, with the quote it replies to (looked up in the sealed kv). */
export function viewWithQuote(vault: Vault, m: StoredMessage): Message {
  // Deleted for everyone: "This message was deleted", nothing else (no quote, no timer).
  if (isTombstone(vault, m.id)) return { ...messageView(m, m.orderKey), text: '', deleted: true };
  const view = withTimer(vault, messageView(m, m.orderKey));
  const raw = vault.kvGet(REPLY_TO, m.id);
  if (!raw) return view;
  const quoted = vault.getMessage(Buffer.from(raw).toString('utf8'));
  return { ...view, replyTo: quoted ? { id: quoted.id, direction: quoted.direction, text: quoted.text.slice(0, 200) } : null };
}

/** The content id (as both devices know it) of the message a stored reply quotes, if known. */
export function quotedContentId(vault: Vault, messageId: string): string | undefined {
  const raw = vault.kvGet(REPLY_TO, messageId);
  if (!raw) return undefined;
  const quotedId = Buffer.from(raw).toString('utf8');
  const cid = vault.kvGet(OUTGOING_CONTENT_IDS, quotedId) ?? vault.kvGet(QUOTABLE_CONTENT_IDS, quotedId);
  // A received text stored with its content id in its sealed entry has no kv entry for it (inbound.ts).
  return cid ? Buffer.from(cid).toString('utf8') : vault.getMessage(quotedId)?.contentId;
}

function stateTimes(vault: Vault, messageId: string): { delivered?: number; read?: number } {
  const v = readKvJson(vault, STATE_TIMES, messageId) as { delivered?: unknown; read?: unknown } | null | undefined;
  if (typeof v !== 'object' || v === null) return {};
  const ok = (x: unknown): number | undefined => (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 ? x : undefined);
  const delivered = ok(v.delivered);
  const read = ok(v.read);
  return { ...(delivered !== undefined ? { delivered } : {}), ...(read !== undefined ? { read } : {}) };
}

/** `noneYet`: the caller knows no time was recorded for the message (its state was below delivered), so nothing is read first. */
export function recordStateTime(vault: Vault, messageId: string, state: 'delivered' | 'read', o: { noneYet?: boolean } = {}): void {
  const times = { ...(o.noneYet === true ? {} : stateTimes(vault, messageId)), [state]: Date.now() };
  writeKvJson(vault, STATE_TIMES, messageId, times);
}

export function messageDetails(vault: Vault, messageId: string): ResultOf<'messageDetails'> {
  const m = vault.getMessage(messageId);
  if (!m) throw new ApiError('UNKNOWN_MESSAGE', 'There is no such message.');
  const times = stateTimes(vault, m.id);
  // A read receipt can arrive without a delivered one before it: read implies delivered.
  const readAt = times.read ?? null;
  return { id: m.id, direction: m.direction, state: m.state, sentAt: m.sentAt, receivedAt: m.receivedAt, deliveredAt: times.delivered ?? readAt, readAt };
}

function requireConversation(vault: Vault, conversationId: string): void {
  if (!vault.getConversation(conversationId)) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
}

export function readDraft(vault: Vault, conversationId: string): ResultOf<'getDraft'> {
  requireConversation(vault, conversationId);
  return storedDraft(vault, conversationId);
}

/** Run inside a vault activity (it writes). */
export function writeDraft(vault: Vault, conversationId: string, text: string): void {
  requireConversation(vault, conversationId);
  storeDraft(vault, conversationId, text);
}

/** The sealed draft kept under `conversationId` (1:1 or group), the caller having checked the id. */
export function storedDraft(vault: Vault, conversationId: string): ResultOf<'getDraft'> {
  const raw = vault.kvGet(DRAFTS_NS, conversationId);
  return { text: raw ? Buffer.from(raw).toString('utf8').slice(0, MAX_TEXT_CHARS) : '' };
}

/** Keeps `text` as the draft under `conversationId`, or with blank text removes it (a write). */
export function storeDraft(vault: Vault, conversationId: string, text: string): void {
  if (text.trim() === '') vault.kvDelete(DRAFTS_NS, conversationId);
  else vault.kvSet(DRAFTS_NS, conversationId, Buffer.from(text, 'utf8'));
}

/** The summary from the stored counters (the caller flushes pending counter changes first). */
export function conversationSummary(vault: Vault, conversationId: string): ConversationSummary | undefined {
  const conv = vault.getConversation(conversationId);
  if (!conv) return undefined;
  const contact = vault.getContact(conv.contactId);
  const last = newestNotExpired(vault, conv.id, Date.now());
  const change = last ? timerChangeOf(vault, last.id) : undefined;
  const deleted = last ? isTombstone(vault, last.id) : false;
  const timer = conversationTimer(vault, conv.id).seconds;
  return {
    id: conv.id,
    contactId: conv.contactId,
    title: conv.title.slice(0, 256),
    lastActivity: Math.max(0, Math.floor(conv.lastActivity)),
    unread: conv.unread,
    lastMessage: last
      ? {
          // A timer change has no text: its system line stands in.
          text: (deleted ? 'This message was deleted' : change === undefined ? last.text : timerChangeLine(last.direction === 'out' ? 'You' : conv.title, change)).slice(0, 200),
          direction: last.direction,
          sentAt: last.sentAt,
          state: last.state,
          ...previewMarks(vault, last.id, deleted),
        }
      : null,
    verified: contact ? isVerified(contact) : false,
    identityChanged: contact?.identityChanged ?? false,
    ...(vault.kvGet(UNVERIFIED_IMPORTS, conv.id) ? { importedUnverified: true as const } : {}),
    ...(timer > 0 ? { timerSeconds: timer } : {}),
  };
}

/** The chat list line's marks: a tombstone, or the file a message carries (the renderer shows "File: name" when it has no caption). */
function previewMarks(vault: Vault, messageId: string, deleted: boolean): { deleted?: true; file?: string } {
  if (deleted) return { deleted: true };
  const name = recordOf(vault, messageId)?.name;
  return name ? { file: name.slice(0, 200) } : {};
}

/** One page of a stored conversation around an anchor (the vault side of historyPage). */
export function historyPage(vault: Vault, convId: string, anchor: ParamsOf<'historyPage'>['anchor'], limit: number): HistoryPage {
  requireConversation(vault, convId);
  const anchorMessage = (id: string): StoredMessage => {
    const m = vault.getMessage(id);
    if (!m || m.conversationId !== convId) throw new ApiError('UNKNOWN_MESSAGE', 'There is no such message in this conversation.');
    return m;
  };
  const hasBefore = (orderKey: number) => vault.pageMessages(convId, { before: orderKey, limit: 1 }).length > 0;
  const hasAfter = (orderKey: number) => vault.pageMessages(convId, { after: orderKey, limit: 1 }).length > 0;
  let messages: StoredMessage[];
  switch (anchor.kind) {
    case 'newest': {
      messages = vault.pageMessages(convId, { limit });
      break;
    }
    case 'before': {
      messages = vault.pageMessages(convId, { before: anchorMessage(anchor.messageId).orderKey, limit });
      break;
    }
    case 'after': {
      messages = vault.pageMessages(convId, { after: anchorMessage(anchor.messageId).orderKey, limit });
      break;
    }
    case 'around': {
      const m = anchorMessage(anchor.messageId);
      const older = Math.floor((limit - 1) / 2);
      messages = vault.pageAround(m.id, older, limit - 1 - older);
      break;
    }
  }
  const first = messages[0];
  const last = messages.at(-1);
  return {
    messages: messages.map((m) => viewWithQuote(vault, m)),
    hasOlder: first ? hasBefore(first.orderKey) : anchor.kind !== 'newest' && anchor.kind !== 'before',
    hasNewer: last ? hasAfter(last.orderKey) : anchor.kind === 'before',
  };
}
