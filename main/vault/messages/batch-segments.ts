// Appends inside a receive batch (WriteGate.batched): the texts a catch-up receives one envelope
// at a time each became a one-message segment (a seal and an INSERT per text, ~6.5 % of the
// catch-up's main thread). Here the batch's appends of one conversation share one segment kept in
// memory; its rows are inserted at once (ordering keys, duplicates and the change feed work as
// before), and the segment is sealed and inserted once, by a WriteGate.deferToBatch hook, just
// before the batch's COMMIT: in the same transaction as the rows, so what the mailbox acknowledges
// (after the batch commits) holds the text. Until then a read of such a row takes its entry from
// memory (pendingEntries, from read.ts loadSegment); a delete or redaction of it writes the
// segment first (writePendingSegment) and then re-seals it as any other.
//
// Rollbacks: an append's own savepoint or its batched step undone drops its hook, which blanks
// the entries it added (their rows are gone; slots never move). A nested transaction undone inside
// a step that goes on drops no hook: before a segment is sealed, entries without a row are blanked
// (blankOrphans). A segment written early and then undone with the step that wrote it is written
// again at the flush (undoneEarly).
import type { AppendedMessage, StoredMessage } from '../api.ts';
import { BatchSealer } from '../aead.ts';
import { VaultCorrupt } from '../errors.ts';
import { encodeSegment, segmentEntry, type MessageBody } from '../records.ts';
import { pendingOf, type PendingSegment, type PendingSet } from './pending-segments.ts';
import { decodeRows, segmentAd } from './read.ts';
import { rememberAppended } from './recent.ts';
import type { MessagesWritable } from './statements.ts';

/** What WriteGate.deferToBatch takes: flushed before the batch's COMMIT, or dropped when undone. */
export interface SegmentHook {
  flush(): void;
  drop(): void;
}
/** Vault.deferToBatch: false outside a batched step (then the append seals its segment itself). */
export type DeferToBatch = (hook: SegmentHook) => boolean;

// A segment closes at this many messages or (approximate) plaintext bytes (write.ts too), so
// reading a page or re-sealing after a delete touches a bounded amount of data.
export const SEGMENT_MAX_MESSAGES = 64;
export const SEGMENT_MAX_BYTES = 64 * 1024;

function insertSealed(db: MessagesWritable, key: Buffer, seg: PendingSegment): void {
  const sealer = new BatchSealer(key);
  try {
    db.write.messages.insertSegment.run(seg.id, seg.conversationId, sealer.seal(encodeSegment(seg.entries), segmentAd(seg.id, seg.conversationId)));
  } finally {
    sealer.dispose();
  }
}

/**
 * Before a delete or redaction opens `segment`: a pending one is written now, in the caller's
 * transaction, and takes no more appends (what follows re-seals the row in the database).
 */
export function writePendingSegment(db: MessagesWritable, segment: number): void {
  const key = db.keys.key('messages');
  const set = pendingOf(key);
  const seg = set.byId.get(segment);
  if (!seg || db.read.messages.segmentById.get(segment)) return;
  close(set, seg);
  blankOrphans(db, seg);
  insertSealed(db, key, seg);
  seg.written = true;
  seg.early = true;
}

/**
 * Blanks the entries whose row is gone: a nested transaction inside the batch's step that rolled
 * back and was caught undid its rows without dropping the step's hooks, and no deletion could
 * ever reach an entry without a row. One count over the rows first (the usual case: all there).
 * Returns whether any entry is left.
 */
function blankOrphans(db: MessagesWritable, seg: PendingSegment): boolean {
  let live = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const e of seg.entries) {
    if (!e) continue;
    live++;
    if (e[1] < min) min = e[1];
    if (e[1] > max) max = e[1];
  }
  if (live === 0) return false;
  if (db.read.messages.segmentRowsBetween.get(seg.conversationId, min, max, seg.id)?.n === live) return true;
  let kept = false;
  for (let slot = 0; slot < seg.entries.length; slot++) {
    const e = seg.entries[slot];
    if (!e) continue;
    const row = db.read.messages.messageById.get(e[0]);
    if (row?.segment === seg.id && row.slot === slot) kept = true;
    else seg.entries[slot] = null;
  }
  return kept;
}

/**
 * A segment written early whose write was undone (the step that deleted or redacted in it rolled
 * back): true while rows of it remain. Not when a deletion emptied and removed it (its rows are
 * gone too), nor when it is in the database (re-sealed there: the entries in memory may hold the
 * deleted text, never written again).
 */
function undoneEarly(db: MessagesWritable, seg: PendingSegment): boolean {
  return seg.early && !db.read.messages.segmentById.get(seg.id) && blankOrphans(db, seg);
}

function close(set: PendingSet, seg: PendingSegment): void {
  seg.closed = true;
  if (set.open.get(seg.conversationId) === seg) set.open.delete(seg.conversationId);
}

function release(set: PendingSet, seg: PendingSegment): void {
  if (--seg.refs > 0) return;
  close(set, seg);
  set.byId.delete(seg.id);
}

/**
 * appendMessages inside a batched step: the rows now, the segments at the batch's commit.
 * Undefined (nothing done) when `defer` refuses the hook (not in a batched step).
 */
export function appendDeferred(db: MessagesWritable, batch: readonly AppendedMessage[], defer: DeferToBatch): StoredMessage[] | undefined {
  const key = db.keys.key('messages');
  const added: { seg: PendingSegment; slot: number }[] = [];
  let ended = false;
  const set = pendingOf(key);
  const hook: SegmentHook = {
    flush() {
      if (ended) return;
      ended = true;
      try {
        for (const { seg } of added) {
          // The first flush of a segment writes it whole (later ones of the batch find it written).
          if (!seg.written || undoneEarly(db, seg)) {
            close(set, seg);
            if (blankOrphans(db, seg)) insertSealed(db, key, seg);
            seg.written = true;
            seg.early = false;
          }
        }
      } finally {
        // Also when a write failed (the batch rolls back): nothing of it stays in memory.
        for (const { seg } of added) release(set, seg);
      }
    },
    drop() {
      if (ended) return;
      ended = true;
      // Their rows are gone with the savepoint; the slots stay (later appends took the next ones).
      for (const { seg, slot } of added) {
        seg.entries[slot] = null;
        release(set, seg);
      }
    },
  };
  if (!defer(hook)) return undefined;
  const now = Date.now();
  const q = db.read.messages;
  const w = db.write.messages;
  const counters = w.counters;
  let seq = counters.seq;
  let nextSegment = counters.nextSegment;
  const appended: { stored: StoredMessage; segment: number; slot: number }[] = [];
  const created: PendingSegment[] = [];
  // A segment this call opened and no row joined (a duplicate, a failed insert) is not kept.
  const forgetUnused = (): void => {
    for (const seg of created) if (seg.refs === 0) {
      close(set, seg);
      set.byId.delete(seg.id);
    }
  };
  try {
    const out = db.transaction(() => {
      const nextOrder = new Map<string, number>();
      const result: StoredMessage[] = [];
      for (const m of batch) {
        const conv = m.conversationId;
        let orderKey = nextOrder.get(conv);
        if (orderKey === undefined) orderKey = (q.maxOrder.get(conv, conv)?.k ?? 0) + 1;
        let seg = set.open.get(conv);
        if (!seg || seg.closed) {
          while (set.byId.has(nextSegment)) nextSegment++; // counters read again meanwhile (a rollback)
          seg = { id: nextSegment++, conversationId: conv, entries: [], bytes: 0, refs: 0, closed: false, written: false, early: false };
          created.push(seg);
          set.byId.set(seg.id, seg);
          set.open.set(conv, seg);
        }
        const slot = seg.entries.length;
        const info = w.insertMessage.run(m.id, conv, orderKey, seq + 1, seg.id, slot) as { changes: number };
        if (info.changes === 1) {
          seq += 1;
          nextOrder.set(conv, orderKey + 1);
          const body: MessageBody = { direction: m.direction, sender: m.sender, sentAt: m.sentAt, receivedAt: m.receivedAt ?? now, text: m.text, state: m.state };
          if (m.contentId !== undefined) body.contentId = m.contentId;
          seg.entries.push(segmentEntry(m.id, orderKey, body));
          seg.refs++;
          added.push({ seg, slot });
          seg.bytes += m.text.length + m.sender.length + m.id.length + (m.contentId?.length ?? 0) + 64;
          if (seg.entries.length >= SEGMENT_MAX_MESSAGES || seg.bytes >= SEGMENT_MAX_BYTES) close(set, seg);
          const stored: StoredMessage = { id: m.id, conversationId: conv, ...body, orderKey, seq };
          result.push(stored);
          appended.push({ stored, segment: seg.id, slot });
        } else {
          // Already stored (a duplicate): read back, from memory when its segment is still pending.
          const existing = q.messageById.get(m.id);
          if (!existing) throw new VaultCorrupt(`ordering key ${orderKey} of a conversation is taken twice`);
          result.push(decodeRows(db, [existing])[0] as StoredMessage);
        }
      }
      return result;
    });
    forgetUnused();
    counters.seq = seq;
    counters.nextSegment = nextSegment;
    rememberAppended(key, appended);
    return out;
  } catch (err) {
    // This append's savepoint is undone: its entries go now (the step may go on without it).
    hook.drop();
    forgetUnused();
    counters.nextSegment = Math.max(counters.nextSegment, nextSegment);
    throw err;
  }
}
