// Read marking: which incoming messages a "read up to here" covers, and the unread count after
// it. Vault reads and writes only; the caller runs it as a vault activity, announces, and sends
// the read receipts.
import { ApiError } from '../../shared/api.ts';
import type { ConversationRecord } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { INCOMING_CONTENT_IDS } from './ids.ts';

/**
 * Marks the conversation's incoming messages up to `upToMessageId` read (`setRead` moves one
 * message's state forward and announces it; false when it was not moved) and stores the unread
 * count of what follows. Returns the conversation and the content ids newly read, oldest first.
 */
export function markReadUpTo(
  vault: Vault,
  conversationId: string,
  upToMessageId: string,
  setRead: (messageId: string) => boolean,
): { conv: ConversationRecord; newlyRead: string[] } {
  const conv = vault.getConversation(conversationId);
  if (!conv) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
  const target = vault.getMessage(upToMessageId);
  if (!target || target.conversationId !== conv.id) throw new ApiError('UNKNOWN_MESSAGE', 'There is no such message in this conversation.');
  // Walk back from the target until an incoming message that is already read: everything
  // before it was marked by an earlier call.
  const newlyRead: string[] = [];
  let before = target.orderKey + 1;
  for (;;) {
    const page = vault.pageMessages(conv.id, { before, limit: 500 });
    let stop = page.length === 0;
    for (let i = page.length - 1; i >= 0; i--) {
      const m = page[i]!;
      if (m.direction !== 'in') continue;
      if (m.state === 'read') {
        stop = true;
        break;
      }
      if (setRead(m.id)) {
        const cid = vault.kvGet(INCOMING_CONTENT_IDS, m.id);
        if (cid) {
          newlyRead.push(Buffer.from(cid).toString('utf8'));
          vault.kvDelete(INCOMING_CONTENT_IDS, m.id); // read is final: no receipt needs it again
        }
      }
    }
    if (stop) break;
    before = page[0]!.orderKey;
  }
  let unread = 0;
  let after = target.orderKey;
  for (;;) {
    const page = vault.pageMessages(conv.id, { after, limit: 500 });
    if (page.length === 0) break;
    unread += page.filter((m) => m.direction === 'in' && m.state === 'received').length;
    after = page.at(-1)!.orderKey;
  }
  vault.upsertConversation({ ...conv, unread });
  return { conv, newlyRead: newlyRead.reverse() };
}
