// The segments of the open receive batch not written yet (batch-segments.ts), by the messages
// subkey as recent.ts: read.ts answers a row of one from here. Apart from batch-segments.ts so
// read.ts needs no import of the writer (no import cycle).
import { VaultCorrupt } from '../errors.ts';
import type { SegmentEntry } from '../records.ts';

export interface PendingSegment {
  id: number;
  conversationId: string;
  entries: SegmentEntry[];
  bytes: number;
  /** Entries whose hook has neither flushed nor dropped: at 0 the segment leaves memory. */
  refs: number;
  /** Takes no more entries (full, written, or its batch is ending). */
  closed: boolean;
  /** Inserted in the batch's transaction (by the flush, or early). */
  written: boolean;
  /** Inserted early (a delete or redaction in the batch), in a step that may be undone: the flush checks the database. */
  early: boolean;
}

export interface PendingSet {
  byId: Map<number, PendingSegment>;
  /** The segment each conversation's next append joins. */
  open: Map<string, PendingSegment>;
}

// By the messages subkey, as recent.ts: a lock zeroes and drops it (the batch commits before).
const byKey = new WeakMap<Buffer, PendingSet>();

export function pendingOf(key: Buffer): PendingSet {
  let set = byKey.get(key);
  if (!set) byKey.set(key, (set = { byId: new Map(), open: new Map() }));
  return set;
}

/** The entries of a segment not written yet (a copy: callers blank slots), or undefined. */
export function pendingEntries(key: Buffer, segment: number, conversationId: string): SegmentEntry[] | undefined {
  const seg = byKey.get(key)?.byId.get(segment);
  if (!seg) return undefined;
  if (seg.conversationId !== conversationId) throw new VaultCorrupt(`message segment ${segment} belongs to another conversation`);
  return seg.entries.slice();
}
