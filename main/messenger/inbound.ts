/**
 * Storing what arrives: runs inside e2e.receiveContent, so it only writes to the vault (it must
 * not call back into e2e); receiving.ts announces the effect afterwards.
 */
import type { Message } from '../../shared/api.ts';
import type { MessageContent } from '../e2e/index.ts';
import type { ContactRecord, MessageState, StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { applyInboundDelete, arrivedAfterDelete, forgetQuoteLinks } from './delete-for-everyone.ts';
import { storeInboundAttachment } from './attachments.ts';
import { recordMessageTimer, storeInboundTimerChange } from './disappearing.ts';
import { storeGroupReceipt } from './group-receipts.ts';
import { conversationIdOf, INCOMING_CONTENT_IDS, incomingMessageId, incomingPlace, outgoingMessageId, REPLY_TO } from './ids.ts';
import { storedView } from './stored-view.ts';

export type InboundEffect =
  /**
   * `view`: the new message's view, built from what was stored (else the caller reads it back);
   * `attachment`: it carries a file (only then is there anything to fetch).
   */
  | { kind: 'text'; message: StoredMessage; contact: ContactRecord; contentId: string; isNew: boolean; view?: Message; attachment?: true }
  | { kind: 'receipt'; changed: StoredMessage[] }
  /** Messages of `conversationId` that a delete for everyone turned into tombstones. */
  | { kind: 'deletedForEveryone'; conversationId: string; changed: StoredMessage[] }
  /** A member's receipts for own group texts were stored (messenger/group-receipts.ts). */
  | { kind: 'groupReceipt'; groupId: string }
  | { kind: 'none' };

/** The facade's parts the store step uses (contact creation, the id key, counters, state changes). */
export interface InboundSteps {
  /** The contact with this handle, created when there is none. */
  contactFor(handle: string): ContactRecord;
  withIdKey<T>(fn: (idKey: Uint8Array) => T): T;
  touchConversation(conversationId: string, at: number, unreadDelta: number): void;
  /** `known`: the message as read in the same synchronous step (saves the setter a second read). */
  setState(messageId: string, state: MessageState, known?: StoredMessage): StoredMessage | undefined;
}

export function storeInbound(vault: Vault, from: string, content: MessageContent, steps: InboundSteps): InboundEffect {
  if (content.kind === 'delete') {
    const contact = vault.findContactByHandle(from);
    if (!contact) return { kind: 'none' };
    const changed = applyInboundDelete(vault, contact, content, (cid) => steps.withIdKey((k) => incomingMessageId(k, contact.id, cid)));
    return { kind: 'deletedForEveryone', conversationId: conversationIdOf(contact.id), changed };
  }
  if (content.kind === 'attachment') {
    const stored = storeInboundAttachment(vault, from, content, {
      ...steps,
      arrivedAfterDelete: (id, sentAt) => arrivedAfterDelete(vault, id, sentAt),
      recordTimer: (id, conversationId, seconds) => recordMessageTimer(vault, id, conversationId, seconds, null),
    });
    return { ...stored, attachment: true };
  }
  if (content.kind === 'timer') {
    // A timer change shows as a system line and is acknowledged (delivered) like a text.
    const contact = steps.contactFor(from);
    const stored = storeInboundTimerChange(vault, contact, content, steps.withIdKey((k) => incomingMessageId(k, contact.id, content.id)), Date.now());
    if (!stored) return { kind: 'none' };
    if (stored.isNew) steps.touchConversation(stored.message.conversationId, stored.message.receivedAt, 0);
    return { kind: 'text', message: stored.message, contact, contentId: content.id, isNew: stored.isNew };
  }
  if (content.kind === 'text') {
    const contact = steps.contactFor(from);
    const { id, conversationId, existing } = incomingPlace(vault, steps, contact, content.id);
    if (existing) return { kind: 'text', message: existing, contact, contentId: content.id, isNew: false };
    const now = Date.now();
    // Deleted for everyone before it arrived: stored as a tombstone, its text never written.
    const gone = arrivedAfterDelete(vault, id, content.sentAt);
    const [message] = vault.appendMessages([
      // Its content id (a reply or read receipt names it) rides in the sealed entry: no kv entry of its own.
      { id, conversationId, direction: 'in', sender: contact.id, sentAt: content.sentAt, receivedAt: now, text: gone ? '' : content.text, state: 'received', ...(gone ? {} : { contentId: content.id }) },
    ]);
    if (!message) throw new Error('the vault did not store the message');
    // No sealed content-id entry for a text: the read receipt and a reply take the content id from
    // its entry (StoredMessage.contentId). A tombstone has none (nothing can quote it), so one that
    // arrives as such keeps the receipt's own entry, as before.
    if (gone) vault.kvSet(INCOMING_CONTENT_IDS, id, Buffer.from(content.id, 'utf8'));
    // Its countdown starts when first shown (messenger/disappearing.ts).
    if (content.timer !== undefined) recordMessageTimer(vault, id, conversationId, content.timer, null);
    let quoted: StoredMessage | undefined;
    if (content.replyTo !== undefined) {
      // The quoted message is ours or theirs; either way it must be in this conversation.
      const cid = content.replyTo;
      for (const qid of steps.withIdKey((k) => [outgoingMessageId(k, cid), incomingMessageId(k, contact.id, cid)])) {
        const m = vault.getMessage(qid);
        if (m?.conversationId === conversationId) {
          quoted = m;
          break;
        }
      }
      if (quoted) vault.kvSet(REPLY_TO, id, Buffer.from(quoted.id, 'utf8'));
    }
    if (gone) forgetQuoteLinks(vault, id); // (its reply link; no quotable entry was written)
    steps.touchConversation(conversationId, now, 1);
    // A tombstone's view stays the one read back (viewWithQuote).
    const view = gone ? undefined : storedView(message, { ...(content.timer !== undefined ? { timer: { seconds: content.timer, expiresAt: null } } : {}), ...(quoted ? { quoted } : {}) });
    return { kind: 'text', message, contact, contentId: content.id, isNew: true, ...(view ? { view } : {}) };
  }
  if (content.kind === 'group-receipt') {
    const groupId = storeGroupReceipt(vault, from, content, (fn) => steps.withIdKey(fn));
    return groupId ? { kind: 'groupReceipt', groupId } : { kind: 'none' };
  }
  // Group kinds are stored by main/messenger/groups.ts before this is called.
  if (content.kind !== 'receipt') return { kind: 'none' };
  const contact = vault.findContactByHandle(from);
  if (!contact) return { kind: 'none' };
  const conversationId = conversationIdOf(contact.id);
  const changed: StoredMessage[] = [];
  const ids = steps.withIdKey((k) => content.ids.map((cid) => outgoingMessageId(k, cid)));
  for (const id of ids) {
    const m = vault.getMessage(id);
    // Receipts apply only to our own messages in that contact's conversation.
    if (!m || m.direction !== 'out' || m.conversationId !== conversationId) continue;
    const updated = steps.setState(m.id, content.type, m);
    if (updated) changed.push(updated);
  }
  return { kind: 'receipt', changed };
}
