// Large deletions in slices ("what gone means" at scale). Deleting 10% of a
// million-message vault at random touches nearly every segment: done in one transaction it
// blocks the process for many seconds. Here it runs as a series of short transactions (each a
// bounded number of segments, sized to SLICE_MS), yielding to the event loop between them.
//
// Crash safety: before the first slice a sealed *pending-deletion record* (kv namespace
// PENDING_DELETIONS: the conversation and the ids) is committed. A slice removes its messages'
// rows and re-seals their segments in one transaction, so after a crash each message is either
// fully deleted or fully present; Vault.unlock finishes every pending record before it returns,
// so no caller (history, search, export) ever sees a message whose deletion was asked for and
// committed. The record goes, and the WAL is checkpointed and truncated, after the last slice.
//
// The deletion journal (opt-in, `journal`): each slice also writes the ids it removed, sealed, in
// its own transaction, and a whole-conversation deletion ends with a `whole` entry. The caller
// (the messenger, messenger/deletion-journal.ts) forgets its own records of those messages from
// there and drops each entry. Because the vault writes it, a deletion finished by any program
// that unlocks (the app, or a CLI command after a crash) leaves nothing the messenger misses.
import { randomBytes } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { z } from 'zod';
import type { MessageRow } from './messages/statements.ts';
import { encodeJson } from './records.ts';
import type { RemovalStats } from './messages/write.ts';

export const PENDING_DELETIONS = 'vault.pending-deletions';
/** kv: the deletion journal (ids removed by journaled deletions, until their owner forgets them). */
export const DELETION_JOURNAL = 'vault.deletion-journal';
/** Target length of one slice's transaction (the loop-delay bar is 50 ms; commit and fsync come on top). */
export const SLICE_MS = 10;
const LOOKUP_STEP = 500;
const MAX_SEGMENTS_PER_SLICE = 256;

export interface DeletionOptions {
  /** Runs inside each slice's transaction with the ids it removes (the messenger's id-keyed entries go with them). */
  inSlice?: (ids: readonly string[]) => void;
  /** After each slice: messages deleted so far, and how many were asked for. */
  onProgress?: (done: number, total: number) => void;
  /** Target slice length in ms (default SLICE_MS). */
  sliceMs?: number;
  /** Write the deletion journal (above); kept in the pending record, so a resume at unlock writes it too. */
  journal?: boolean;
  /**
   * Runs inside each slice's transaction after its rows are removed, with the content ids their
   * sealed entries held, by message id (the messenger takes its queued sends of them out of the
   * outbox in that commit). Not kept in the pending record: a resume at unlock has the journal.
   */
  removedInSlice?: (contentIds: ReadonlyMap<string, string>) => void;
}

/**
 * One entry of the deletion journal: ids removed from `conversationId`; `whole`: the conversation
 * was emptied; `contentIds`: the content ids their sealed entries held (AppendedMessage.contentId),
 * by message id, since the rows that held them are gone when the journal is worked through.
 */
export interface JournalEntry {
  key: string;
  conversationId: string;
  ids: string[];
  whole: boolean;
  contentIds?: ReadonlyMap<string, string>;
}

export interface DeletionReport {
  /** The ids deleted (unknown ids and other conversations' skipped). */
  deleted: string[];
  slices: number;
  /** Segments sealed again without the deleted messages, and the sealed bytes written for them. */
  resealed: number;
  bytesResealed: number;
  /** Segments deleted because nothing was left in them. */
  emptied: number;
  /** The longest slice (its transaction and hook), ms. */
  longestSliceMs: number;
  /** Keys of the journal entries this run wrote (with `journal`): the caller works through these, without listing the journal. */
  journalKeys: string[];
}

/** What deletion.ts needs from the vault (index.ts wires it to the gate). */
export interface DeletionStore {
  putRecord(key: string, value: Uint8Array): void;
  /** A deletion-journal entry (inside a slice's transaction, or before finish). */
  putJournal(key: string, value: Uint8Array): void;
  records(): { key: string; value: Uint8Array }[];
  /** The current rows of those of `ids` that are in the conversation. */
  rowsOf(conversationId: string, ids: readonly string[]): MessageRow[];
  /** Ids of the conversation's messages after `afterOrderKey`, ascending, at most `limit`. */
  idsAfter(conversationId: string, afterOrderKey: number, limit: number): { id: string; orderKey: number }[];
  /** One transaction: `inSlice`, then the rows removed (their segments re-sealed), then `afterRemoval` with what it did. */
  removeSlice(rows: readonly MessageRow[], inSlice: (() => void) | undefined, afterRemoval?: (stats: RemovalStats) => void): RemovalStats;
  /** Drops the record, then checkpoints and truncates the WAL. */
  finish(key: string): void;
}

// `journal`, `whole` and `upTo` are optional: records written before they existed parse as before.
const recordSchema = z.object({
  v: z.literal(1),
  conversationId: z.string().min(1).max(256),
  ids: z.array(z.string().min(1).max(256)),
  journal: z.boolean().optional(),
  whole: z.boolean().optional(),
  /** A whole conversation: every message with an order key up to this one (`ids` then empty). */
  upTo: z.number().finite().optional(),
});
// `cids` (pairs, not an object: a message id is any printable string) is optional: entries written before it parse as before.
const journalSchema = z.object({
  v: z.literal(1),
  conversationId: z.string().min(1).max(256),
  ids: z.array(z.string().min(1).max(256)),
  whole: z.boolean(),
  cids: z.array(z.tuple([z.string().min(1).max(256), z.string().min(1).max(256)])).optional(),
});

/** A sealed journal entry as read back; undefined when it does not parse (only a bug could write one). */
export function parseJournalEntry(key: string, value: Uint8Array): JournalEntry | undefined {
  try {
    const r = journalSchema.safeParse(JSON.parse(Buffer.from(value).toString('utf8')));
    if (!r.success) return undefined;
    const entry: JournalEntry = { key, conversationId: r.data.conversationId, ids: r.data.ids, whole: r.data.whole };
    if (r.data.cids) entry.contentIds = new Map(r.data.cids);
    return entry;
  } catch {
    return undefined;
  }
}

/** Writes the pending record for `ids`, then deletes them slice by slice. */
export async function deleteInSlices(store: DeletionStore, conversationId: string, ids: readonly string[], options: DeletionOptions = {}, whole = false): Promise<DeletionReport> {
  const unique = [...new Set(ids)];
  const key = randomBytes(16).toString('hex');
  const journal = options.journal === true;
  store.putRecord(key, encodeJson({ v: 1, conversationId, ids: unique, ...(journal ? { journal, whole } : {}) }));
  return runDeletion(store, key, conversationId, unique, options, whole);
}

/** Every message of the conversation at the time of the call, as deleteInSlices. */
export async function deleteConversationInSlices(store: DeletionStore, conversationId: string, options: DeletionOptions = {}): Promise<DeletionReport> {
  const { ids, upTo } = await idsUpTo(store, conversationId, Number.MAX_SAFE_INTEGER);
  // The record names the conversation and its last order key, not every id: written in one
  // statement, it stays small however long the chat (at a million ids, sealing the list alone
  // held the event loop). A resume lists the ids again, up to that key.
  const key = randomBytes(16).toString('hex');
  store.putRecord(key, encodeJson({ v: 1, conversationId, ids: [], upTo, whole: true, ...(options.journal ? { journal: true } : {}) }));
  return runDeletion(store, key, conversationId, ids, options, true);
}

/** The ids of the conversation's messages with an order key up to `upTo`, a page per event-loop turn; `upTo`: the last one's key. */
async function idsUpTo(store: DeletionStore, conversationId: string, upTo: number): Promise<{ ids: string[]; upTo: number }> {
  const ids: string[] = [];
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const page = store.idsAfter(conversationId, after, LOOKUP_STEP);
    for (const r of page) {
      if (r.orderKey > upTo) return { ids, upTo: after };
      ids.push(r.id);
      after = r.orderKey;
    }
    if (page.length < LOOKUP_STEP) return { ids, upTo: after };
    await yieldToEventLoop();
  }
}

/** Finishes every deletion a crash or a lock interrupted (Vault.unlock runs it before returning). */
export async function finishPendingDeletions(store: DeletionStore, options: DeletionOptions = {}): Promise<DeletionReport[]> {
  const out: DeletionReport[] = [];
  for (const { key, value } of store.records()) {
    let parsed: z.infer<typeof recordSchema> | undefined;
    try {
      const r = recordSchema.safeParse(JSON.parse(Buffer.from(value).toString('utf8')));
      parsed = r.success ? r.data : undefined;
    } catch {
      parsed = undefined;
    }
    // A record sealed by this vault that does not parse can only come from a bug: nothing to resume.
    if (!parsed) {
      store.finish(key);
      continue;
    }
    // A whole conversation's record names its last order key instead of the ids (messages that came after stay).
    const ids = parsed.upTo === undefined ? parsed.ids : (await idsUpTo(store, parsed.conversationId, parsed.upTo)).ids;
    out.push(await runDeletion(store, key, parsed.conversationId, ids, { ...options, journal: options.journal === true || parsed.journal === true }, parsed.whole === true));
  }
  return out;
}

async function runDeletion(store: DeletionStore, key: string, conversationId: string, ids: readonly string[], options: DeletionOptions, whole: boolean): Promise<DeletionReport> {
  const target = Math.max(1, options.sliceMs ?? SLICE_MS);
  // Group by segment first, so each segment is re-sealed once however its messages are spread.
  const bySegment = new Map<number, string[]>();
  for (let i = 0; i < ids.length; i += LOOKUP_STEP) {
    for (const row of store.rowsOf(conversationId, ids.slice(i, i + LOOKUP_STEP))) {
      const list = bySegment.get(row.segment);
      if (list) list.push(row.id);
      else bySegment.set(row.segment, [row.id]);
    }
    if (i + LOOKUP_STEP < ids.length) await yieldToEventLoop();
  }
  const segments = [...bySegment.keys()].sort((a, b) => a - b);
  const total = segments.reduce((n, s) => n + (bySegment.get(s) as string[]).length, 0);
  const report: DeletionReport = { deleted: [], slices: 0, resealed: 0, bytesResealed: 0, emptied: 0, longestSliceMs: 0, journalKeys: [] };
  let perSlice = 2;
  for (let i = 0; i < segments.length; ) {
    const chunk = segments.slice(i, i + perSlice);
    i += chunk.length;
    const sliceIds = chunk.flatMap((s) => bySegment.get(s) as string[]);
    const t0 = performance.now();
    // Read again inside the slice: another deletion may have taken some of them meanwhile.
    const rows = store.rowsOf(conversationId, sliceIds);
    const deleted = rows.map((r) => r.id);
    let entry: string | undefined;
    const inSlice = (): void => options.inSlice?.(deleted);
    // In the slice's transaction, after the removal (which reports the content ids the entries held).
    const journal = (removed: RemovalStats): void => {
      // A fresh key each time: a resume counts its slices from 0 again and must not overwrite an entry.
      entry = `${key}-${report.slices}-${randomBytes(4).toString('hex')}`;
      const cids = removed.contentIds.size > 0 ? { cids: [...removed.contentIds] } : {};
      store.putJournal(entry, encodeJson({ v: 1, conversationId, ids: deleted, whole: false, ...cids }));
    };
    const any = deleted.length > 0;
    const afterRemoval = (removed: RemovalStats): void => {
      if (options.journal) journal(removed);
      options.removedInSlice?.(removed.contentIds);
    };
    const stats = store.removeSlice(rows, any ? inSlice : undefined, any && (options.journal || options.removedInSlice) ? afterRemoval : undefined);
    if (entry !== undefined) report.journalKeys.push(entry);
    const ms = performance.now() - t0;
    report.slices++;
    report.resealed += stats.resealed;
    report.bytesResealed += stats.bytes;
    report.emptied += stats.emptied;
    report.longestSliceMs = Math.max(report.longestSliceMs, ms);
    for (const id of deleted) report.deleted.push(id);
    options.onProgress?.(report.deleted.length, total);
    // Size the next slice to the target (at most doubling, so one fast slice cannot overshoot).
    perSlice = Math.max(1, Math.min(MAX_SEGMENTS_PER_SLICE, perSlice * 2, Math.round((perSlice * target) / Math.max(ms, 0.1))));
    if (i < segments.length) await yieldToEventLoop();
  }
  // Before the record goes: a crash in between only writes this entry again.
  if (options.journal && whole) {
    store.putJournal(`${key}-whole`, encodeJson({ v: 1, conversationId, ids: [], whole: true }));
    report.journalKeys.push(`${key}-whole`);
  }
  store.finish(key);
  return report;
}
