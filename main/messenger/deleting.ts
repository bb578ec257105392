/**
 * Deleting, with its announcements: delete for me (messenger/deletion.ts; a whole chat in slices,
 * deletion-slices.ts), our undelivered sends withdrawn from the relay, and delete for everyone
 * (delete-for-everyone.ts), sent in order with the other sends. Search and the UI follow at once.
 */
import { ApiError, type Message, type ResultOf } from '../../shared/api.ts';
import type { StoredMessage } from '../vault/api.ts';
import type { ConversationCounters } from './counters.ts';
import { deleteOwnForEveryone, isTombstone, ownContentIdToDelete } from './delete-for-everyone.ts';
import { deleteConversationInSlices, deleteMessagesInSlicesForMe } from './deletion-slices.ts';
import { deleteFromVault, messageToDelete } from './deletion.ts';
import type { Emit } from './events.ts';
import { resendWithdrawnReceipts } from './receipt-resend.ts';
import { contactIdOfConversation, textIdempotencyKey, withIdKey } from './ids.ts';
import type { Sender } from './sending.ts';
import type { SessionAccess } from './session.ts';
import { sendQueuedWithdrawals } from './withdraw-queue.ts';

export interface DeletingDeps {
  access: SessionAccess;
  emit: Emit;
  counters: Pick<ConversationCounters, 'flush' | 'announce'>;
  sender: Pick<Sender, 'enqueue' | 'sessionFor'>;
  /** The message as the UI sees it. */
  viewOf(m: StoredMessage): Message;
}

export class Deleter {
  constructor(private readonly deps: DeletingDeps) {}

  private withIdKey<T>(fn: (idKey: Uint8Array) => T): T {
    return withIdKey(this.deps.access.require().vault, fn);
  }

  /** Delete for me of one message, as one vault activity. */
  message(conversationId: string, messageId: string): Promise<ResultOf<'deleteMessage'>> {
    return this.deps.access.activity(async () => {
      const m = messageToDelete(this.deps.access.require().vault, conversationId, messageId);
      return { deleted: this.forMe(m.conversationId, [m], false) };
    });
  }

  /** In slices (messenger/deletion-slices.ts): a conversation of any size never holds the event loop for long. */
  conversation(conversationId: string): Promise<ResultOf<'deleteConversation'>> {
    return this.deps.access.activity(async () => {
      this.deps.counters.flush();
      const sendIdOf = (contentId: string): string => this.withIdKey((k) => textIdempotencyKey(k, contentId));
      const { deleted } = await deleteConversationInSlices(this.deps.access.require().vault, sendIdOf, conversationId);
      this.afterDeletion(conversationId, deleted, true);
      return { deleted: deleted.length };
    });
  }

  /**
   * Delete for everyone (messenger/delete-for-everyone.ts): refused at once (FORBIDDEN, NOT_AVAILABLE)
   * or sent in order with the other sends; checked again when its turn comes.
   */
  async forEveryone(conversationId: string, messageId: string): Promise<ResultOf<'deleteMessage'>> {
    const { access, sender } = this.deps;
    const { e2e } = access.registration();
    const check = (): { m: StoredMessage; contentId: string } | undefined => {
      const vault = access.require().vault;
      const m = messageToDelete(vault, conversationId, messageId);
      return isTombstone(vault, m.id) ? undefined : { m, contentId: ownContentIdToDelete(vault, m, Date.now()) };
    };
    if (!check()) return { deleted: 0 };
    const contact = access.require().vault.getContact(contactIdOfConversation(conversationId) ?? '');
    if (!contact) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
    return sender.enqueue(async () => {
      const handle = await sender.sessionFor(e2e, contact);
      return access.activity(async () => {
        const target = check();
        if (!target) return { deleted: 0 };
        const session = access.require();
        const conn = session.connection;
        if (!conn) throw new ApiError('NOT_REGISTERED', 'Not connected to a relay.');
        this.deps.counters.flush();
        const steps = { vault: session.vault, e2e, conn, handle, withIdKey: <T>(fn: (k: Uint8Array) => T): T => this.withIdKey(fn) };
        const tomb = await deleteOwnForEveryone(steps, target.m, target.contentId, Date.now());
        this.afterTombstones(conversationId, [tomb]);
        return { deleted: 1 };
      });
    });
  }

  /** Search drops the words, and both the chat and the chat list show the tombstones. */
  afterTombstones(conversationId: string, changed: readonly StoredMessage[]): void {
    // In steps, as after a delete for me: the snapshot's image is made by the index's mirror off
    // this thread (search/mirror.ts); a search meanwhile drains the feed first, so it never shows the words.
    this.deps.access.current()?.search.catchUpInSteps().catch(() => undefined);
    this.deps.emit('deletedForEveryone', { conversationId, messages: changed.map((m) => this.deps.viewOf(m)) });
    this.deps.counters.announce(conversationId);
  }

  /** Deletes (messenger/deletion.ts), then search and the UI follow at once. */
  forMe(conversationId: string, messages: readonly StoredMessage[], all: boolean): number {
    const vault = this.deps.access.require().vault;
    this.deps.counters.flush();
    // Our own messages not yet delivered are withdrawn from the relay too, where it still holds them.
    const sendIdOf = (contentId: string): string => this.withIdKey((k) => textIdempotencyKey(k, contentId));
    const deleted = deleteFromVault(vault, sendIdOf, conversationId, messages, all);
    this.afterDeletion(conversationId, deleted, all);
    return deleted.length;
  }

  /** As forMe in slices (expiry bursts, messenger/expiry.ts): the event loop is never held for the whole batch. */
  async forMeInSlices(conversationId: string, messages: readonly StoredMessage[]): Promise<number> {
    const vault = this.deps.access.require().vault;
    this.deps.counters.flush();
    const sendIdOf = (contentId: string): string => this.withIdKey((k) => textIdempotencyKey(k, contentId));
    const { deleted } = await deleteMessagesInSlicesForMe(vault, sendIdOf, conversationId, messages);
    this.afterDeletion(conversationId, deleted, false);
    return deleted.length;
  }

  /** After a delete for me: withdraw our undelivered sends, catch search up, announce. */
  private afterDeletion(conversationId: string, deleted: readonly string[], all: boolean): void {
    const session = this.deps.access.current();
    // Withdraws the deletion queued in the outbox (our sends', our receipts') go to the relay
    // client now, each once (withdraw-queue.ts), and the rest of each withdrawn receipt is
    // acknowledged again (receipt-withdraw.ts).
    const { access, sender } = this.deps;
    if (session) sendQueuedWithdrawals(session.vault, session.connection);
    void sender.enqueue(() => access.activity(() => resendWithdrawnReceipts(access))).catch(() => undefined);
    // In steps: the purge of the deleted terms and the snapshot take seconds at a large index
    // (bench/deletion). A search meanwhile drains the feed first, so it never shows a deleted message.
    this.deps.access.current()?.search.catchUpInSteps().catch(() => undefined);
    this.deps.emit('messagesDeleted', { conversationId, messageIds: all ? [] : deleted.slice(0, 1000), all });
    this.deps.counters.announce(conversationId);
  }
}
