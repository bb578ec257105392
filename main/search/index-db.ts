// The in-memory full-text index: SQLite FTS5 on ':memory:', never a file. It persists only as
// bytes handed to the caller (`serialize`) to be sealed; nothing here touches the disk
// (temp_store = MEMORY keeps SQLite's sort spills in RAM too).
//
// Document ids (FTS rowids) are derived from the message's sentAt (doc-ids.ts), so "newest
// first" and a date filter are rowid walks and ranges.
//
// The index is INDEX_PARTS databases ("parts"), a message in the part its id hashes to
// (index-image.ts partOf), each with its own docs, FTS5 table and prefix list; part 0 also holds
// the meta and the conversation terms. Why: a restore deserializes one part per event-loop turn
// (one database of 160 MB at a million messages held the thread 195-312 ms in that one call; an
// eighth of it, 40-54 ms: hence 16 parts).
// A query asks every part and merges (index-search.ts); a write transaction begins (and commits)
// only in the parts it writes to, so more parts do not make each write dearer. This module opens
// the parts and writes to them (with the mirror's log); the purge after a deferred removal is
// index-purge.ts.
import Database from 'better-sqlite3';
import { sqliteOptions } from '../vault/sqlite-binding.ts';
import { DocAllocator, encodeId } from './doc-ids.ts';
import { joinImages, partOf, splitImage } from './index-image.ts';
import { INDEX_FORMAT_VERSION, INDEX_PARTS, Part, PURGE_SQL, SCHEMA, openPart } from './index-part.ts';
import { purgeAll, purgeStep, type PurgeCursor } from './index-purge.ts';
import { searchParts, type IndexHit, type IndexQuery } from './index-search.ts';
import { MirrorLog, type MirrorBatch } from './mirror-batch.ts';
import { RECENTLY_INDEXED_MAX, RecentlyIndexed } from './recently-indexed.ts';
import { TOKENIZER_VERSION, indexColumns } from './tokenize.ts';

export { SnapshotInvalid } from './index-image.ts';
export { INDEX_FORMAT_VERSION, INDEX_PARTS, MIRRORED_SQL, PART_CACHE_KIB, PURGE_SQL, RELEVANCE_WINDOW } from './index-part.ts';
export type { PurgeCursor } from './index-purge.ts';
export { MAX_LIMIT, type IndexHit, type IndexQuery } from './index-search.ts';

export interface IndexedMessage {
  id: string;
  conversationId: string;
  sentAt: number;
  text: string;
}

/** Words already in the `words` table (a bounded cache that saves an INSERT per repeated word). */
const KNOWN_WORDS_CACHE = 200_000;
/** Conversations whose FTS term is cached (cleared when full). */
const CONV_TERMS_CACHE = 10_000;

export class SearchIndex {
  readonly #parts: Part[];
  /** Where committed writes go for a mirror (setMirror), and the ones of the transaction under way (only with a mirror). */
  #mirror: ((batch: MirrorBatch) => void) | undefined;
  #pending: MirrorLog | undefined;
  /** Conversation terms by conversation id (convs rows are never deleted), saving a SELECT per indexed message. */
  readonly #convTerms = new Map<string, string>();
  /** Terms of convs rows inserted by the transaction under way: cached once it commits. */
  #convTermsPending: [string, string][] = [];
  #depth = 0;
  /** Parts the transaction under way has begun in (at their first write: #into). */
  readonly #begun: Part[] = [];
  readonly #docs: DocAllocator;
  /** Documents removed (deleted or replaced) since this index was opened; rolled-back ones count too. */
  #removals = 0;
  /** What the index holds for the messages it stored last: an equal upsert is skipped (recently-indexed.ts). */
  readonly #recent = new RecentlyIndexed();

  private constructor(parts: Part[]) {
    this.#parts = parts;
    this.#docs = new DocAllocator(parts);
  }

  get #head(): Part {
    return this.#parts[0] as Part;
  }

  static create(): SearchIndex {
    const parts: Part[] = [];
    try {
      for (let i = 0; i < INDEX_PARTS; i++) {
        const db = new Database(':memory:', sqliteOptions());
        try {
          db.exec(SCHEMA);
          parts.push(new Part(db));
        } catch (err) {
          db.close();
          throw err;
        }
        const stmts = (parts[i] as Part).stmts;
        stmts.setMeta.run('format', INDEX_FORMAT_VERSION);
        stmts.setMeta.run('tokenizer', TOKENIZER_VERSION);
        stmts.setMeta.run('part', i);
        if (i === 0) stmts.setMeta.run('seq', 0);
      }
      return new SearchIndex(parts);
    } catch (err) {
      for (const p of parts) p.db.close();
      throw err;
    }
  }

  /** Opens an index from `serialize()` output in one call. Throws SnapshotInvalid when it is not one of ours or is of another version. */
  static restore(bytes: Uint8Array): SearchIndex {
    const images = splitImage(bytes, INDEX_PARTS);
    const parts: Part[] = [];
    try {
      images.forEach((image, i) => parts.push(openPart(image, i)));
      return new SearchIndex(parts);
    } catch (err) {
      for (const p of parts) p.db.close();
      throw err;
    }
  }

  /**
   * As restore, one part per call of `between` (which yields to the event loop, and throws to
   * stop: every part opened so far is closed then). `partOpened` gets each part's time (ms).
   */
  static async restoreInSteps(bytes: Uint8Array, between: () => Promise<void>, partOpened?: (ms: number) => void): Promise<SearchIndex> {
    const images = splitImage(bytes, INDEX_PARTS);
    const parts: Part[] = [];
    try {
      for (let i = 0; i < images.length; i++) {
        if (i > 0) await between();
        const t = performance.now();
        parts.push(openPart(images[i] as Uint8Array, i));
        partOpened?.(performance.now() - t);
      }
      return new SearchIndex(parts);
    } catch (err) {
      for (const p of parts) p.db.close();
      throw err;
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
   * Forgets which words the prefix lists hold (each word is then written, and mirrored, again
   * when next seen): a mirror that pruned its own lists may have dropped a dead word this index
   * still holds, which a new message can bring back to life.
   */
  forgetKnownWords(): void {
    for (const p of this.#parts) p.knownWords.clear();
  }

  /**
   * Runs `fn` as one transaction over the parts it writes to (nested calls join the outer one):
   * begun in a part at its first write (#into), committed in each begun part when the outermost
   * returns, rolled back in each when it throws. Its logged writes go to the mirror once committed.
   */
  #writes<T>(fn: () => T): T {
    const start = this.#pending?.mark();
    const outermost = this.#depth === 0;
    this.#depth++;
    let ok = false;
    try {
      const out = fn();
      // In-memory databases: a COMMIT fails only when SQLite cannot allocate, which ends the process's use of them anyway.
      if (outermost) for (const p of this.#begun) p.db.exec('COMMIT');
      ok = true;
      return out;
    } finally {
      if (outermost) {
        if (!ok) for (const p of this.#begun) if (p.db.inTransaction) p.db.exec('ROLLBACK');
        for (const p of this.#begun) p.inWrite = false;
        this.#begun.length = 0;
      }
      if (!ok) {
        if (start) this.#pending?.rollback(start); // rolled back
        this.#convTermsPending = [];
        this.#recent.rollback();
      }
      if (--this.#depth === 0) {
        if (ok) this.#recent.commit();
        for (const [conversationId, term] of this.#convTermsPending) this.#cacheConvTerm(conversationId, term);
        this.#convTermsPending = [];
        if (this.#pending && !this.#pending.empty) this.#mirror?.(this.#pending.take());
      }
    }
  }

  /**
   * Part `at`, to be written to in the transaction under way: begun there at its first write.
   * Every write inside #writes goes through here (a part not begun would autocommit it).
   */
  #into(at: number): Part {
    const p = this.#parts[at] as Part;
    if (!p.inWrite) {
      p.db.exec('BEGIN');
      p.inWrite = true;
      this.#begun.push(p);
    }
    return p;
  }

  #setMeta(key: string, value: string | number): void {
    this.#writes(() => {
      this.#into(0).stmts.setMeta.run(key, value);
      this.#pending?.setMeta(0, key, value);
    });
  }

  #meta(key: string): unknown {
    return this.#head.meta(key);
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
    return this.#parts.reduce((n, p) => n + (p.stmts.countDocs.get()?.c ?? 0), 0);
  }

  #partOf(id: string | Buffer): number {
    return partOf(id, INDEX_PARTS);
  }

  /** The doc of a message id (as encodeId stores it) in its part. */
  #docOf(id: string | Buffer): bigint | undefined {
    const stored = typeof id === 'string' ? encodeId(id) : id;
    const row = (this.#parts[this.#partOf(stored)] as Part).stmts.docOf.get(stored);
    return row === undefined ? undefined : BigInt(row.doc);
  }

  #convTerm(conversationId: string, create: boolean): string | undefined {
    const known = this.#convTerms.get(conversationId);
    if (known !== undefined) return known;
    const head = this.#head;
    let n = head.stmts.convOf.get(conversationId)?.n;
    if (n === undefined) {
      if (!create) return undefined;
      n = Number(this.#into(0).stmts.insertConv.run(conversationId).lastInsertRowid);
      this.#pending?.insertConv(0, n, conversationId);
    }
    const term = `c${n.toString(36)}`;
    // Not cached while a transaction is open: a rollback would leave a term for a row that is gone.
    if (head.db.inTransaction) this.#convTermsPending.push([conversationId, term]);
    else this.#cacheConvTerm(conversationId, term);
    return term;
  }

  #cacheConvTerm(conversationId: string, term: string): void {
    if (this.#convTerms.size >= CONV_TERMS_CACHE) this.#convTerms.clear();
    this.#convTerms.set(conversationId, term);
  }

  #removeDoc(part: number, doc: bigint): void {
    this.#removals++;
    const stmts = this.#into(part).stmts;
    stmts.deleteFts.run(doc);
    stmts.deleteDoc.run(doc);
    this.#pending?.removeDoc(part, doc);
  }

  /** Documents removed (deleted, or replaced by a newer version) since this index was opened or created. */
  get removals(): number {
    return this.#removals;
  }

  /** Adds or replaces messages, in one transaction. A replaced doc's terms stay in the segments (no purge): changed text needs a delete first (docs/search.md "Replaced text"). */
  upsert(messages: readonly IndexedMessage[]): void {
    this.#writes(() => {
      const batchWords = this.#parts.map(() => new Set<string>());
      // Of a bulk upsert (a rebuild's batch) only the last ones can be kept anyway.
      let untilKept = messages.length - RECENTLY_INDEXED_MAX;
      for (const m of messages) {
        // The same version again (the feed re-delivers a message after each state change).
        if (this.#recent.holds(m)) continue;
        const id = encodeId(m.id);
        const at = this.#partOf(id);
        const stmts = this.#into(at).stmts;
        const existing = stmts.docOf.get(id);
        if (existing !== undefined) {
          this.#recent.removed(m.id);
          this.#removeDoc(at, BigInt(existing.doc));
        }
        const doc = this.#docs.allocate(m.sentAt);
        const cols = indexColumns(m.text);
        const conv = this.#convTerm(m.conversationId, true) as string;
        stmts.insertDoc.run(doc, id);
        stmts.insertFts.run(doc, cols.body, cols.uni, conv);
        if (untilKept-- <= 0) this.#recent.inserted(m);
        this.#pending?.insertDoc(at, doc, id);
        this.#pending?.insertFts(at, doc, cols.body, cols.uni, conv);
        const words = batchWords[at] as Set<string>;
        for (const w of cols.words) words.add(w);
      }
      batchWords.forEach((words, at) => {
        if (words.size === 0) return;
        const part = this.#into(at);
        for (const w of words) {
          if (part.knownWords.has(w)) continue;
          part.stmts.insertWord.run(w);
          this.#pending?.insertWord(at, w);
          if (part.knownWords.size >= KNOWN_WORDS_CACHE / INDEX_PARTS) part.knownWords.clear();
          part.knownWords.add(w);
        }
      });
    });
  }

  /**
   * The indexed words starting with `prefix`, or undefined when there are more than `max`.
   * FTS5 answers a prefix query by merging the full match lists of every word with that
   * prefix before it can return the newest match; an OR of the (few) actual words is walked
   * newest-first and stops at the LIMIT like any other query. Words of deleted messages are
   * pruned (remove), so the lists hold only words some message contains.
   */
  expandPrefix(prefix: string, max: number): string[] | undefined {
    const words = new Set<string>();
    for (const p of this.#parts) {
      const rows = p.stmts.wordsFrom.all(prefix, `${prefix}\u{10ffff}`, max + 1);
      for (const r of rows) if (r.term.startsWith(prefix)) words.add(r.term);
      if (rows.length > max || words.size > max) return undefined;
    }
    return [...words].sort();
  }

  /**
   * Removes messages by id; unknown ids are ignored. What was derived from their text goes too
   * (deletion means gone from every byte, docs/vault.md): FTS5 only marks a contentless row
   * deleted and keeps its terms in the segments until they merge, so the segments are merged
   * ('optimize', which costs time proportional to the index: deletions are rare and the user's
   * own act), and words no message holds any more leave the prefix lists.
   */
  remove(ids: readonly string[]): void {
    this.#writes(() => {
      if (this.#removeDocs(ids) === 0) return;
      for (let i = 0; i < this.#parts.length; i++) {
        const p = this.#into(i);
        p.db.exec(PURGE_SQL.optimize);
        p.stmts.pruneWords.run();
        p.knownWords.clear();
      }
    });
  }

  /**
   * Removes messages by id like `remove`, but leaves their terms in the FTS5 segments and the
   * prefix lists until `purgeStep` has run to the end: the sliced path for large deletions,
   * whose full merge would block for seconds at a million messages. Returns how many were indexed.
   */
  removeDeferred(ids: readonly string[]): number {
    return this.#writes(() => this.#removeDocs(ids));
  }

  /** Removes the indexed ones of `ids` (inside the caller's transaction); returns how many. */
  #removeDocs(ids: readonly string[]): number {
    let removed = 0;
    for (const id of ids) {
      this.#recent.removed(id);
      const stored = encodeId(id);
      const at = this.#partOf(stored);
      const row = (this.#parts[at] as Part).stmts.docOf.get(stored);
      if (row !== undefined) {
        this.#removeDoc(at, BigInt(row.doc));
        removed++;
      }
    }
    return removed;
  }

  /**
   * One bounded step of the purge after removeDeferred. First FTS5's incremental merge of each
   * part in turn with a negative page budget (every segment merges into one, as 'optimize'
   * does, but `pages` leaf pages at a time), then each part's prefix list in runs of `words`
   * words, each checked against the part's vocabulary. `cursor` is the state between steps (start with
   * undefined); returns the next cursor, or undefined when the purge is complete (no deleted
   * message's term is left in any part).
   */
  purgeStep(cursor: PurgeCursor | undefined, pages = 64, words = 2000): PurgeCursor | undefined {
    return purgeStep(this.#parts, cursor, pages, words);
  }

  /** The whole purge after removeDeferred in one blocking call (one 'optimize' per part: cheaper in total than the steps). */
  purgeAll(): void {
    purgeAll(this.#parts);
  }

  /**
   * Applies one batch of the vault's change feed and its seq atomically. Deletes go first: a
   * message deleted and then re-added appears in both lists, and its upsert (the current row) wins.
   */
  apply(upserts: readonly IndexedMessage[], deletes: readonly string[], seq: number): void {
    this.#writes(() => {
      this.remove(deletes);
      this.upsert(upserts);
      this.seq = seq;
    });
  }

  /** As apply, with the deletes removed by removeDeferred (the caller purges). Returns how many were indexed. */
  applyDeferred(upserts: readonly IndexedMessage[], deletes: readonly string[], seq: number): number {
    return this.#writes(() => {
      const removed = this.removeDeferred(deletes);
      this.upsert(upserts);
      this.seq = seq;
      return removed;
    });
  }

  has(id: string): boolean {
    return this.#docOf(id) !== undefined;
  }

  /** Every part is asked and the answers merged by doc id (index-search.ts searchParts). */
  search(q: IndexQuery): IndexHit[] {
    let match = q.match;
    if (q.conversationId !== undefined) {
      const term = this.#convTerm(q.conversationId, false);
      if (term === undefined) return [];
      match = `(${match}) AND conv : "${term}"`;
    }
    return searchParts(this.#parts, match, q);
  }

  /** Merges each part's FTS5 segments into one: smaller snapshot, faster queries. Costs time proportional to the index. */
  optimize(): void {
    for (const p of this.#parts) p.db.exec(PURGE_SQL.optimize);
  }

  /** The whole index as bytes (the parts' SQLite images, index-image.ts): plaintext-derived, so seal it before it leaves RAM. */
  serialize(): Buffer {
    return joinImages(
      this.#parts.map((p) => {
        // Drop free pages first: they would only make the snapshot bigger.
        p.db.pragma('incremental_vacuum');
        return p.db.serialize();
      }),
    );
  }

  close(): void {
    for (const p of this.#parts) if (p.db.open) p.db.close();
  }
}
