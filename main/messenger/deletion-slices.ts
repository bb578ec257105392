// "Delete for me" of a whole conversation at any size without blocking the event loop: the
// vault deletes in slices (main/vault/deletion.ts) with its deletion journal on. Each
// slice's transaction also settles our sends among its messages (a queued one leaves the outbox,
// so it is never sent after its deletion; one the relay holds gets a withdraw): one with a
// content-id kv entry (an attachment, an older build's text) before the removal, reading a
// message only when it is one of ours; a text, whose content id is in its sealed entry, after
// the removal, from the content ids the removal read (no extra read; ours where the id derives
// from it). The rest of what the messenger keeps about them goes afterwards from the journal,
// in its own short steps (deletion-journal.ts), also after a crash.
import { ApiError } from '../../shared/api.ts';
import type { StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { DRAFTS_NS } from './conversations.ts';
import { forgetJournaled, forgetSend, recipientOf } from './deletion-journal.ts';
import { outgoingMessageId, withIdKey } from './ids.ts';

export interface ConversationDeletion {
  /** The ids deleted. Withdraws of our sends the relay may still hold are queued (withdraw-queue.ts). */
  deleted: string[];
}

export interface ConversationDeletionOptions {
  /** After each slice: messages deleted so far, and how many there are. */
  onProgress?: (done: number, total: number) => void;
  /** When the vault's part is done and the journal's begins (bench/deletion names its steps so). */
  onJournal?: () => void;
  /** Target slice length, ms (vault/deletion.ts SLICE_MS by default). */
  sliceMs?: number;
}

/**
 * Every message of the conversation, slice by slice, then its draft and unread count, then the
 * journal. A crash between slices: the next unlock finishes the vault's part (journaled too) and
 * then the messenger's (lifecycle.ts).
 */
export async function deleteConversationInSlices(
  vault: Vault,
  sendIdOf: (contentId: string) => string,
  conversationId: string,
  options: ConversationDeletionOptions = {},
): Promise<ConversationDeletion> {
  const { onProgress, sliceMs } = options;
  if (!vault.getConversation(conversationId)) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
  const to = recipientOf(vault, conversationId);
  const undelivered = (id: string) => (): boolean | undefined => {
    const m = vault.getMessage(id);
    return m ? m.direction === 'out' && (m.state === 'queued' || m.state === 'sent') : undefined;
  };
  const report = await vault.deleteConversationInSlices(conversationId, {
    journal: true,
    inSlice: (ids) => {
      for (const id of ids) forgetSend(vault, sendIdOf, to, id, undelivered(id));
    },
    removedInSlice: (contentIds) => {
      for (const [id, cid] of contentIds) {
        // Received texts keep theirs there too: ours is the one our id derives from.
        if (withIdKey(vault, (k) => outgoingMessageId(k, cid)) === id) forgetSend(vault, sendIdOf, to, id, undefined, cid);
      }
    },
    ...(onProgress ? { onProgress } : {}),
    ...(sliceMs !== undefined ? { sliceMs } : {}),
  });
  vault.transaction(() => {
    vault.kvDelete(DRAFTS_NS, conversationId);
    const conv = vault.getConversation(conversationId);
    if (conv && conv.unread !== 0) vault.upsertConversation({ ...conv, unread: 0 });
  });
  options.onJournal?.();
  await forgetJournaled(vault, sendIdOf, undefined, report.journalKeys);
  return { deleted: report.deleted };
}

/**
 * "Delete for me" of some messages of one conversation, in slices (a burst of expiries: the
 * unlock purge, or many expiring at once while running), with the same end state as
 * deletion.ts deleteFromVault: our sends settled in each slice's transaction, the other records
 * from the journal afterwards (a crash resumes both at unlock), the unread count lowered.
 */
export async function deleteMessagesInSlicesForMe(
  vault: Vault,
  sendIdOf: (contentId: string) => string,
  conversationId: string,
  messages: readonly StoredMessage[],
): Promise<ConversationDeletion> {
  const byId = new Map(messages.map((m) => [m.id, m]));
  const to = recipientOf(vault, conversationId);
  const report = await vault.deleteMessagesInSlices(conversationId, [...byId.keys()], {
    journal: true,
    inSlice: (ids) => {
      for (const id of ids) {
        const m = byId.get(id);
        // Our text's content id is in the message as given (its sealed entry's).
        const own = m?.direction === 'out' ? m.contentId : undefined;
        forgetSend(vault, sendIdOf, to, id, () => m !== undefined && m.direction === 'out' && (m.state === 'queued' || m.state === 'sent'), own);
      }
    },
  });
  const gone = new Set(report.deleted);
  const unreadGone = messages.filter((m) => gone.has(m.id) && m.direction === 'in' && m.state === 'received').length;
  const conv = vault.getConversation(conversationId);
  if (conv && unreadGone > 0) vault.upsertConversation({ ...conv, unread: Math.max(0, conv.unread - unreadGone) });
  await forgetJournaled(vault, sendIdOf, undefined, report.journalKeys);
  return { deleted: report.deleted };
}
