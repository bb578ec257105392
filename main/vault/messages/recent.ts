// The messages this unlock appended last, as appended, in memory: a read of one of them (the
// search indexer's change feed, a conversation summary, a receipt's check that a text is still
// stored) takes its fields from here instead of reading, opening and decoding its sealed segment
// again right after it was sealed (in a catch-up, one segment per text: about one AEAD open per
// reader per text). Only a shortcut: the row is still read from the database each time, and an
// entry is used only while the row's id, conversation, ordering key, seq, segment and slot are
// the ones it was appended with, so a rolled-back append (no row), a redaction (new seq) or a
// deletion (no row) can never make it answer wrong. Deleted and redacted ids are dropped from
// it at once. Keyed by the messages subkey, which the vault's lock zeroes and lets go: after a
// lock nothing can reach an entry (the next unlock has new keys) and the collector frees them.
import type { StoredMessage } from '../api.ts';
import type { MessageRow } from './statements.ts';

/** Enough for the search indexer's lag behind a catch-up (slices of ~10 ms) many times over. */
const MAX_RECENT = 2048;

interface Recent {
  message: Readonly<StoredMessage>;
  segment: number;
  slot: number;
}

const byKey = new WeakMap<Buffer, Map<string, Recent>>();

function recentOf(messagesKey: Buffer): Map<string, Recent> {
  let m = byKey.get(messagesKey);
  if (!m) byKey.set(messagesKey, (m = new Map()));
  return m;
}

/**
 * Remembers the messages one append stored, each at its (segment, slot); the oldest go beyond
 * MAX_RECENT. Of a bulk append (a backup's import) only the last MAX_RECENT: the rest would be
 * pushed out by them at once.
 */
export function rememberAppended(messagesKey: Buffer, appended: readonly { stored: StoredMessage; segment: number; slot: number }[]): void {
  const m = recentOf(messagesKey);
  for (const { stored, segment, slot } of appended.length > MAX_RECENT ? appended.slice(-MAX_RECENT) : appended) {
    m.delete(stored.id); // re-inserted last (a re-append after a rollback replaces the entry)
    if (m.size >= MAX_RECENT) {
      const oldest = m.keys().next();
      if (!oldest.done) m.delete(oldest.value);
    }
    m.set(stored.id, { message: { ...stored }, segment, slot });
  }
}

/**
 * The message of `row` as appended, when this row is still exactly where and what it was
 * appended as; its state is the appended one (the caller opens a state row written since).
 */
export function recentFor(messagesKey: Buffer, row: MessageRow): Readonly<StoredMessage> | undefined {
  const r = byKey.get(messagesKey)?.get(row.id);
  if (!r) return undefined;
  const m = r.message;
  if (r.segment !== row.segment || r.slot !== row.slot || m.seq !== row.seq || m.orderKey !== row.order_key || m.conversationId !== row.conversation_id) return undefined;
  return m;
}

/** Drops deleted or redacted messages (their text must not be answered from memory either). */
export function forgetRecent(messagesKey: Buffer, ids: Iterable<string>): void {
  const m = byKey.get(messagesKey);
  if (!m) return;
  for (const id of ids) m.delete(id);
}

/** Drops every entry of this unlock at once (for the vault's lock, before the keys are zeroed). */
export function forgetAllRecent(messagesKey: Buffer): void {
  byKey.get(messagesKey)?.clear();
  byKey.delete(messagesKey);
}
