// Reading messages: rows are checked against their sealed segment entry (id, ordering key),
// each segment is opened once per query, states come from the rows (so they are current).
import type { ChangeBatch, MessageState, PageQuery, StoredMessage } from '../api.ts';
import { BatchOpener, SealOpenError } from '../aead.ts';
import { VaultCorrupt } from '../errors.ts';
import { blobColumn } from '../integrity.ts';
import type { VaultKeys } from '../keys.ts';
import { ad, checkId, checkLimit, checkState, decodeSegment, type SegmentEntry } from '../records.ts';
import { recentFor } from './recent.ts';
import type { ChunkRow, MessageRow, MessagesReadable } from './statements.ts';

/**
 * Rows per query when streaming the whole history (iterateMessages): ~4 segments per query. Small
 * on purpose: a chunk's messages are all decoded at once and live until the consumer has taken
 * the last one, across its awaits (a backup export); at 2,048 rows they outlived scavenges and
 * were promoted to the old space, so the main heap's peak depended on when a mark-compact ran
 * (docs/backup-format.md, stop 27). Chunks end on a segment boundary (readChunk), so the
 * smaller chunk opens no segment twice. The first chunk (read cold) is no longer smaller than the
 * rest: at this size it already holds the cold turn short.
 */
export const ITERATE_CHUNK = 256;
/** The most messages one segment holds (write.ts closes a segment at this many). */
export const SEGMENT_MAX_MESSAGES = 64;

export function segmentAd(segment: number, conversationId: string): Buffer {
  return ad('message_segments', segment, conversationId);
}

/** Checks that the sealed entry is the one the row claims (id, ordering key), then builds the message. */
export function messageFromEntry(keys: VaultKeys, row: MessageRow, entry: SegmentEntry | undefined): StoredMessage {
  if (!entry || entry[0] !== row.id || entry[1] !== row.order_key) {
    throw new VaultCorrupt(`message ${row.id} does not match its sealed entry (moved, swapped or edited)`);
  }
  const m: StoredMessage = {
    id: row.id,
    conversationId: row.conversation_id,
    direction: entry[2],
    sender: entry[3],
    sentAt: entry[4],
    receivedAt: entry[5],
    text: entry[6],
    state: row.state_sealed ? openState(keys, row.id, row.seq, row.state_sealed) : entry[7],
    orderKey: row.order_key,
    seq: row.seq,
  };
  if (entry[8] !== undefined) m.contentId = entry[8];
  return m;
}

/** A state written after append (updateMessageState); its AD binds the message id and its current seq. */
function openState(keys: VaultKeys, id: string, seq: number, sealed: Buffer): MessageState {
  const s = keys.openSealed('message_state', sealed, ad('message_state', id, seq), `state of message ${id}`);
  try {
    return checkState(s.toString('utf8'));
  } catch (err) {
    throw new VaultCorrupt(`state of message ${id} is not decodable`, { cause: err });
  }
}

export function loadSegment(db: MessagesReadable, segment: number, conversationId: string, opener: BatchOpener): SegmentEntry[] {
  const seg = db.read.messages.segmentById.get(segment);
  if (!seg) throw new VaultCorrupt(`message segment ${segment} is missing`);
  if (seg.conversation_id !== conversationId) throw new VaultCorrupt(`message segment ${segment} belongs to another conversation`);
  let plain: Buffer;
  try {
    plain = opener.open(blobColumn(seg.sealed, `message segment ${segment}`), segmentAd(segment, seg.conversation_id));
  } catch (err) {
    if (err instanceof SealOpenError) throw new VaultCorrupt(`message segment ${segment} failed authentication (tampered, swapped or damaged)`);
    throw err;
  }
  return decodeSegment(plain);
}

/**
 * Decodes rows, opening each segment once; a row still exactly as this unlock appended it is
 * taken from memory (recent.ts), its segment not opened.
 */
export function decodeRows(db: MessagesReadable, rows: MessageRow[]): StoredMessage[] {
  const key = db.keys.key('messages');
  let opener: BatchOpener | undefined;
  const segments = new Map<number, SegmentEntry[]>();
  try {
    return rows.map((row) => {
      const recent = recentFor(key, row);
      if (recent) return { ...recent, state: row.state_sealed ? openState(db.keys, row.id, row.seq, row.state_sealed) : recent.state };
      let entries = segments.get(row.segment);
      if (!entries) {
        entries = loadSegment(db, row.segment, row.conversation_id, (opener ??= new BatchOpener(key)));
        segments.set(row.segment, entries);
      }
      return messageFromEntry(db.keys, row, entries[row.slot]);
    });
  } finally {
    opener?.dispose();
  }
}

export function getMessage(db: MessagesReadable, id: string): StoredMessage | undefined {
  checkId(id, 'message id');
  const row = db.read.messages.messageById.get(id);
  return row ? decodeRows(db, [row])[0] : undefined;
}

export function pageMessages(db: MessagesReadable, conversationId: string, query: PageQuery): StoredMessage[] {
  checkId(conversationId, 'conversation id');
  if (typeof query !== 'object' || query === null) throw new TypeError('query must be an object');
  const limit = checkLimit(query.limit);
  const { before, after } = query;
  if (before !== undefined && !Number.isFinite(before)) throw new TypeError('before must be a number');
  if (after !== undefined && !Number.isFinite(after)) throw new TypeError('after must be a number');
  const q = db.read.messages;
  let rows: MessageRow[];
  if (before !== undefined && after !== undefined) rows = q.between.all(conversationId, after, before, limit);
  else if (after !== undefined) rows = q.after.all(conversationId, after, limit);
  else if (before !== undefined) rows = q.before.all(conversationId, before, limit).reverse();
  else rows = q.newest.all(conversationId, limit).reverse();
  return decodeRows(db, rows);
}

export function pageAround(db: MessagesReadable, messageId: string, before: number, after: number): StoredMessage[] {
  checkId(messageId, 'message id');
  const q = db.read.messages;
  const row = q.messageById.get(messageId);
  if (!row) return [];
  const older = before > 0 ? q.before.all(row.conversation_id, row.order_key, checkLimit(before)).reverse() : [];
  const newer = after > 0 ? q.after.all(row.conversation_id, row.order_key, checkLimit(after)) : [];
  return decodeRows(db, [...older, row, ...newer]);
}

export function countMessages(db: MessagesReadable, conversationId?: string): number {
  if (conversationId === undefined) return db.read.messages.countAll.get()?.n ?? 0;
  checkId(conversationId, 'conversation id');
  return db.read.messages.countConversation.get(conversationId)?.n ?? 0;
}

/** The first conversation with messages after `after` in id order ('' for the first). */
export function nextConversation(db: MessagesReadable, after: string): string | undefined {
  return db.read.messages.nextConversation.get(after)?.c;
}

/**
 * `limit` (ITERATE_CHUNK) messages of one conversation after an ordering key, or fewer at its end,
 * or more, up to the end of the segment the `limit`-th one is in; fully decoded (no
 * generator state holds keys). Every segment is opened and decoded once per chunk and all its
 * messages taken from it (the same checks as a page: segment AD, segment conversation, entry id
 * and ordering key against the row; states come from the rows, so they are current).
 */
export function readChunk(db: MessagesReadable, conversationId: string, after: number, limit = ITERATE_CHUNK): StoredMessage[] {
  const q = db.read.messages;
  const withStates = q.anyState.get()?.n === 1;
  const rows = (withStates ? q.chunkRows : q.chunkRowsNoState).all(conversationId, after, limit + SEGMENT_MAX_MESSAGES);
  // Past `limit` only to the end of the last row's segment: the next chunk then starts with a new
  // segment, so no segment is opened and decoded by two chunks. Longer than `limit` still means
  // "there may be more" to the caller.
  let n = rows.length;
  if (n > limit) {
    const last = (rows[limit - 1] as ChunkRow)[3];
    n = limit;
    while (n < rows.length && (rows[n] as ChunkRow)[3] === last) n++;
  }
  const out = new Array<StoredMessage>(n);
  const opener = new BatchOpener(db.keys.key('messages'));
  let segmentId = -1;
  let entries: SegmentEntry[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const [id, orderKey, seq, segment, slot, stateSealed] = rows[i] as ChunkRow;
      if (segment !== segmentId) {
        entries = loadSegment(db, segment, conversationId, opener);
        segmentId = segment;
      }
      const e = entries[slot];
      if (!e || e[0] !== id || e[1] !== orderKey) throw new VaultCorrupt(`message ${id} does not match its sealed entry (moved, swapped or edited)`);
      out[i] = {
        id,
        conversationId,
        direction: e[2],
        sender: e[3],
        sentAt: e[4],
        receivedAt: e[5],
        text: e[6],
        state: stateSealed ? openState(db.keys, id, seq, stateSealed) : e[7],
        orderKey,
        seq,
      };
      if (e[8] !== undefined) (out[i] as StoredMessage).contentId = e[8];
    }
  } finally {
    opener.dispose();
  }
  return out;
}

/** Changes after `since`, up to `committedUpTo` (the gate's end of committed changes). */
export function changesSince(db: MessagesReadable, since: number, limit: number, committedUpTo: number): ChangeBatch {
  if (!Number.isSafeInteger(since) || since < 0) throw new TypeError('since must be a non-negative integer seq');
  const n = checkLimit(limit);
  const upserts = db.read.messages.bySeq.all(since, n + 1);
  const deletes = db.read.messages.tombstonesBySeq.all(since, n + 1);
  const merged: ({ kind: 'u'; row: MessageRow } | { kind: 'd'; id: string; seq: number })[] = [
    ...upserts.map((row) => ({ kind: 'u' as const, row })),
    ...deletes.map((d) => ({ kind: 'd' as const, id: d.id, seq: d.seq })),
  ].sort((a, b) => (a.kind === 'u' ? a.row.seq : a.seq) - (b.kind === 'u' ? b.row.seq : b.seq));
  // During a long transaction only committed changes count (see WriteGate.longTransaction).
  const visible = merged.filter((item) => (item.kind === 'u' ? item.row.seq : item.seq) <= committedUpTo);
  const taken = visible.slice(0, n);
  const rows: MessageRow[] = [];
  const deleted: string[] = [];
  let maxSeq = since;
  for (const item of taken) {
    if (item.kind === 'u') {
      rows.push(item.row);
      maxSeq = item.row.seq;
    } else {
      deleted.push(item.id);
      maxSeq = item.seq;
    }
  }
  return { upserts: decodeRows(db, rows), deletes: deleted, maxSeq, more: visible.length > n };
}
