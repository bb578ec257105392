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
/**
 * Of one append of more messages than this (a backup import's write step of 1,000), only its last
 * this many: the receive and send paths append one at a time, and nothing reads an import's step
 * back before the next step's messages would push it out. Each remembered one is a copy and a
 * Map insert with an eviction: all of an import's messages were ~2 µs each of its main thread.
 */
const BULK_KEPT = 64;
/**
 * And at most this many characters of text in all (about 8 MB as UTF-16): a sender chooses how
 * long its texts are (up to 32K characters each), so the count alone would not bound the memory.
 */
export const MAX_RECENT_CHARS = 4 * 1024 * 1024;

interface Recent {
  message: Readonly<StoredMessage>;
  segment: number;
  slot: number;
}

interface RecentSet {
  entries: Map<string, Recent>;
  /** Characters of text the entries hold. */
  chars: number;
}

const byKey = new WeakMap<Buffer, RecentSet>();

function recentOf(messagesKey: Buffer): RecentSet {
  let m = byKey.get(messagesKey);
  if (!m) byKey.set(messagesKey, (m = { entries: new Map(), chars: 0 }));
  return m;
}

function drop(set: RecentSet, id: string): void {
  const r = set.entries.get(id);
  if (!r) return;
  set.entries.delete(id);
  set.chars -= r.message.text.length;
}

/**
 * Remembers the messages one append stored, each at its (segment, slot); the oldest go beyond
 * MAX_RECENT. Of a bulk append (a backup's import) only its last BULK_KEPT.
 */
export function rememberAppended(messagesKey: Buffer, appended: readonly { stored: StoredMessage; segment: number; slot: number }[]): void {
  const set = recentOf(messagesKey);
  for (const { stored, segment, slot } of appended.length > BULK_KEPT ? appended.slice(-BULK_KEPT) : appended) {
    drop(set, stored.id); // re-inserted last (a re-append after a rollback replaces the entry)
    if (stored.text.length > MAX_RECENT_CHARS) continue;
    while (set.entries.size >= MAX_RECENT || set.chars + stored.text.length > MAX_RECENT_CHARS) {
      const oldest = set.entries.keys().next();
      if (oldest.done) break;
      drop(set, oldest.value);
    }
    set.entries.set(stored.id, { message: { ...stored }, segment, slot });
    set.chars += stored.text.length;
  }
}

/**
 * The message of `row` as appended, when this row is still exactly where and what it was
 * appended as; its state is the appended one (the caller opens a state row written since).
 */
export function recentFor(messagesKey: Buffer, row: MessageRow): Readonly<StoredMessage> | undefined {
  const r = byKey.get(messagesKey)?.entries.get(row.id);
  if (!r) return undefined;
  const m = r.message;
  if (r.segment !== row.segment || r.slot !== row.slot || m.seq !== row.seq || m.orderKey !== row.order_key || m.conversationId !== row.conversation_id) return undefined;
  return m;
}

/** Drops deleted or redacted messages, before their transaction (their text must not be answered from memory either). */
export function forgetRecent(messagesKey: Buffer, ids: Iterable<string>): void {
  const set = byKey.get(messagesKey);
  if (!set) return;
  for (const id of ids) drop(set, id);
}

/** Drops every entry of this unlock at once (for the vault's lock, before the keys are zeroed). */
export function forgetAllRecent(messagesKey: Buffer): void {
  byKey.get(messagesKey)?.entries.clear();
  byKey.delete(messagesKey);
}
