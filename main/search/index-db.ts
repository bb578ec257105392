// The in-memory full-text index: SQLite FTS5 on ':memory:', never a file. It persists only as
// bytes handed to the caller (`serialize`) to be sealed; nothing here touches the disk
// (temp_store = MEMORY keeps SQLite's sort spills in RAM too).
//
// Document ids (FTS rowids) are derived from the message's sentAt: doc = sentAt * 4096 + n.
// "Newest first" is then FTS5's native descending rowid walk with an early LIMIT, and a date
// filter is a rowid range, so neither needs to visit every match.
// Past 500 lines on purpose: schema, writes (with the mirror's log), the stepped purge and the
// queries share one connection, its prepared statements and its caches.
import Database from 'better-sqlite3';
import { CodedError } from '../../shared/errors.ts';
import { sqliteOptions } from '../vault/sqlite-binding.ts';
import { MirrorLog, type MirrorBatch } from './mirror-batch.ts';
import { TOKENIZER_VERSION, indexColumns } from './tokenize.ts';

/** 3: file names indexed too. 4: snapshots before 54aa470 may hold a deleted group file's name (rebuild once). */
export const INDEX_FORMAT_VERSION = 4;
const SLOT_BITS = 4096; // docs per millisecond before spilling into the next millisecond
const MAX_TIME = 2 ** 50; // ms; keeps doc ids below 2^62
/** Most hits one query returns. */
export const MAX_LIMIT = 1000;
/** Relevance order ranks this many of the newest matches (bounds the cost of common words). */
export const RELEVANCE_WINDOW = 1000;

/** A sealed index snapshot that cannot be used (the service then rebuilds the index from the vault). */
export class SnapshotInvalid extends CodedError<'SNAPSHOT_INVALID'> {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('SNAPSHOT_INVALID', `The search index snapshot is unusable: ${detail}`, options);
  }
}

export interface IndexedMessage {
  id: string;
  conversationId: string;
  sentAt: number;
  text: string;
}

export interface IndexQuery {
  /** FTS5 MATCH expression without the conversation clause (see query.ts). */
  match: string;
  conversationId?: string;
  /** Inclusive bounds on sentAt, ms since the epoch. */
  from?: number;
  to?: number;
  order: 'newest' | 'relevance';
  limit: number;
}

/** Where a purge (SearchIndex.purgeStep) stands between its steps. */
export interface PurgeCursor {
  phase: 'merge' | 'words';
  /** The last word checked (phase 'words'). */
  after: string;
}

export interface IndexHit {
  id: string;
  /** bm25 score (lower is better) when ordered by relevance, else 0. */
  score: number;
}

function clampTime(ms: number): number {
  if (!Number.isFinite(ms)) return 0;
  return Math.min(MAX_TIME, Math.max(0, Math.floor(ms)));
}

// 32+ hex-char ids (the vault's default) are stored as blobs, half the size; others as text.
// SQLite never equates a blob with a text value, so the two forms cannot collide.
function encodeId(id: string): string | Buffer {
  return id.length >= 16 && id.length % 2 === 0 && /^[0-9a-f]+$/.test(id) ? Buffer.from(id, 'hex') : id;
}

function decodeId(stored: unknown): string {
  if (typeof stored === 'string') return stored;
  if (Buffer.isBuffer(stored)) return stored.toString('hex');
  throw new SnapshotInvalid('a document id has an unexpected type');
}

const SCHEMA = `
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

/** Words already in the `words` table (a bounded cache that saves an INSERT per repeated word). */
const KNOWN_WORDS_CACHE = 200_000;
/** Conversations whose FTS term is cached (cleared when full). */
const CONV_TERMS_CACHE = 10_000;

export class SearchIndex {
  readonly #db: Database.Database;
  readonly #knownWords = new Set<string>();
  readonly #stmts;
  /** Where committed writes go for a mirror (setMirror), and the ones of the transaction under way (only with a mirror). */
  #mirror: ((batch: MirrorBatch) => void) | undefined;
  #pending: MirrorLog | undefined;
  /** Conversation terms by conversation id (convs rows are never deleted), saving a SELECT per indexed message. */
  readonly #convTerms = new Map<string, string>();
  /** Terms of convs rows inserted by the transaction under way: cached once it commits. */
  #convTermsPending: [string, string][] = [];
  #depth = 0;
  /** Documents removed (deleted or replaced) since this index was opened; rolled-back ones count too. */
  #removals = 0;

  private constructor(db: Database.Database) {
    this.#db = db;
    db.pragma('temp_store = MEMORY');
    // A deleted message's terms must leave the image `serialize` hands out to be sealed: freed
    // cells and pages are zeroed, not just unlinked.
    db.pragma('secure_delete = ON');
    // The index's vocabulary (in the temp schema: never part of the serialized image), for
    // dropping words that no message contains any more.
    db.exec(PURGE_SQL.vocab);
    this.#stmts = {
      getMeta: db.prepare<[string], { value: unknown }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare<[string, string | number]>('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)'),
      docOf: db.prepare<[string | Buffer], { doc: number | bigint }>('SELECT doc FROM docs WHERE id = ?').safeIntegers(true),
      maxDocIn: db.prepare<[bigint, bigint], { m: bigint | null }>('SELECT max(doc) AS m FROM docs WHERE doc >= ? AND doc < ?').safeIntegers(true),
      insertDoc: db.prepare<[bigint, string | Buffer]>('INSERT INTO docs(doc, id) VALUES (?, ?)'),
      deleteDoc: db.prepare<[bigint]>('DELETE FROM docs WHERE doc = ?'),
      insertFts: db.prepare<[bigint, string, string, string]>('INSERT INTO fts(rowid, body, uni, conv) VALUES (?, ?, ?, ?)'),
      deleteFts: db.prepare<[bigint]>('DELETE FROM fts WHERE rowid = ?'),
      convOf: db.prepare<[string], { n: number }>('SELECT n FROM convs WHERE id = ?'),
      insertConv: db.prepare<[string]>('INSERT INTO convs(id) VALUES (?)'),
      countDocs: db.prepare<[], { c: number }>('SELECT count(*) AS c FROM docs'),
      insertWord: db.prepare<[string]>('INSERT OR IGNORE INTO words(term) VALUES (?)'),
      wordsFrom: db.prepare<[string, string, number], { term: string }>('SELECT term FROM words WHERE term >= ? AND term < ? ORDER BY term LIMIT ?'),
      pruneWords: db.prepare(PURGE_SQL.pruneWords),
      wordsAfter: db.prepare<[string, number], { term: string }>('SELECT term FROM words WHERE term > ? ORDER BY term LIMIT ?'),
      wordLive: db.prepare<[string], { n: number }>('SELECT 1 AS n FROM temp.vocab WHERE term = ?'),
      deleteWord: db.prepare<[string]>('DELETE FROM words WHERE term = ?'),
      merge: db.prepare<[number]>(`INSERT INTO fts(fts, rank) VALUES('merge', ?)`),
    };
  }

  static create(): SearchIndex {
    const db = new Database(':memory:', sqliteOptions());
    try {
      db.exec(SCHEMA);
      const index = new SearchIndex(db);
      index.#stmts.setMeta.run('format', INDEX_FORMAT_VERSION);
      index.#stmts.setMeta.run('tokenizer', TOKENIZER_VERSION);
      index.#stmts.setMeta.run('seq', 0);
      return index;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Opens an index from `serialize()` output. Throws SnapshotInvalid when it is not one of ours or is of another version. */
  static restore(bytes: Uint8Array): SearchIndex {
    if (bytes.length < 100 || Buffer.from(bytes.subarray(0, 16)).toString('latin1') !== 'SQLite format 3\0') {
      throw new SnapshotInvalid('not an SQLite image');
    }
    let db: Database.Database;
    try {
      db = new Database(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), sqliteOptions());
    } catch (err) {
      throw new SnapshotInvalid('SQLite refused the image', { cause: err });
    }
    try {
      const index = new SearchIndex(db);
      if (index.#meta('format') !== INDEX_FORMAT_VERSION) throw new SnapshotInvalid('index format version differs');
      if (index.#meta('tokenizer') !== TOKENIZER_VERSION) throw new SnapshotInvalid('tokenizer version differs');
      if (typeof index.#meta('seq') !== 'number') throw new SnapshotInvalid('no sequence number');
      return index;
    } catch (err) {
      db.close();
      if (err instanceof SnapshotInvalid) throw err;
      throw new SnapshotInvalid('schema check failed', { cause: err });
    }
  }

  /**
   * Hands every write that changes the index's content, once committed, to `sink` (in order;
   * a rolled-back transaction's writes never). Undefined stops it.
   */
  setMirror(sink: ((batch: MirrorBatch) => void) | undefined): void {
    this.#mirror = sink;
    this.#pending = sink ? new MirrorLog() : undefined;
  }

  /**
   * Forgets which words the prefix list holds (each word is then written, and mirrored, again
   * when next seen): a mirror that pruned its own list may have dropped a dead word this index
   * still holds, which a new message can bring back to life.
   */
  forgetKnownWords(): void {
    this.#knownWords.clear();
  }

  /** Runs a write (or a transaction of them); its logged writes go to the mirror when the outermost one returns. */
  #writes<T>(fn: () => T): T {
    const start = this.#pending?.mark();
    this.#depth++;
    let ok = false;
    try {
      const out = fn();
      ok = true;
      return out;
    } finally {
      if (!ok) {
        if (start) this.#pending?.rollback(start); // rolled back
        this.#convTermsPending = [];
      }
      if (--this.#depth === 0) {
        for (const [conversationId, term] of this.#convTermsPending) this.#cacheConvTerm(conversationId, term);
        this.#convTermsPending = [];
        if (this.#pending && !this.#pending.empty) this.#mirror?.(this.#pending.take());
      }
    }
  }

  #setMeta(key: string, value: string | number): void {
    this.#writes(() => {
      this.#stmts.setMeta.run(key, value);
      this.#pending?.setMeta(key, value);
    });
  }

  #meta(key: string): unknown {
    return this.#stmts.getMeta.get(key)?.value;
  }

  /** Vault change sequence that this index reflects. */
  get seq(): number {
    return this.#meta('seq') as number;
  }

  set seq(value: number) {
    this.#setMeta('seq', value);
  }

  getMeta(key: string): string | undefined {
    const v = this.#meta(`x:${key}`);
    return typeof v === 'string' ? v : undefined;
  }

  setMeta(key: string, value: string): void {
    this.#setMeta(`x:${key}`, value);
  }

  get size(): number {
    return this.#stmts.countDocs.get()?.c ?? 0;
  }

  /** The doc of a message id, as encodeId stores it. */
  #docOf(id: string | Buffer): bigint | undefined {
    const row = this.#stmts.docOf.get(typeof id === 'string' ? encodeId(id) : id);
    return row === undefined ? undefined : BigInt(row.doc);
  }

  #allocateDoc(sentAt: number): bigint {
    let base = BigInt(clampTime(sentAt)) * BigInt(SLOT_BITS);
    for (;;) {
      const top = base + BigInt(SLOT_BITS);
      const m = this.#stmts.maxDocIn.get(base, top)?.m ?? null;
      if (m === null) return base;
      if (m + 1n < top) return m + 1n;
      base = top; // 4096 messages in one millisecond: spill into the next one
    }
  }

  #convTerm(conversationId: string, create: boolean): string | undefined {
    const known = this.#convTerms.get(conversationId);
    if (known !== undefined) return known;
    let n = this.#stmts.convOf.get(conversationId)?.n;
    if (n === undefined) {
      if (!create) return undefined;
      n = Number(this.#stmts.insertConv.run(conversationId).lastInsertRowid);
      this.#pending?.insertConv(n, conversationId);
    }
    const term = `c${n.toString(36)}`;
    // Not cached while a transaction is open: a rollback would leave a term for a row that is gone.
    if (this.#db.inTransaction) this.#convTermsPending.push([conversationId, term]);
    else this.#cacheConvTerm(conversationId, term);
    return term;
  }

  #cacheConvTerm(conversationId: string, term: string): void {
    if (this.#convTerms.size >= CONV_TERMS_CACHE) this.#convTerms.clear();
    this.#convTerms.set(conversationId, term);
  }

  #removeDoc(doc: bigint): void {
    this.#removals++;
    this.#stmts.deleteFts.run(doc);
    this.#stmts.deleteDoc.run(doc);
    this.#pending?.removeDoc(doc);
  }

  /** Documents removed (deleted, or replaced by a newer version) since this index was opened or created. */
  get removals(): number {
    return this.#removals;
  }

  /** Adds or replaces messages, in one transaction. A replaced doc's terms stay in the segments (no purge): changed text needs a delete first (docs/search.md "Replaced text"). */
  upsert(messages: readonly IndexedMessage[]): void {
    this.#writes(this.#db.transaction(() => {
      const batchWords = new Set<string>();
      for (const m of messages) {
        const id = encodeId(m.id);
        const existing = this.#docOf(id);
        if (existing !== undefined) this.#removeDoc(existing);
        const doc = this.#allocateDoc(m.sentAt);
        const cols = indexColumns(m.text);
        const conv = this.#convTerm(m.conversationId, true) as string;
        this.#stmts.insertDoc.run(doc, id);
        this.#stmts.insertFts.run(doc, cols.body, cols.uni, conv);
        this.#pending?.insertDoc(doc, id);
        this.#pending?.insertFts(doc, cols.body, cols.uni, conv);
        for (const w of cols.words) batchWords.add(w);
      }
      for (const w of batchWords) {
        if (this.#knownWords.has(w)) continue;
        this.#stmts.insertWord.run(w);
        this.#pending?.insertWord(w);
        if (this.#knownWords.size >= KNOWN_WORDS_CACHE) this.#knownWords.clear();
        this.#knownWords.add(w);
      }
    }));
  }

  /**
   * The indexed words starting with `prefix`, or undefined when there are more than `max`.
   * FTS5 answers a prefix query by merging the full match lists of every word with that
   * prefix before it can return the newest match; an OR of the (few) actual words is walked
   * newest-first and stops at the LIMIT like any other query. Words of deleted messages are
   * pruned (remove), so the list holds only words some message contains.
   */
  expandPrefix(prefix: string, max: number): string[] | undefined {
    const rows = this.#stmts.wordsFrom.all(prefix, `${prefix}\u{10ffff}`, max + 1);
    if (rows.length > max) return undefined;
    return rows.map((r) => r.term).filter((t) => t.startsWith(prefix));
  }

  /**
   * Removes messages by id; unknown ids are ignored. What was derived from their text goes too
   * (deletion means gone from every byte, docs/vault.md): FTS5 only marks a contentless row
   * deleted and keeps its terms in the segments until they merge, so the segments are merged
   * ('optimize', which costs time proportional to the index: deletions are rare and the user's
   * own act), and words no message holds any more leave the prefix list.
   */
  remove(ids: readonly string[]): void {
    this.#writes(this.#db.transaction(() => {
      if (this.#removeDocs(ids) === 0) return;
      this.optimize();
      this.#stmts.pruneWords.run();
      this.#knownWords.clear();
    }));
  }

  /**
   * Removes messages by id like `remove`, but leaves their terms in the FTS5 segments and the
   * prefix list until `purgeStep` has run to the end: the sliced path for large deletions,
   * whose full merge would block for seconds at a million messages. Returns how many were indexed.
   */
  removeDeferred(ids: readonly string[]): number {
    return this.#writes(this.#db.transaction(() => this.#removeDocs(ids)));
  }

  /** Removes the indexed ones of `ids` (inside the caller's transaction); returns how many. */
  #removeDocs(ids: readonly string[]): number {
    let removed = 0;
    for (const id of ids) {
      const doc = this.#docOf(id);
      if (doc !== undefined) {
        this.#removeDoc(doc);
        removed++;
      }
    }
    return removed;
  }

  /**
   * One bounded step of the purge after removeDeferred. First FTS5's incremental merge with a
   * negative page budget (every segment merges into one, as 'optimize' does, but `pages` leaf
   * pages at a time), then the prefix list in runs of `words` words, each checked against the
   * vocabulary. `cursor` is the state between steps (start with undefined); returns the next
   * cursor, or undefined when the purge is complete (no deleted message's term is left).
   */
  purgeStep(cursor: PurgeCursor | undefined, pages = 64, words = 2000): PurgeCursor | undefined {
    const c: PurgeCursor = cursor ?? { phase: 'merge', after: '' };
    if (c.phase === 'merge') {
      const before = this.#db.prepare('SELECT total_changes() AS n').pluck().get() as number;
      this.#stmts.merge.run(-Math.max(1, Math.floor(pages)));
      const after = this.#db.prepare('SELECT total_changes() AS n').pluck().get() as number;
      // FTS5's documented test: a merge that did no work changes fewer than two rows.
      if (after - before >= 2) return c;
      // A single segment is not rewritten by 'merge'; 'optimize' drops its deleted entries (cheap once merged).
      this.optimize();
      return { phase: 'words', after: '' };
    }
    const batch = this.#stmts.wordsAfter.all(c.after, Math.max(1, Math.floor(words)));
    this.#db.transaction(() => {
      for (const { term } of batch) if (!this.#stmts.wordLive.get(term)) this.#stmts.deleteWord.run(term);
    })();
    this.#knownWords.clear();
    const last = batch[batch.length - 1];
    return last === undefined ? undefined : { phase: 'words', after: last.term };
  }

  /** The whole purge after removeDeferred in one blocking call (one 'optimize': cheaper in total than the steps). */
  purgeAll(): void {
    this.#db.transaction(() => {
      this.optimize();
      this.#stmts.pruneWords.run();
      this.#knownWords.clear();
    })();
  }

  /**
   * Applies one batch of the vault's change feed and its seq atomically. Deletes go first: a
   * message deleted and then re-added appears in both lists, and its upsert (the current row) wins.
   */
  apply(upserts: readonly IndexedMessage[], deletes: readonly string[], seq: number): void {
    this.#writes(this.#db.transaction(() => {
      this.remove(deletes);
      this.upsert(upserts);
      this.seq = seq;
    }));
  }

  /** As apply, with the deletes removed by removeDeferred (the caller purges). Returns how many were indexed. */
  applyDeferred(upserts: readonly IndexedMessage[], deletes: readonly string[], seq: number): number {
    return this.#writes(this.#db.transaction(() => {
      const removed = this.removeDeferred(deletes);
      this.upsert(upserts);
      this.seq = seq;
      return removed;
    }));
  }

  has(id: string): boolean {
    return this.#docOf(id) !== undefined;
  }

  search(q: IndexQuery): IndexHit[] {
    let match = q.match;
    if (q.conversationId !== undefined) {
      const term = this.#convTerm(q.conversationId, false);
      if (term === undefined) return [];
      match = `(${match}) AND conv : "${term}"`;
    }
    const lo = q.from === undefined ? 0n : BigInt(clampTime(q.from)) * BigInt(SLOT_BITS);
    const hi = q.to === undefined ? 2n ** 62n : (BigInt(clampTime(q.to)) + 1n) * BigInt(SLOT_BITS);
    const limit = Math.max(1, Math.min(MAX_LIMIT, Math.floor(q.limit)));
    // FTS5 walks matches newest first and stops at the LIMIT. Relevance ranks (bm25) only the
    // newest RELEVANCE_WINDOW matches, so a query for a common word costs the same as for a rare one.
    const sql =
      q.order === 'relevance'
        ? `SELECT m.score AS score, d.id AS id FROM
             (SELECT rowid, rank AS score FROM fts WHERE fts MATCH ? AND rowid >= ? AND rowid < ? ORDER BY rowid DESC LIMIT ${RELEVANCE_WINDOW}) m
             JOIN docs d ON d.doc = m.rowid ORDER BY m.score, m.rowid DESC LIMIT ?`
        : `SELECT 0 AS score, d.id AS id FROM
             (SELECT rowid FROM fts WHERE fts MATCH ? AND rowid >= ? AND rowid < ? ORDER BY rowid DESC LIMIT ?) m
             JOIN docs d ON d.doc = m.rowid ORDER BY m.rowid DESC`;
    const rows = this.#db.prepare<[string, bigint, bigint, number], { score: number; id: unknown }>(sql).all(match, lo, hi, limit);
    return rows.map((r) => ({ id: decodeId(r.id), score: r.score }));
  }

  /** Merges FTS5 segments into one: smaller snapshot, faster queries. Costs time proportional to the index. */
  optimize(): void {
    this.#db.exec(`INSERT INTO fts(fts) VALUES('optimize')`);
  }

  /** The whole index as bytes (an SQLite image): plaintext-derived, so seal it before it leaves RAM. */
  serialize(): Buffer {
    // Drop free pages first: they would only make the snapshot bigger.
    this.#db.pragma('incremental_vacuum');
    return this.#db.serialize();
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
