// "Delete for everyone": the sender, within 24 h of sending, replaces its own message
// by a tombstone on both sides. A tombstone keeps the message's id, place, author, times and
// state, and nothing of its text: the vault re-seals its segment with the text blanked
// (vault/messages/redact.ts). A delete that arrives before the message it names is remembered
// (sealed), so the message, arriving late, is stored as a tombstone and never shown.
// Vault writes only; the facade (messenger.ts) sends the delete, withdraws the original's
// envelope from the relay, catches up search and announces.
import { ApiError } from '../../shared/api.ts';
import { encodeEnvelope, type DeleteContent, type E2e } from '../e2e/index.ts';
import type { ContactRecord, StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { deleteAttachmentOf, recordOf } from './attachment-store.ts';
import type { RelayConnection } from './connection.ts';
import { conversationIdOf, newContentId, OUTGOING_CONTENT_IDS, PENDING_SENDS, QUOTABLE_CONTENT_IDS, REPLY_TO, textIdempotencyKey } from './ids.ts';
import { ownContentId } from './outgoing.ts';

/** How long after sending a message may be deleted for everyone (sender and recipients apply it). */
export const DELETE_FOR_EVERYONE_WINDOW_MS = 24 * 3600 * 1000;
/** kv: stored message id -> '1': deleted for everyone, shown as "This message was deleted". */
export const TOMBSTONES = 'messenger-deleted-for-everyone';
/**
 * kv: stored id a received message would have -> the naming delete's sentAt (decimal), for a
 * delete that arrived first. Only ids (keyed hashes) and a time; dropped when the message comes.
 */
export const DELETED_BEFORE_ARRIVAL = 'messenger-deleted-before-arrival';
/**
 * At most this many are remembered: honest deletes almost never come first (one queue, in order),
 * so this only bounds what a contact naming ids that never come can make this device keep.
 */
export const MAX_DELETED_BEFORE_ARRIVAL = 1000;

export function isTombstone(vault: Vault, messageId: string): boolean {
  return vault.kvGet(TOMBSTONES, messageId) !== undefined;
}

/**
 * What a recipient allows beyond the 24 h on its own clock: the delete may wait in the relay's
 * queue while the recipient is offline, or be sent late in its window from a skewed clock.
 */
export const DELETE_ARRIVAL_ALLOWANCE_MS = 3600 * 1000;

/** A delete sent `deleteSentAt` may remove a message sent `sentAt` (both on the author's clock). */
export function withinDeleteWindow(sentAt: number, deleteSentAt: number): boolean {
  return deleteSentAt - sentAt <= DELETE_FOR_EVERYONE_WINDOW_MS;
}

/**
 * The recipient's own-clock check: a delete arriving at `now` may remove a message received at
 * `receivedAt` only within the window plus the allowance, whatever the author's clock says.
 */
export function arrivedWithinDeleteWindow(receivedAt: number, now: number): boolean {
  return now - receivedAt <= DELETE_FOR_EVERYONE_WINDOW_MS + DELETE_ARRIVAL_ALLOWANCE_MS;
}

/**
 * The sender's checks: only an own message, only within 24 h of sending it (typed refusals that
 * change nothing). Returns the content id both sides know it by.
 */
export function ownContentIdToDelete(vault: Vault, m: StoredMessage, now: number): string {
  if (m.direction !== 'out' || m.sender !== 'self') throw new ApiError('FORBIDDEN', 'Only your own messages can be deleted for everyone; delete it for you instead.');
  if (now - m.sentAt > DELETE_FOR_EVERYONE_WINDOW_MS) {
    throw new ApiError('NOT_AVAILABLE', 'A message can be deleted for everyone only within 24 hours of sending it; delete it for you instead.');
  }
  const cid = ownContentId(vault, m);
  if (cid === undefined) throw new ApiError('NOT_AVAILABLE', 'This message cannot be deleted for everyone; delete it for you instead.');
  return cid;
}

/**
 * The sender's side, before the delete is sent: a still-queued original leaves the outbox (it is
 * not sent at all), and the message becomes a tombstone. Returns the ids changed.
 */
export function tombstoneOwn(vault: Vault, m: StoredMessage, originalIdem: string): string[] {
  vault.transaction(() => {
    vault.outboxDelete(originalIdem);
    vault.kvDelete(PENDING_SENDS, originalIdem);
    // A queued tombstone is never re-sent at unlock (resumeQueued): marked with its outbox entry's
    // removal, before the re-seal drops the content id from its entry (an older build's text: its kv entry).
    vault.kvSet(TOMBSTONES, m.id, Buffer.from('1'));
    vault.kvDelete(OUTGOING_CONTENT_IDS, m.id);
  });
  return tombstone(vault, m.conversationId, [m.id]);
}

/** What the sender's step needs from the facade (it runs inside one vault activity, on the send queue). */
export interface OwnDeleteSteps {
  vault: Vault;
  e2e: E2e;
  conn: RelayConnection;
  /** The contact's handle, already checked sendable (identity not changed, session present). */
  handle: string;
  withIdKey<T>(fn: (idKey: Uint8Array) => T): T;
}

/**
 * The sender's side: the delete is encrypted first (a failure changes nothing), put in the sealed
 * outbox under a text-shaped idempotency key (a relay restart or a reconnect re-sends it under the
 * same key, and the relay stores it once), then the message becomes a tombstone here and its
 * envelope is withdrawn from the relay if still queued there. Returns the tombstone.
 */
export async function deleteOwnForEveryone(s: OwnDeleteSteps, m: StoredMessage, contentId: string, now: number): Promise<StoredMessage> {
  const deleteId = newContentId();
  const envelope = await s.e2e.sendContent(s.handle, { v: 1, kind: 'delete', id: deleteId, sentAt: now, ids: [contentId] });
  s.conn.mailbox.send(s.handle, encodeEnvelope(envelope), s.withIdKey((k) => textIdempotencyKey(k, deleteId))).catch(() => undefined);
  const originalIdem = s.withIdKey((k) => textIdempotencyKey(k, contentId));
  tombstoneOwn(s.vault, m, originalIdem);
  withdraw(s.conn, s.handle, originalIdem);
  return s.vault.getMessage(m.id) ?? m;
}

/**
 * Asks the relay to drop our envelope stored under `idem` for `to` if it still holds it (best
 * effort: the answer is the same either way, and an envelope already pushed is the recipient's).
 * Sent after any request for it already waiting (one key's requests are handled in order).
 */
export function withdraw(conn: RelayConnection, to: string, idem: string): void {
  void conn.calls.call('withdraw', { to, idem }).catch(() => undefined);
}

/**
 * Marks first (so the view hides the text at once, also if the process dies before the
 * re-seal), then drops what could point into the text (quote links), then blanks the text.
 */
function tombstone(vault: Vault, conversationId: string, ids: readonly string[]): string[] {
  // A file without a caption has blank text: it is still redacted, so search drops its name.
  const withFile = ids.filter((id) => recordOf(vault, id) !== undefined);
  vault.transaction(() => {
    for (const id of ids) {
      vault.kvSet(TOMBSTONES, id, Buffer.from('1'));
      forgetQuoteLinks(vault, id);
      // Its file goes too: sealed chunks and record, and the relay's copy (main/messenger/attachment-store.ts).
      deleteAttachmentOf(vault, id, { forEveryone: true });
    }
  });
  vault.redactMessages(conversationId, ids, withFile);
  return [...ids];
}

/** A tombstone quotes nothing and cannot be quoted: its links go. */
export function forgetQuoteLinks(vault: Vault, id: string): void {
  vault.kvDelete(REPLY_TO, id);
  vault.kvDelete(QUOTABLE_CONTENT_IDS, id);
}

/**
 * A received delete, from `contact`: each named content id maps to the id of *that contact's*
 * message (`incomingIdOf`), so a delete can only ever reach its author's messages, never ours or
 * another contact's. Refused (skipped): a message of another conversation, one sent more than 24 h
 * before the delete (author's clock), one received here more than 24 h plus the allowance before
 * the delete arrives (`now`, our clock: a contact whose clock lies cannot stretch the window).
 * A message not here yet is remembered. Returns the messages now tombstones.
 */
export function applyInboundDelete(
  vault: Vault, contact: ContactRecord, content: DeleteContent, incomingIdOf: (contentId: string) => string, now: number = Date.now(),
): StoredMessage[] {
  const conversationId = conversationIdOf(contact.id);
  const targets: string[] = [];
  let room: number | undefined;
  vault.transaction(() => {
    for (const cid of content.ids) {
      const id = incomingIdOf(cid);
      const m = vault.getMessage(id);
      if (!m) {
        room ??= MAX_DELETED_BEFORE_ARRIVAL - vault.kvKeys(DELETED_BEFORE_ARRIVAL).length;
        if (room > 0 && vault.kvGet(DELETED_BEFORE_ARRIVAL, id) === undefined) {
          vault.kvSet(DELETED_BEFORE_ARRIVAL, id, Buffer.from(String(content.sentAt), 'utf8'));
          room--;
        }
        continue;
      }
      if (m.conversationId !== conversationId || m.direction !== 'in' || isTombstone(vault, id)) continue;
      if (!withinDeleteWindow(m.sentAt, content.sentAt) || !arrivedWithinDeleteWindow(m.receivedAt, now)) continue;
      targets.push(id);
    }
  });
  if (targets.length === 0) return [];
  tombstone(vault, conversationId, targets);
  return targets.map((id) => vault.getMessage(id)).filter((m): m is StoredMessage => m !== undefined);
}

/**
 * A text arriving under `messageId`, sent `sentAt`: true when a delete for it came first (and
 * within its window). The caller then stores it without text; it is marked a tombstone here.
 */
export function arrivedAfterDelete(vault: Vault, messageId: string, sentAt: number): boolean {
  // Asked of every received text and almost never true: one probe of the namespace first saves
  // the per-id key tag (an HMAC) and the lookup (C's catch-up profile, stop 19: 1.5 %).
  if (!vault.kvHasAny(DELETED_BEFORE_ARRIVAL)) return false;
  const raw = vault.kvGet(DELETED_BEFORE_ARRIVAL, messageId);
  if (!raw) return false;
  vault.kvDelete(DELETED_BEFORE_ARRIVAL, messageId);
  const deleteSentAt = Number(Buffer.from(raw).toString('utf8'));
  if (!Number.isSafeInteger(deleteSentAt) || !withinDeleteWindow(sentAt, deleteSentAt)) return false;
  vault.kvSet(TOMBSTONES, messageId, Buffer.from('1'));
  return true;
}
