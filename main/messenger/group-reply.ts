// Replies in group chats. The quoted text's content id travels inside the padded group text
// (main/e2e/content.ts), so the relay sees no difference; each member maps it back to its own
// stored id (ids derive from the author and the content id) and keeps the link sealed under
// REPLY_TO like a 1:1 reply. A reference to a text this member does not hold shows no quote.
import { ApiError, type GroupMessage } from '../../shared/api.ts';
import type { StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { isTombstone } from './delete-for-everyone.ts';
import { OWN_CONTENT_IDS } from './group-delete.ts';
import type { SignedChange } from './group-ops.ts';
import { groupConversationId, LINE_PREFIX, MEMBER_PREFIX, type GroupDeps } from './group-store.ts';
import { incomingMessageId, outgoingMessageId, QUOTABLE_CONTENT_IDS, REPLY_TO } from './ids.ts';

const utf8 = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/**
 * A groupSend's replyTo, checked before anything is stored or sent: a text (not a membership
 * line) of this group, else UNKNOWN_MESSAGE. Returns the content id to put on the wire; undefined
 * when the quoted text has none any more (deleted for everyone): then only this device shows it.
 */
export function replyContentId(vault: Vault, groupId: string, replyTo: string): string | undefined {
  const m = vault.getMessage(replyTo);
  if (!m || m.conversationId !== groupConversationId(groupId) || m.sender.startsWith(LINE_PREFIX)) {
    throw new ApiError('UNKNOWN_MESSAGE', 'The message replied to is not a text of this group.');
  }
  const raw = vault.kvGet(m.direction === 'out' ? OWN_CONTENT_IDS : QUOTABLE_CONTENT_IDS, m.id);
  return raw ? utf8(raw) : undefined;
}

/** The stored reply `id` quotes `quotedId` (inside the caller's transaction). */
export function linkReply(vault: Vault, id: string, quotedId: string): void {
  vault.kvSet(REPLY_TO, id, Buffer.from(quotedId, 'utf8'));
}

/** A received text's content id, so a reply of ours can name it. */
export function keepQuotable(vault: Vault, id: string, contentId: string): void {
  vault.kvSet(QUOTABLE_CONTENT_IDS, id, Buffer.from(contentId, 'utf8'));
}

/**
 * Whoever may have written a text of the group that this member holds: the members now and every
 * handle its chain names (creation's members, added, removed, authors: a member who left is the
 * author of its leave), so a reply quoting a member who has since left still finds that text.
 */
export function quotableAuthors(chain: readonly SignedChange[], members: readonly string[]): string[] {
  const out = new Set(members);
  for (const c of chain) {
    out.add(c.body.author);
    const op = c.body.op;
    if (op.type === 'create') for (const h of op.members) out.add(h);
    else if (op.type === 'add' || op.type === 'remove') out.add(op.handle);
  }
  return [...out];
}

/**
 * A received reply: the quoted content id is looked up as ours or as any of `authors`' texts in
 * this group (quotableAuthors: former members too); unknown (never got it, deleted, from before we
 * joined) links nothing, no error.
 */
export function linkIncomingReply(d: Pick<GroupDeps, 'withIdKey' | 'self'>, vault: Vault, groupId: string, authors: readonly string[], id: string, contentId: string): void {
  const conv = groupConversationId(groupId);
  const self = d.self();
  const candidates = d.withIdKey((k) => [outgoingMessageId(k, contentId), ...authors.filter((h) => h !== self).map((h) => incomingMessageId(k, `${conv}:${h}`, contentId))]);
  for (const qid of candidates) {
    const m = vault.getMessage(qid);
    if (m?.conversationId === conv && !m.sender.startsWith(LINE_PREFIX)) {
      linkReply(vault, id, m.id);
      return;
    }
  }
}

/** The quote shown with `m`: absent when not a reply, null when the quoted text is no longer stored or was deleted for everyone. */
export function groupQuote(vault: Vault, self: string, m: StoredMessage): GroupMessage['replyTo'] {
  const raw = vault.kvGet(REPLY_TO, m.id);
  if (!raw) return undefined;
  const q = vault.getMessage(utf8(raw));
  if (!q || q.conversationId !== m.conversationId || isTombstone(vault, q.id)) return null;
  const sender = q.direction === 'out' ? self : q.sender.slice(MEMBER_PREFIX.length);
  return { id: q.id, direction: q.direction, sender, text: q.text.slice(0, 200) };
}
