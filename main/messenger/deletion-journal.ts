// The messenger's side of the vault's deletion journal (vault/deletion.ts): a sliced
// deletion of a whole conversation leaves, per slice, the ids it removed; here everything the
// messenger keeps about those messages goes (content ids, receipts' state times, timers, quote
// links, tombstone marks, attachment chunks, a queued send's outbox entry), a withdraw is queued
// for our sends the relay may still hold (withdraw-queue.ts), and with the last entry of a
// conversation its draft.
// By ids, and the content ids the removed entries held (our text's: a queued send's outbox entry
// is found by it; told from a received text's by outgoingMessageId(idKey, cid) === id), so it
// also works after the rows are gone: after a crash the vault finishes the
// deletion at unlock (whoever unlocks), and the messenger finishes this at its next unlock,
// before the first page (lifecycle.ts). In short transactions with a yield between them.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { DELETION_JOURNAL, parseJournalEntry } from '../vault/deletion.ts';
import type { Vault } from '../vault/index.ts';
import { deleteAttachmentOf } from './attachment-store.ts';
import { DRAFTS_NS } from './conversations.ts';
import { TOMBSTONES } from './delete-for-everyone.ts';
import { GROUP_INCOMING, GROUP_SENT, KEPT_GROUP_RECEIPTS } from './group-receipts.ts';
import { forgetKeptReceiptId } from './receipt-batch.ts';
import { KEPT_RECEIPTS } from './receipts.ts';
import { withdrawReceiptsOf } from './receipt-withdraw.ts';
import { queueWithdrawals, withdrawId } from './withdraw-queue.ts';
import {
  contactIdOfConversation,
  ID_KEY_SECRET,
  INCOMING_CONTENT_IDS,
  MESSAGE_TIMERS,
  OUTGOING_CONTENT_IDS,
  outgoingMessageId,
  PENDING_SENDS,
  QUOTABLE_CONTENT_IDS,
  REPLY_TO,
  STATE_TIMES,
  textIdempotencyKey,
  TIMER_CHANGES,
  withIdKey,
} from './ids.ts';

/** Target length of one step's transaction (the loop-delay bar is 50 ms). */
const STEP_MS = 10;
const MAX_STEP = 4096;

/** The contact handle a direct conversation's sends went to (undefined for a group: no withdraw). */
export function recipientOf(vault: Vault, conversationId: string): string | undefined {
  const contactId = contactIdOfConversation(conversationId);
  return contactId === undefined ? undefined : vault.getContact(contactId)?.handle;
}

/**
 * Our send of message `id`, if it was one, is withdrawn once where the relay may hold it
 * (withdraw-queue.ts): one still in flight (its pending record) leaves the outbox, so a restart
 * does not send it; it, and one the relay accepted and has not delivered, get a durable withdraw
 * in the sealed outbox (sent by the relay client after any send still in flight, also after a restart).
 * `undelivered` answers from the message's row when it still exists; without it, a send with no
 * delivery or read time recorded counts as undelivered (a withdraw too many is harmless: the
 * relay answers the same). `to` undefined (a group): nothing to withdraw this way.
 */
export function forgetSend(
  vault: Vault, sendIdOf: (contentId: string) => string, to: string | undefined, id: string, undelivered?: () => boolean | undefined, ownContentId?: string,
): void {
  // `ownContentId`: the one our text's sealed entry held (storeQueued), given by a caller that
  // knows the message is ours. An attachment or an older build's text has a kv entry instead.
  const raw = ownContentId === undefined ? vault.kvGet(OUTGOING_CONTENT_IDS, id) : undefined;
  if (raw) vault.kvDelete(OUTGOING_CONTENT_IDS, id);
  const cid = raw ? Buffer.from(raw).toString('utf8') : ownContentId;
  if (cid === undefined) return;
  const idem = sendIdOf(cid);
  if (vault.kvGet(PENDING_SENDS, idem) !== undefined) {
    vault.outboxDelete(idem);
    vault.kvDelete(PENDING_SENDS, idem);
    // Durable, as below: the client sends it after the send (adopt), and a lock or crash before
    // that send's answer no longer loses it (a withdraw of an envelope never stored is harmless).
    if (to !== undefined) queueWithdrawals(vault, [{ to, idem }], Date.now());
    return;
  }
  if (!(undelivered?.() ?? vault.kvGet(STATE_TIMES, id) === undefined) || to === undefined) return;
  // Settled already (a sliced deletion's own transaction, before the journal's step): not again.
  if (vault.outboxHas(withdrawId(idem))) return;
  queueWithdrawals(vault, [{ to, idem }], Date.now());
}

/**
 * Every other id-keyed record of a deleted message, and its attachment's sealed chunks.
 * `contentIdOfRow`: the content id its sealed entry held (the journal's, once the row is gone).
 */
export function forgetRecords(vault: Vault, id: string, contentIdOfRow?: string): void {
  deleteAttachmentOf(vault, id);
  // Our receipts the relay may still hold for it are withdrawn (durably, in the outbox).
  withdrawReceiptsOf(vault, id);
  // Receipts kept for it at a lock or in offline mode are not sent, and no kept list names it.
  // Its content id: a 1:1 text's record, else the quotable one (a group text's receipt record is
  // gone once it was read, which is when a read receipt is kept), else the one its sealed entry
  // held (a text received since inbound.ts keeps it there: the journal's, or the row's if still there).
  const raw = vault.kvGet(INCOMING_CONTENT_IDS, id) ?? vault.kvGet(QUOTABLE_CONTENT_IDS, id);
  const contentId = raw ? Buffer.from(raw).toString('utf8') : (contentIdOfRow ?? vault.getMessage(id)?.contentId);
  if (contentId !== undefined) {
    forgetKeptReceiptId(vault, KEPT_RECEIPTS, contentId);
    forgetKeptReceiptId(vault, KEPT_GROUP_RECEIPTS, contentId);
  }
  // The same namespaces as deletion.ts forgetMessages (OUTGOING_CONTENT_IDS goes in forgetSend).
  for (const ns of [INCOMING_CONTENT_IDS, QUOTABLE_CONTENT_IDS, STATE_TIMES, REPLY_TO, MESSAGE_TIMERS, TIMER_CHANGES, TOMBSTONES, GROUP_SENT, GROUP_INCOMING]) vault.kvDelete(ns, id);
}

/**
 * Works through the journal entries `keys` (those a deletion just wrote; default: the whole
 * journal, at unlock), entry by entry, step by step; each entry is dropped in the transaction of
 * its last step (a crash before only repeats steps, which find nothing). Listing the whole journal
 * opens every entry in one call, which held the event loop for tens of ms at 100,000 messages.
 * Returns how many message ids were gone through.
 */
export async function forgetJournaled(
  vault: Vault,
  sendIdOf: (contentId: string) => string,
  stepMs: number = STEP_MS,
  keys?: readonly string[],
  ownIdOf: (contentId: string) => string = (contentId) => withIdKey(vault, (k) => outgoingMessageId(k, contentId)),
): Promise<number> {
  let done = 0;
  for (const key of keys ?? vault.kvKeys(DELETION_JOURNAL)) {
    const raw = vault.kvGet(DELETION_JOURNAL, key);
    const entry = raw ? parseJournalEntry(key, raw) : undefined;
    if (!entry) {
      // Gone already (another run took it), or sealed by this vault yet unreadable (only a bug
      // writes one): it names nothing to forget.
      if (raw) vault.kvDelete(DELETION_JOURNAL, key);
      continue;
    }
    const to = recipientOf(vault, entry.conversationId);
    let per = 16;
    let i = 0;
    do {
      const chunk = entry.ids.slice(i, i + per);
      i += chunk.length;
      const last = i >= entry.ids.length;
      const t0 = performance.now();
      // No fsync wait per step (it held the loop for tens of ms on a busy disk): a power loss can
      // only undo whole steps, the entry's removal with them, and the next unlock redoes them.
      vault.relaxedTransaction(() => {
        for (const id of chunk) {
          const cid = entry.contentIds?.get(id);
          // Received texts keep a content id in their entry too: ours is the one our id derives from.
          forgetSend(vault, sendIdOf, to, id, undefined, cid !== undefined && ownIdOf(cid) === id ? cid : undefined);
          forgetRecords(vault, id, cid);
        }
        if (last) {
          if (entry.whole) {
            vault.kvDelete(DRAFTS_NS, entry.conversationId);
            const conv = vault.getConversation(entry.conversationId);
            if (conv && conv.unread !== 0) vault.upsertConversation({ ...conv, unread: 0 });
          }
          vault.kvDelete(DELETION_JOURNAL, key);
        }
      });
      done += chunk.length;
      per = Math.max(1, Math.min(MAX_STEP, per * 2, Math.round((per * stepMs) / Math.max(0.1, performance.now() - t0))));
      await yieldToEventLoop();
    } while (i < entry.ids.length);
  }
  return done;
}

/** Entries of the journal not yet worked through (tests, and a status for the curious). */
export function journalEntries(vault: Vault): number {
  return vault.kvKeys(DELETION_JOURNAL).length;
}

/** At unlock, before anything is shown (lifecycle.ts): the journal a crash left, with the account's id key if any. */
export async function forgetJournaledAtUnlock(vault: Vault): Promise<void> {
  if (journalEntries(vault) === 0) return;
  const idKey = vault.getAccountSecret(ID_KEY_SECRET);
  try {
    // Without an id key nothing was ever sent, so no outbox entry can name these messages.
    await forgetJournaled(
      vault,
      (contentId) => (idKey ? textIdempotencyKey(idKey, contentId) : ''),
      undefined,
      undefined,
      (contentId) => (idKey ? outgoingMessageId(idKey, contentId) : ''),
    );
  } finally {
    idKey?.fill(0);
  }
}
