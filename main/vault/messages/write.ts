// Writing messages: appends sealed per segment, state updates, deletes that scrub the text.
// Every function here needs a WritableDB (handles.ts), which only the gate hands out.
import type { MessageState, AppendedMessage, StoredMessage } from '../api.ts';
import { BatchOpener, BatchSealer, seal } from '../aead.ts';
import { VaultCorrupt } from '../errors.ts';
import { writeEpochOf } from '../gate.ts';
import { ad, checkId, checkNewMessage, checkState, encodeSegment, segmentEntry, type MessageBody, type SegmentEntry } from '../records.ts';
import { decodeRows, loadSegment, messageFromEntry, SEGMENT_MAX_MESSAGES, segmentAd } from './read.ts';
import { forgetRecent, rememberAppended } from './recent.ts';
import type { MessageRow, MessagesWritable } from './statements.ts';

// A segment closes at SEGMENT_MAX_MESSAGES (read.ts) messages or this many (approximate) plaintext
// bytes, so reading a page or re-sealing after a delete touches a bounded amount of data.
const SEGMENT_MAX_BYTES = 64 * 1024;

interface PendingSegment {
  id: number;
  conversationId: string;
  entries: SegmentEntry[];
  bytes: number;
}

/**
 * One transaction per batch. Message bodies are sealed per segment (the batch's new messages
 * of one conversation, up to SEGMENT_MAX_*), one AEAD call per segment instead of per row.
 */
export function appendMessages(db: MessagesWritable, batch: readonly AppendedMessage[]): StoredMessage[] {
  if (!Array.isArray(batch)) throw new TypeError('batch must be an array');
  for (const m of batch) checkNewMessage(m);
  if (batch.length === 0) return [];
  const now = Date.now();
  const key = db.keys.key('messages');
  const q = db.read.messages;
  const w = db.write.messages;
  const counters = w.counters;
  let seq = counters.seq;
  let nextSegment = counters.nextSegment;
  const appended: { stored: StoredMessage; segment: number; slot: number }[] = [];
  // Each conversation's next key: from memory while the gate's write epoch holds (order-keys.ts).
  const known = w.orderKeys;
  const epoch = writeEpochOf(db);
  const nextOrder = new Map<string, number>();
  const result = db.transaction(() => {
    const sealer = new BatchSealer(key);
    const openByConversation = new Map<string, PendingSegment>();
    const pendingById = new Map<number, PendingSegment>();
    const out: StoredMessage[] = [];
    const flush = (p: PendingSegment) => {
      w.insertSegment.run(p.id, p.conversationId, sealer.seal(encodeSegment(p.entries), segmentAd(p.id, p.conversationId)));
      openByConversation.delete(p.conversationId);
      pendingById.delete(p.id);
    };
    try {
      for (const m of batch) {
        const conv = m.conversationId;
        let orderKey = nextOrder.get(conv);
        if (orderKey === undefined) {
          orderKey = ((epoch === undefined ? undefined : known.last(conv, epoch)) ?? q.maxOrder.get(conv, conv)?.k ?? 0) + 1;
          nextOrder.set(conv, orderKey);
        }
        let pending = openByConversation.get(conv);
        if (!pending) {
          pending = { id: nextSegment++, conversationId: conv, entries: [], bytes: 0 };
          openByConversation.set(conv, pending);
          pendingById.set(pending.id, pending);
        }
        const info = w.insertMessage.run(m.id, conv, orderKey, seq + 1, pending.id, pending.entries.length) as { changes: number };
        if (info.changes === 1) {
          seq += 1;
          nextOrder.set(conv, orderKey + 1);
          const body: MessageBody = { direction: m.direction, sender: m.sender, sentAt: m.sentAt, receivedAt: m.receivedAt ?? now, text: m.text, state: m.state };
          if (m.contentId !== undefined) body.contentId = m.contentId;
          const slot = pending.entries.length;
          pending.entries.push(segmentEntry(m.id, orderKey, body));
          pending.bytes += m.text.length + m.sender.length + m.id.length + (m.contentId?.length ?? 0) + 64;
          const stored: StoredMessage = { id: m.id, conversationId: conv, ...body, orderKey, seq };
          out.push(stored);
          appended.push({ stored, segment: pending.id, slot });
          if (pending.entries.length >= SEGMENT_MAX_MESSAGES || pending.bytes >= SEGMENT_MAX_BYTES) flush(pending);
        } else {
          const existing = q.messageById.get(m.id);
          if (!existing) throw new VaultCorrupt(`ordering key ${orderKey} of a conversation is taken twice`);
          const inBatch = pendingById.get(existing.segment);
          out.push(inBatch ? messageFromEntry(db.keys, existing, inBatch.entries[existing.slot]) : (decodeRows(db, [existing])[0] as StoredMessage));
        }
      }
      for (const p of [...openByConversation.values()]) if (p.entries.length > 0) flush(p);
    } finally {
      sealer.dispose();
    }
    return out;
  });
  counters.seq = seq;
  counters.nextSegment = nextSegment;
  // Committed, or released into an enclosing transaction whose rollback moves the epoch.
  const after = writeEpochOf(db);
  if (after !== undefined && after === epoch) for (const [conv, next] of nextOrder) known.set(conv, next - 1, after);
  // Read back soon (the search indexer, summaries, receipts): kept as appended (recent.ts).
  rememberAppended(key, appended);
  return result;
}

/** Unknown ids are ignored (a receipt may arrive for a message deleted meanwhile). */
export function updateMessageState(db: MessagesWritable, id: string, state: MessageState): void {
  checkId(id, 'message id');
  checkState(state);
  const w = db.write.messages;
  let seq = w.counters.seq;
  db.transaction(() => {
    const row = db.read.messages.messageById.get(id);
    if (!row) return;
    seq += 1;
    w.setSeq.run(seq, id);
    w.putState.run(id, seal(db.keys.key('message_state'), Buffer.from(state, 'utf8'), ad('message_state', id, seq)));
  });
  w.counters.seq = seq;
}

/** Removes the row, blanks its sealed entry (secure_delete scrubs freed bytes) and leaves a tombstone for changesSince. */
export function deleteMessage(db: MessagesWritable, id: string): void {
  checkId(id, 'message id');
  const row = db.read.messages.messageById.get(id);
  if (row) removeRows(db, [row]);
}

/**
 * "Delete for me": the messages of `conversationId` among `ids`, in one transaction. Each
 * segment holding one of them is opened once and sealed again without it (a fresh nonce; a
 * segment left empty is deleted), and its rows, state and any ordering gap are handled as in
 * deleteMessage. Unknown ids and ids of another conversation are skipped. Returns the ids deleted.
 */
export function deleteMessages(db: MessagesWritable, conversationId: string, ids: readonly string[]): string[] {
  checkId(conversationId, 'conversation id');
  if (!Array.isArray(ids)) throw new TypeError('message ids must be an array');
  for (const id of ids) checkId(id, 'message id');
  const rows: MessageRow[] = [];
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) continue;
    seen.add(id);
    const row = db.read.messages.messageById.get(id);
    if (row && row.conversation_id === conversationId) rows.push(row);
  }
  removeRows(db, rows);
  return rows.map((r) => r.id);
}

/** Every message of the conversation (deleteMessages over all of them). Returns the ids deleted. */
export function deleteConversationMessages(db: MessagesWritable, conversationId: string): string[] {
  checkId(conversationId, 'conversation id');
  const rows = db.read.messages.allOfConversation.all(conversationId);
  removeRows(db, rows);
  return rows.map((r) => r.id);
}

/**
 * What a removal rewrote: segments sealed again, segments deleted (left empty), sealed bytes
 * written; and the content ids the removed entries held, by message id (the deletion journal
 * carries them to the messenger, which forgets records named by them after the rows are gone).
 */
export interface RemovalStats {
  resealed: number;
  emptied: number;
  bytes: number;
  contentIds: Map<string, string>;
}

/**
 * Removes `rows` (current rows of the messages table) in one transaction: each segment holding
 * one of them is opened once and sealed again without them. deletion.ts calls it slice by slice.
 */
export function removeRows(db: MessagesWritable, rows: readonly MessageRow[]): RemovalStats {
  const stats: RemovalStats = { resealed: 0, emptied: 0, bytes: 0, contentIds: new Map() };
  if (rows.length === 0) return stats;
  const w = db.write.messages;
  let seq = w.counters.seq;
  const bySegment = new Map<number, MessageRow[]>();
  for (const row of rows) {
    const list = bySegment.get(row.segment);
    if (list) list.push(row);
    else bySegment.set(row.segment, [row]);
  }
  forgetRecent(db.keys.key('messages'), rows.map((r) => r.id));
  db.transaction(() => {
    const opener = new BatchOpener(db.keys.key('messages'));
    const sealer = new BatchSealer(db.keys.key('messages'));
    try {
      for (const [segment, inSegment] of bySegment) {
        const conversationId = (inSegment[0] as MessageRow).conversation_id;
        const entries = loadSegment(db, segment, conversationId, opener);
        for (const row of inSegment) {
          // Checks the entry is this row's (id, ordering key) before blanking it.
          const { contentId } = messageFromEntry(db.keys, row, entries[row.slot]);
          if (contentId !== undefined) stats.contentIds.set(row.id, contentId);
          entries[row.slot] = null;
        }
        // Blank the slots and re-seal the segment: the text is gone from the database, not just unlinked.
        if (entries.every((e) => e === null)) {
          w.deleteSegment.run(segment);
          stats.emptied++;
        } else {
          const sealed = sealer.seal(encodeSegment(entries), segmentAd(segment, conversationId));
          w.updateSegment.run(sealed, segment);
          stats.resealed++;
          stats.bytes += sealed.length;
        }
      }
    } finally {
      opener.dispose();
      sealer.dispose();
    }
    for (const row of rows) {
      w.deleteMessage.run(row.id);
      w.deleteState.run(row.id);
      w.raiseOrderHigh.run(row.conversation_id, row.order_key);
      seq += 1;
      w.putTombstone.run(row.id, seq);
    }
  });
  w.counters.seq = seq;
  return stats;
}
