// "Delete for me" of a whole conversation at any size without blocking the event loop (issue
// #14): the vault deletes in slices (main/vault/deletion.ts) and each slice's transaction also
// drops what the messenger keeps about those messages (deletion.ts forgetMessages). Nothing is
// decrypted up front: the ids come from the vault's index, and each slice reads only its own
// messages (for the kv cleanup and the sends to withdraw).
import { ApiError } from '../../shared/api.ts';
import type { StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { DRAFTS_NS } from './conversations.ts';
import { undeliveredSends } from './delete-for-everyone.ts';
import { forgetMessages } from './deletion.ts';

export interface ConversationDeletion {
  /** The ids deleted. */
  deleted: string[];
  /** Idempotency keys of our sends the relay may still hold (the caller withdraws them). */
  unsent: string[];
}

/**
 * Every message of the conversation, slice by slice, then its draft and unread count. A crash
 * between slices: the next unlock finishes the vault's part (the messenger's id-keyed entries
 * of the slices not reached stay, without text). `onProgress(done, total)` after each slice.
 */
export async function deleteConversationInSlices(
  vault: Vault,
  sendIdOf: (contentId: string) => string,
  conversationId: string,
  onProgress?: (done: number, total: number) => void,
): Promise<ConversationDeletion> {
  if (!vault.getConversation(conversationId)) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
  const unsent: string[] = [];
  const report = await vault.deleteConversationInSlices(conversationId, {
    inSlice: (ids) => {
      const messages = ids.map((id) => vault.getMessage(id)).filter((m): m is StoredMessage => m !== undefined);
      for (const idem of undeliveredSends(vault, messages, sendIdOf)) unsent.push(idem);
      forgetMessages(vault, sendIdOf, messages);
    },
    ...(onProgress ? { onProgress } : {}),
  });
  vault.transaction(() => {
    vault.kvDelete(DRAFTS_NS, conversationId);
    const conv = vault.getConversation(conversationId);
    if (conv && conv.unread !== 0) vault.upsertConversation({ ...conv, unread: 0 });
  });
  return { deleted: report.deleted, unsent };
}
