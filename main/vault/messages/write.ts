// Writing messages: appends sealed per segment, state updates, deletes that scrub the text.
// Every function here needs a WritableDB (handles.ts), which only the gate hands out.
import type { MessageState, NewMessage, StoredMessage } from '../api.ts';
import { BatchOpener, BatchSealer, seal } from '../aead.ts';
import { VaultCorrupt } from '../errors.ts';
import { ad, checkId, checkNewMessage, checkState, encodeSegment, segmentEntry, type MessageBody, type SegmentEntry } from '../records.ts';
import { decodeRows, loadSegment, messageFromEntry, segmentAd } from './read.ts';
import type { MessagesWritable } from './statements.ts';

// A segment closes at this many messages or (approximate) plaintext bytes, so reading a page or
// re-sealing after a delete touches a bounded amount of data.
const SEGMENT_MAX_MESSAGES = 64;
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
export function appendMessages(db: MessagesWritable, batch: readonly NewMessage[]): StoredMessage[] {
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
  const result = db.transaction(() => {
    const sealer = new BatchSealer(key);
    const nextOrder = new Map<string, number>();
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
        if (orderKey === undefined) orderKey = (q.maxOrder.get(conv, conv)?.k ?? 0) + 1;
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
          pending.entries.push(segmentEntry(m.id, orderKey, body));
          pending.bytes += m.text.length + m.sender.length + m.id.length + 64;
          out.push({ id: m.id, conversationId: conv, ...body, orderKey, seq });
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
  const w = db.write.messages;
  let seq = w.counters.seq;
  db.transaction(() => {
    const row = db.read.messages.messageById.get(id);
    if (!row) return;
    // Blank the slot and re-seal the segment: the text is gone from the database, not just unlinked.
    const opener = new BatchOpener(db.keys.key('messages'));
    let entries: SegmentEntry[];
    try {
      entries = loadSegment(db, row.segment, row.conversation_id, opener);
    } finally {
      opener.dispose();
    }
    messageFromEntry(db.keys, row, entries[row.slot]);
    entries[row.slot] = null;
    if (entries.every((e) => e === null)) {
      w.deleteSegment.run(row.segment);
    } else {
      const sealer = new BatchSealer(db.keys.key('messages'));
      w.updateSegment.run(sealer.seal(encodeSegment(entries), segmentAd(row.segment, row.conversation_id)), row.segment);
      sealer.dispose();
    }
    w.deleteMessage.run(id);
    w.deleteState.run(id);
    w.raiseOrderHigh.run(row.conversation_id, row.order_key);
    seq += 1;
    w.putTombstone.run(id, seq);
  });
  w.counters.seq = seq;
}
