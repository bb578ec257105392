// "Delete for everyone": a message stays as a tombstone (id, ordering key, direction, sender,
// times and state) while its text is scrubbed. Its segment is opened and sealed again with the
// text blanked (a fresh nonce), so the text is gone from the database, not only hidden; the
// caller checkpoints and truncates the WAL afterwards, as for deleteMessages.
import { BatchOpener, BatchSealer } from '../aead.ts';
import { checkId, encodeSegment, segmentEntry } from '../records.ts';
import { loadSegment, messageFromEntry, segmentAd } from './read.ts';
import { forgetRecent } from './recent.ts';
import type { MessageRow, MessagesWritable } from './statements.ts';

/**
 * Blanks the text (and drops the content id) of the listed messages of `conversationId` in one
 * transaction. Unknown ids, ids of another conversation and messages already blank without a
 * content id (unless in `evenIfBlank`) are skipped; returns the ids changed.
 * The change feed sees each as deleted and then written again (a tombstone entry, then a new
 * seq), so the search index drops its words and keeps no entry with them.
 */
export function redactMessages(db: MessagesWritable, conversationId: string, ids: readonly string[], evenIfBlank: readonly string[] = []): string[] {
  checkId(conversationId, 'conversation id');
  if (!Array.isArray(ids)) throw new TypeError('message ids must be an array');
  for (const id of ids) checkId(id, 'message id');
  const bySegment = new Map<number, MessageRow[]>();
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) continue;
    seen.add(id);
    const row = db.read.messages.messageById.get(id);
    if (!row || row.conversation_id !== conversationId) continue;
    const list = bySegment.get(row.segment);
    if (list) list.push(row);
    else bySegment.set(row.segment, [row]);
  }
  const w = db.write.messages;
  let seq = w.counters.seq;
  const changed: string[] = [];
  // Their text goes from the file; not answered from memory either (their seq moves anyway).
  forgetRecent(db.keys.key('messages'), seen);
  db.transaction(() => {
    const opener = new BatchOpener(db.keys.key('messages'));
    const sealer = new BatchSealer(db.keys.key('messages'));
    try {
      for (const [segment, rows] of bySegment) {
        const entries = loadSegment(db, segment, conversationId, opener);
        const blanked: MessageRow[] = [];
        for (const row of rows) {
          // Checks the entry is this row's (id, ordering key); the state row may be newer than the entry's.
          const m = messageFromEntry(db.keys, row, entries[row.slot]);
          // Blank with no content id is already a tombstone; the content id goes too (nothing can quote it).
          if (m.text === '' && m.contentId === undefined && !evenIfBlank.includes(row.id)) continue;
          entries[row.slot] = segmentEntry(row.id, row.order_key, { direction: m.direction, sender: m.sender, sentAt: m.sentAt, receivedAt: m.receivedAt, text: '', state: m.state });
          blanked.push(row);
        }
        if (blanked.length === 0) continue;
        w.updateSegment.run(sealer.seal(encodeSegment(entries), segmentAd(segment, conversationId)), segment);
        for (const row of blanked) {
          seq += 1;
          w.putTombstone.run(row.id, seq);
          seq += 1;
          w.setSeq.run(seq, row.id);
          // The current state is in the entry now; a sealed state row names the old seq in its AD.
          w.deleteState.run(row.id);
          changed.push(row.id);
        }
      }
    } finally {
      opener.dispose();
      sealer.dispose();
    }
  });
  w.counters.seq = seq;
  return changed;
}
