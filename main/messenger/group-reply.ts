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
 * At most this many former authors (handles the chain names that are not members now) are tried
 * for a received reply's quote. Each try costs an HMAC and a vault read on the main thread inside
 * the receive step, and a chain can name thousands of handles (an add or remove only names one).
 * 256 = MAX_GROUP_MEMBERS, a whole group's worth of leavers, newest first; a quote of a text by an
 * older leaver links nothing (the reply shows without its quote, as for a text never received).
 */
export const MAX_FORMER_QUOTE_AUTHORS = 256;

/** The handles one change names: its author (a member who left is the author of its leave), and whom it adds, removes or creates with. */
function* namedBy(c: SignedChange): Generator<string, void, undefined> {
  yield c.body.author;
  const op = c.body.op;
  if (op.type === 'create') yield* op.members;
  else if (op.type === 'add' || op.type === 'remove') yield op.handle;
}

/**
 * Whoever may have written a text of the group that this member holds, in the order a quote is
 * looked up: the members now, then the former ones the chain names (newest change first, at most
 * MAX_FORMER_QUOTE_AUTHORS), so a reply quoting a member who has since left still finds that text.
 * Lazy: a lookup that stops at its first hit walks the chain no further.
 */
export function* quotableAuthors(chain: readonly SignedChange[], members: readonly string[]): Generator<string, void, undefined> {
  const seen = new Set(members);
  yield* seen;
  let former = 0;
  for (let i = chain.length - 1; i >= 0; i--) {
    for (const h of namedBy(chain[i] as SignedChange)) {
      if (seen.has(h)) continue;
      seen.add(h);
      yield h;
      if (++former >= MAX_FORMER_QUOTE_AUTHORS) return;
    }
  }
}

/** Reads a stored message by id: the vault's getMessage (a seam, so tests can count the lookups). */
export type MessageLookup = (id: string) => StoredMessage | undefined;

/**
 * A received reply: the quoted content id is looked up as ours, then as each of `authors`' texts
 * in this group (quotableAuthors: members now, then former ones), stopping at the first text held;
 * unknown (never got it, deleted, from before we joined) links nothing, no error.
 */
export function linkIncomingReply(
  d: Pick<GroupDeps, 'withIdKey' | 'self'>, vault: Vault, groupId: string, authors: Iterable<string>, id: string, contentId: string,
  lookup: MessageLookup = (qid) => vault.getMessage(qid),
): void {
  const conv = groupConversationId(groupId);
  const self = d.self();
  const quoted = d.withIdKey((k): StoredMessage | undefined => {
    const text = (qid: string): StoredMessage | undefined => {
      const m = lookup(qid);
      return m?.conversationId === conv && !m.sender.startsWith(LINE_PREFIX) ? m : undefined;
    };
    const own = text(outgoingMessageId(k, contentId));
    if (own) return own;
    for (const h of authors) {
      if (h === self) continue;
      const m = text(incomingMessageId(k, `${conv}:${h}`, contentId));
      if (m) return m;
    }
    return undefined;
  });
  if (quoted) linkReply(vault, id, quoted.id);
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
