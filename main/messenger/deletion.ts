// "Delete for me": a message or a whole conversation leaves this device's history, with
// everything the messenger keeps about it. Vault writes only; the caller runs it as a vault
// activity, flushes pending counters first, and catches up search and announces afterwards.
import { ApiError } from '../../shared/api.ts';
import type { StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { deleteAttachmentOf } from './attachments.ts';
import { DRAFTS_NS } from './conversations.ts';
import { queueWithdrawals, TOMBSTONES, withdrawalsFor } from './delete-for-everyone.ts';
import { GROUP_INCOMING, GROUP_SENT } from './group-receipts.ts';
import { INCOMING_CONTENT_IDS, MESSAGE_TIMERS, OUTGOING_CONTENT_IDS, PENDING_SENDS, QUOTABLE_CONTENT_IDS, REPLY_TO, STATE_TIMES, TIMER_CHANGES } from './ids.ts';

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
  for (const m of messages) {
    const cid = m.direction === 'out' ? vault.kvGet(OUTGOING_CONTENT_IDS, m.id) : undefined;
    // Accepted by the relay (no pending send) and not yet delivered: a withdraw goes in the sealed
    // outbox in this transaction, so the relay drops the envelope once connected, also after a
    // lock, a crash or a relay outage. One still pending just leaves the outbox (below).
    if (cid) queueWithdrawals(vault, withdrawalsFor(vault, m.conversationId, [m], sendIdOf).filter((w) => vault.kvGet(PENDING_SENDS, w.idem) === undefined), Date.now());
    if (cid) {
      // A queued message is not sent after it was deleted here (unless the relay has it already).
      const idem = sendIdOf(Buffer.from(cid).toString('utf8'));
      vault.outboxDelete(idem);
      vault.kvDelete(PENDING_SENDS, idem);
    }
    deleteAttachmentOf(vault, m.id);
    for (const ns of [OUTGOING_CONTENT_IDS, INCOMING_CONTENT_IDS, QUOTABLE_CONTENT_IDS, STATE_TIMES, REPLY_TO, MESSAGE_TIMERS, TIMER_CHANGES, TOMBSTONES, GROUP_SENT, GROUP_INCOMING]) vault.kvDelete(ns, m.id);
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
