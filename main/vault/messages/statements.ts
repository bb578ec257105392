// Messages, their segments, states and tombstones: the prepared statements, split into the ones
// that only read and the ones that write (handles.ts), and the counters kept in memory.
import type Database from 'better-sqlite3';
import type { Prepared, ReadableDB, WritableDB } from '../handles.ts';
import { integerColumn } from '../integrity.ts';
import { OrderKeys } from './order-keys.ts';

export interface MessageRow {
  id: string;
  conversation_id: string;
  order_key: number;
  seq: number;
  segment: number;
  slot: number;
  state_sealed: Buffer | null;
}

/** id, order_key, seq, segment, slot, state sealed (iterateMessages). */
export type ChunkRow = [string, number, number, number, number, Buffer | null];

/** The change sequence and the next segment id, kept in memory (read from the database on open). */
export interface MessageCounters {
  seq: number;
  nextSegment: number;
}

const MESSAGE_COLUMNS =
  'm.id, m.conversation_id, m.order_key, m.seq, m.segment, m.slot, s.sealed AS state_sealed FROM messages m LEFT JOIN message_state s ON s.message_id = m.id';

export function prepareMessages(db: Database.Database, counters: MessageCounters) {
  return {
    read: {
      maxSeq: db.prepare<[], { a: number | null; b: number | null }>('SELECT (SELECT MAX(seq) FROM messages) AS a, (SELECT MAX(seq) FROM tombstones) AS b'),
      segmentById: db.prepare<[number], { conversation_id: string; sealed: Buffer }>('SELECT conversation_id, sealed FROM message_segments WHERE id = ?'),
      maxSegment: db.prepare<[], { s: number | null }>('SELECT MAX(id) AS s FROM message_segments'),
      maxOrder: db.prepare<[string, string], { k: number | null }>(
        'SELECT MAX(k) AS k FROM (SELECT MAX(order_key) AS k FROM messages WHERE conversation_id = ? UNION ALL SELECT last FROM order_high WHERE conversation_id = ?)',
      ),
      messageById: db.prepare<[string], MessageRow>(`SELECT ${MESSAGE_COLUMNS} WHERE m.id = ?`),
      allOfConversation: db.prepare<[string], MessageRow>(`SELECT ${MESSAGE_COLUMNS} WHERE m.conversation_id = ?`),
      newest: db.prepare<[string, number], MessageRow>(`SELECT ${MESSAGE_COLUMNS} WHERE m.conversation_id = ? ORDER BY m.order_key DESC LIMIT ?`),
      before: db.prepare<[string, number, number], MessageRow>(
        `SELECT ${MESSAGE_COLUMNS} WHERE m.conversation_id = ? AND m.order_key < ? ORDER BY m.order_key DESC LIMIT ?`,
      ),
      after: db.prepare<[string, number, number], MessageRow>(
        `SELECT ${MESSAGE_COLUMNS} WHERE m.conversation_id = ? AND m.order_key > ? ORDER BY m.order_key ASC LIMIT ?`,
      ),
      between: db.prepare<[string, number, number, number], MessageRow>(
        `SELECT ${MESSAGE_COLUMNS} WHERE m.conversation_id = ? AND m.order_key > ? AND m.order_key < ? ORDER BY m.order_key ASC LIMIT ?`,
      ),
      // Raw rows (arrays, not objects): the bulk read builds one object per message, not two.
      chunkRows: db
        .prepare<[string, number, number], ChunkRow>(
          'SELECT m.id, m.order_key, m.seq, m.segment, m.slot, s.sealed FROM messages m LEFT JOIN message_state s ON s.message_id = m.id WHERE m.conversation_id = ? AND m.order_key > ? ORDER BY m.order_key ASC LIMIT ?',
        )
        .raw(),
      // Without any state row (e.g. a vault filled by a backup import) the join is a third of the query's cost.
      chunkRowsNoState: db
        .prepare<[string, number, number], ChunkRow>(
          'SELECT m.id, m.order_key, m.seq, m.segment, m.slot, NULL FROM messages m WHERE m.conversation_id = ? AND m.order_key > ? ORDER BY m.order_key ASC LIMIT ?',
        )
        .raw(),
      anyState: db.prepare<[], { n: number }>('SELECT EXISTS (SELECT 1 FROM message_state) AS n'),
      bySeq: db.prepare<[number, number], MessageRow>(`SELECT ${MESSAGE_COLUMNS} WHERE m.seq > ? ORDER BY m.seq ASC LIMIT ?`),
      tombstonesBySeq: db.prepare<[number, number], { id: string; seq: number }>('SELECT id, seq FROM tombstones WHERE seq > ? ORDER BY seq ASC LIMIT ?'),
      nextConversation: db.prepare<[string], { c: string }>('SELECT conversation_id AS c FROM messages WHERE conversation_id > ? ORDER BY conversation_id LIMIT 1'),
      countAll: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM messages'),
      countConversation: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM messages WHERE conversation_id = ?'),
    },
    write: {
      /** Moved only by writes (and read again after a rollback). */
      counters,
      /** Each conversation's highest ordering key, while the gate's write epoch holds (order-keys.ts). */
      orderKeys: new OrderKeys(),
      insertMessage: db.prepare<[string, string, number, number, number, number], unknown>(
        'INSERT OR IGNORE INTO messages (id, conversation_id, order_key, seq, segment, slot) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      insertSegment: db.prepare<[number, string, Buffer], unknown>('INSERT INTO message_segments (id, conversation_id, sealed) VALUES (?, ?, ?)'),
      updateSegment: db.prepare<[Buffer, number], unknown>('UPDATE message_segments SET sealed = ? WHERE id = ?'),
      deleteSegment: db.prepare<[number], unknown>('DELETE FROM message_segments WHERE id = ?'),
      raiseOrderHigh: db.prepare<[string, number], unknown>(
        'INSERT INTO order_high (conversation_id, last) VALUES (?, ?) ON CONFLICT (conversation_id) DO UPDATE SET last = MAX(last, excluded.last)',
      ),
      setSeq: db.prepare<[number, string], unknown>('UPDATE messages SET seq = ? WHERE id = ?'),
      putState: db.prepare<[string, Buffer], unknown>('INSERT OR REPLACE INTO message_state (message_id, sealed) VALUES (?, ?)'),
      deleteMessage: db.prepare<[string], unknown>('DELETE FROM messages WHERE id = ?'),
      deleteState: db.prepare<[string], unknown>('DELETE FROM message_state WHERE message_id = ?'),
      putTombstone: db.prepare<[string, number], unknown>('INSERT OR REPLACE INTO tombstones (id, seq) VALUES (?, ?)'),
    },
  } satisfies Prepared<unknown, unknown>;
}

type MessageStatements = ReturnType<typeof prepareMessages>;
export type MessagesReadable = ReadableDB<{ messages: MessageStatements['read'] }>;
export type MessagesWritable = WritableDB<{ messages: MessageStatements['read'] }, { messages: MessageStatements['write'] }>;

/** The counters kept in memory, from the database. */
export function loadCounters(db: MessagesReadable, counters: MessageCounters): void {
  const m = db.read.messages.maxSeq.get();
  counters.seq = Math.max(integerColumn(m?.a ?? 0, 'a change sequence number'), integerColumn(m?.b ?? 0, 'a tombstone sequence number'));
  counters.nextSegment = integerColumn(db.read.messages.maxSegment.get()?.s ?? 0, 'a segment id') + 1;
}
