// One of the search index's databases ("parts", index-db.ts): its schema, the statements the index
// and its mirror run on it, and its opening from an image (checked: ours, this format, in place).
import Database from 'better-sqlite3';
import { sqliteOptions } from '../vault/sqlite-binding.ts';
import { SnapshotInvalid } from './index-image.ts';
import { TOKENIZER_VERSION } from './tokenize.ts';

/** 3: file names indexed too. 4: snapshots before 54aa470 may hold a deleted group file's name (rebuild once). 5: in 8 parts. 6: in 16 parts. */
export const INDEX_FORMAT_VERSION = 6;
/**
 * Databases the index is split into (a format constant: partOf routes ids by it). 16: the
 * restore deserializes one per event-loop turn, and an eighth of a million-message index still
 * held the thread 40-54 ms (loop-delay p99 over 50 ms, issue #18).
 */
export const INDEX_PARTS = 16;
/** Each part's page cache (KiB): together what the one database had (better-sqlite3's default, 16 MB). */
export const PART_CACHE_KIB = 1000;
/** Relevance order ranks this many of the newest matches (bounds the cost of common words). */
export const RELEVANCE_WINDOW = 1000;

export const SCHEMA = `
  PRAGMA auto_vacuum = INCREMENTAL;
  CREATE TABLE meta(key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID;
  CREATE TABLE docs(doc INTEGER PRIMARY KEY, id NOT NULL UNIQUE);
  CREATE TABLE convs(n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);
  CREATE TABLE words(term TEXT PRIMARY KEY) WITHOUT ROWID;
  CREATE VIRTUAL TABLE fts USING fts5(body, uni, conv, content='', contentless_delete=1, tokenize='ascii', detail=full);
  INSERT INTO fts(fts, rank) VALUES('rank', 'bm25(1.0, 0.5, 0.0)');
`;

/**
 * The writes a mirror of the index repeats (search/mirror.ts: a copy in a worker thread that
 * serializes the snapshot off the main thread): a statement each, its parameters carried in a
 * MirrorBatch (mirror-batch.ts). Only writes that
 * change what the index holds; merges and the word prune are the mirror's own business (it
 * purges before every image it hands out).
 */
export const MIRRORED_SQL = {
  setMeta: 'INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)',
  insertDoc: 'INSERT INTO docs(doc, id) VALUES (?, ?)',
  deleteDoc: 'DELETE FROM docs WHERE doc = ?',
  insertFts: 'INSERT INTO fts(rowid, body, uni, conv) VALUES (?, ?, ?, ?)',
  deleteFts: 'DELETE FROM fts WHERE rowid = ?',
  insertConv: 'INSERT INTO convs(n, id) VALUES (?, ?)',
  insertWord: 'INSERT OR IGNORE INTO words(term) VALUES (?)',
} as const;
/** The purge a mirror runs before serializing: every segment merged (deleted terms gone), dead words dropped. */
export const PURGE_SQL = {
  vocab: `CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, fts, 'row')`,
  optimize: `INSERT INTO fts(fts) VALUES('optimize')`,
  pruneWords: 'DELETE FROM words WHERE NOT EXISTS (SELECT 1 FROM temp.vocab v WHERE v.term = words.term)',
} as const;


function prepareStatements(db: Database.Database) {
  return {
    getMeta: db.prepare<[string], { value: unknown }>('SELECT value FROM meta WHERE key = ?'),
    setMeta: db.prepare<[string, string | number]>(MIRRORED_SQL.setMeta),
    docOf: db.prepare<[string | Buffer], { doc: number | bigint }>('SELECT doc FROM docs WHERE id = ?').safeIntegers(true),
    idOf: db.prepare<[bigint], { id: unknown }>('SELECT id FROM docs WHERE doc = ?'),
    maxDocIn: db.prepare<[bigint, bigint], { m: bigint | null }>('SELECT max(doc) AS m FROM docs WHERE doc >= ? AND doc < ?').safeIntegers(true),
    insertDoc: db.prepare<[bigint, string | Buffer]>(MIRRORED_SQL.insertDoc),
    deleteDoc: db.prepare<[bigint]>(MIRRORED_SQL.deleteDoc),
    insertFts: db.prepare<[bigint, string, string, string]>(MIRRORED_SQL.insertFts),
    deleteFts: db.prepare<[bigint]>(MIRRORED_SQL.deleteFts),
    convOf: db.prepare<[string], { n: number }>('SELECT n FROM convs WHERE id = ?'),
    insertConv: db.prepare<[string]>('INSERT INTO convs(id) VALUES (?)'),
    countDocs: db.prepare<[], { c: number }>('SELECT count(*) AS c FROM docs'),
    insertWord: db.prepare<[string]>(MIRRORED_SQL.insertWord),
    wordsFrom: db.prepare<[string, string, number], { term: string }>('SELECT term FROM words WHERE term >= ? AND term < ? ORDER BY term LIMIT ?'),
    pruneWords: db.prepare(PURGE_SQL.pruneWords),
    wordsAfter: db.prepare<[string, number], { term: string }>('SELECT term FROM words WHERE term > ? ORDER BY term LIMIT ?'),
    wordLive: db.prepare<[string], { n: number }>('SELECT 1 AS n FROM temp.vocab WHERE term = ?'),
    deleteWord: db.prepare<[string]>('DELETE FROM words WHERE term = ?'),
    merge: db.prepare<[number]>(`INSERT INTO fts(fts, rank) VALUES('merge', ?)`),
    totalChanges: db.prepare<[], number>('SELECT total_changes()').pluck(),
    // FTS5 walks matches newest first and stops at the LIMIT; the doc ids only (the ids of the
    // few hits kept after the parts are merged are looked up then).
    newest: db.prepare<[string, bigint, bigint, number], { doc: bigint }>(
      'SELECT rowid AS doc FROM fts WHERE fts MATCH ? AND rowid >= ? AND rowid < ? ORDER BY rowid DESC LIMIT ?',
    ).safeIntegers(true),
    // bm25 of the matches from a doc id on (the newest RELEVANCE_WINDOW over every part), best first.
    relevance: db.prepare<[string, bigint, bigint, number], { doc: bigint; score: number }>(
      'SELECT rowid AS doc, rank AS score FROM fts WHERE fts MATCH ? AND rowid >= ? AND rowid < ? ORDER BY rank, rowid DESC LIMIT ?',
    ).safeIntegers(true),
  };
}

/** One of the index's databases, its statements and the words known to be in its prefix list. */
export class Part {
  readonly db: Database.Database;
  readonly stmts: ReturnType<typeof prepareStatements>;
  readonly knownWords = new Set<string>();
  /** Begun in the index's write transaction under way (SearchIndex #into). */
  inWrite = false;

  constructor(db: Database.Database) {
    this.db = db;
    db.pragma('temp_store = MEMORY');
    db.pragma(`cache_size = -${PART_CACHE_KIB}`);
    // A deleted message's terms must leave the image `serialize` hands out to be sealed: freed
    // cells and pages are zeroed, not just unlinked.
    db.pragma('secure_delete = ON');
    // The part's vocabulary (in the temp schema: never part of the serialized image), for
    // dropping words that no message contains any more.
    db.exec(PURGE_SQL.vocab);
    this.stmts = prepareStatements(db);
  }

  meta(key: string): unknown {
    return this.stmts.getMeta.get(key)?.value;
  }
}

export function openPart(bytes: Uint8Array, i: number): Part {
  let db: Database.Database;
  try {
    db = new Database(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), sqliteOptions());
  } catch (err) {
    throw new SnapshotInvalid('SQLite refused the image', { cause: err });
  }
  try {
    const part = new Part(db);
    if (part.meta('format') !== INDEX_FORMAT_VERSION) throw new SnapshotInvalid('index format version differs');
    if (part.meta('tokenizer') !== TOKENIZER_VERSION) throw new SnapshotInvalid('tokenizer version differs');
    if (part.meta('part') !== i) throw new SnapshotInvalid('index part out of place');
    if (i === 0 && typeof part.meta('seq') !== 'number') throw new SnapshotInvalid('no sequence number');
    return part;
  } catch (err) {
    db.close();
    if (err instanceof SnapshotInvalid) throw err;
    throw new SnapshotInvalid('schema check failed', { cause: err });
  }
}
