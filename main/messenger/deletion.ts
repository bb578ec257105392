// "Delete for me": a message or a whole conversation leaves this device's history, with
// everything the messenger keeps about it. Vault writes only; the caller runs it as a vault
// activity, flushes pending counters first, and catches up search and announces afterwards.
import { ApiError } from '../../shared/api.ts';
import type { StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { DRAFTS_NS } from './conversations.ts';
import { forgetRecords, forgetSend, recipientOf } from './deletion-journal.ts';

/** The message to delete: it must be in that conversation. */
export function messageToDelete(vault: Vault, conversationId: string, messageId: string): StoredMessage {
  const conv = vault.getConversation(conversationId);
  if (!conv) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
  const m = vault.getMessage(messageId);
  if (!m || m.conversationId !== conv.id) throw new ApiError('UNKNOWN_MESSAGE', 'There is no such message in this conversation.');
  return m;
}

/** Every message of the conversation to delete. */
export function conversationToDelete(vault: Vault, conversationId: string): StoredMessage[] {
  if (!vault.getConversation(conversationId)) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
  return [...vault.iterateMessages(conversationId)];
}

/**
 * Everything the messenger keeps about these messages (kv entries keyed by their id, a queued
 * one's outbox entry and pending send, attachment chunks). Vault writes only: run it inside the
 * transaction that deletes them (deleteFromVault, or a slice of deletion-slices.ts).
 */
export function forgetMessages(vault: Vault, sendIdOf: (contentId: string) => string, messages: readonly StoredMessage[]): void {
  const recipients = new Map<string, string | undefined>();
  for (const m of messages) {
    if (!recipients.has(m.conversationId)) recipients.set(m.conversationId, recipientOf(vault, m.conversationId));
    // Our send (deletion-journal.ts): a queued one leaves the outbox (never sent after its
    // deletion); one the relay accepted and has not delivered gets a withdraw in the sealed outbox,
    // in this transaction, so the relay drops it once connected, also after a lock or a crash.
    // Our text's content id is in its entry (storeQueued); an attachment's or an older build's text's in kv.
    const own = m.direction === 'out' ? m.contentId : undefined;
    forgetSend(vault, sendIdOf, recipients.get(m.conversationId), m.id, () => m.direction === 'out' && (m.state === 'queued' || m.state === 'sent'), own);
    forgetRecords(vault, m.id, m.contentId);
  }
}

/**
 * Everything the messenger keeps about the messages goes first (kv entries keyed by their id,
 * a queued one's outbox entry and pending send, and with `all` the draft), then the vault
 * deletes them (re-sealed segments, truncated WAL). A crash in between leaves only id-keyed
 * leftovers without text. `sendIdOf` maps a content id to its send's idempotency key.
 * Returns the ids deleted.
 */
export function deleteFromVault(
  vault: Vault,
  sendIdOf: (contentId: string) => string,
  conversationId: string,
  messages: readonly StoredMessage[],
  all: boolean,
): string[] {
  vault.transaction(() => {
    forgetMessages(vault, sendIdOf, messages);
    if (all) vault.kvDelete(DRAFTS_NS, conversationId);
  });
  const deleted = all ? vault.deleteConversation(conversationId) : vault.deleteMessages(conversationId, messages.map((m) => m.id));
  const conv = vault.getConversation(conversationId);
  const unreadGone = messages.filter((m) => m.direction === 'in' && m.state === 'received').length;
  if (conv && unreadGone > 0) vault.upsertConversation({ ...conv, unread: all ? 0 : Math.max(0, conv.unread - unreadGone) });
  return deleted;
}
