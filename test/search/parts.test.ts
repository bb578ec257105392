// The index in parts (index-db.ts, index-image.ts): messages spread over every part, queries
// merged across them as one database would answer, relevance close to one database's bm25, and
// a restore that hands SQLite one part per turn and stops cleanly when the vault locks between.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INDEX_PARTS, RELEVANCE_WINDOW, SearchIndex, type IndexQuery, type IndexedMessage } from '../../main/search/index-db.ts';
import { splitImage } from '../../main/search/index-image.ts';
import { parseQuery, toFtsMatch } from '../../main/search/query.ts';
import { indexColumns } from '../../main/search/tokenize.ts';
import { SearchService } from '../../main/search/service.ts';
import { newRestoreTimings } from '../../main/search/snapshot-read.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { VaultLocked } from '../../main/vault/errors.ts';
import { corpus, hexId } from './corpus.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = Array.from({ length: 300 }, (_, i) => `w${i.toString(36)}x`);

/** Zipf-like texts over WORDS, so common and rare words both occur, in 5 conversations. */
function messages(n: number, seed: number): IndexedMessage[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const len = 1 + Math.floor(r() * 12);
    const words = Array.from({ length: len }, () => WORDS[Math.floor(WORDS.length * r() ** 3)] as string);
    return { id: hexId(i + 1), conversationId: `conv-${i % 5}`, sentAt: 1_000_000 + i * 1000 + Math.floor(r() * 5000), text: words.join(' ') };
  });
}

function q(text: string, extra: Partial<IndexQuery> = {}): IndexQuery {
  const match = toFtsMatch(parseQuery(text));
  if (!match) throw new Error('empty query');
  return { match, order: 'newest', limit: 50, ...extra };
}

/** One FTS5 database as the index had before the parts (same columns, tokenizer and bm25 weights). */
function oneDatabase(messagesIn: readonly IndexedMessage[]): { rank: (match: string, limit: number) => string[]; close: () => void } {
  // Rowids in sentAt order, as the index's doc ids are.
  const rows = [...messagesIn].sort((a, b) => a.sentAt - b.sentAt);
  const db = new Database(':memory:');
  db.exec(`CREATE VIRTUAL TABLE fts USING fts5(body, uni, conv, content='', contentless_delete=1, tokenize='ascii', detail=full);
           INSERT INTO fts(fts, rank) VALUES('rank', 'bm25(1.0, 0.5, 0.0)');`);
  const insert = db.prepare('INSERT INTO fts(rowid, body, uni, conv) VALUES (?, ?, ?, ?)');
  rows.forEach((m, i) => {
    const cols = indexColumns(m.text);
    insert.run(i + 1, cols.body, cols.uni, 'c0');
  });
  // The query the one database ran (before the parts): bm25 over the newest RELEVANCE_WINDOW matches.
  const byRow = db.prepare<[string, number], { rowid: number }>(
    `SELECT rowid FROM (SELECT rowid, rank FROM fts WHERE fts MATCH ? ORDER BY rowid DESC LIMIT ${RELEVANCE_WINDOW}) ORDER BY rank, rowid DESC LIMIT ?`,
  );
  return { rank: (match, limit) => byRow.all(match, limit).map((r) => (rows[r.rowid - 1] as IndexedMessage).id), close: () => db.close() };
}

describe('SearchIndex in parts', () => {
  it('spreads messages over every part, and a query merges them newest first, by conversation and by date', () => {
    const rows = messages(2000, 1);
    const index = SearchIndex.create();
    index.upsert(rows);
    const bytes = index.serialize();
    const perPart = splitImage(bytes, INDEX_PARTS).map((part) => {
      const db = new Database(Buffer.from(part));
      const n = (db.prepare('SELECT count(*) AS n FROM docs').get() as { n: number }).n;
      db.close();
      return n;
    });
    bytes.fill(0);
    expect(perPart.reduce((a, b) => a + b, 0)).toBe(2000);
    for (const n of perPart) expect(n).toBeGreaterThan(2000 / INDEX_PARTS / 2);
    expect(index.size).toBe(2000);

    const newest = [...rows].sort((a, b) => b.sentAt - a.sentAt || Number(b.id > a.id) - Number(a.id > b.id));
    const having = (w: string): IndexedMessage[] => newest.filter((m) => m.text.split(' ').includes(w));
    for (const w of [WORDS[0], WORDS[7], WORDS[120]] as string[]) {
      expect(index.search(q(`${w} `)).map((h) => h.id), w).toEqual(having(w).slice(0, 50).map((m) => m.id));
      expect(index.search(q(`${w} `, { conversationId: 'conv-3', limit: 10 })).map((h) => h.id)).toEqual(
        having(w).filter((m) => m.conversationId === 'conv-3').slice(0, 10).map((m) => m.id),
      );
      const from = 1_000_000 + 500_000;
      const to = 1_000_000 + 900_000;
      expect(index.search(q(`${w} `, { from, to })).map((h) => h.id)).toEqual(having(w).filter((m) => m.sentAt >= from && m.sentAt <= to).slice(0, 50).map((m) => m.id));
    }
    // A prefix's words come from every part's list, once each.
    expect(index.expandPrefix('w1', 1000)).toEqual(WORDS.filter((w) => w.startsWith('w1')).filter((w) => having(w).length > 0).sort());
    // Removed from its part: gone from search and from the merged prefix list once no part holds it.
    const rare = 'onlyoncehere';
    index.upsert([{ id: hexId(5000), conversationId: 'conv-1', sentAt: 5, text: `${rare} ${WORDS[0] as string}` }]);
    expect(index.search(q(`${rare} `)).map((h) => h.id)).toEqual([hexId(5000)]);
    expect(index.expandPrefix(rare.slice(0, 8), 10)).toEqual([rare]);
    index.remove([hexId(5000)]);
    expect(index.search(q(`${rare} `))).toEqual([]);
    expect(index.expandPrefix(rare, 10)).toEqual([]);
    index.close();
  });

  it('relevance across parts stays close to one database ranking all of them by bm25', () => {
    // 8,000 messages: each part ~500, more than its share of the relevance window.
    const rows = messages(8000, 2);
    const index = SearchIndex.create();
    index.upsert(rows);
    const one = oneDatabase(rows);
    const r = rng(3);
    let overlap = 0;
    let firstSame = 0;
    const QUERIES = 40;
    for (let i = 0; i < QUERIES; i++) {
      const words = Array.from({ length: 1 + Math.floor(r() * 2) }, () => WORDS[Math.floor(60 * r())] as string).join(' ');
      const query = q(`${words} `, { order: 'relevance', limit: 10 });
      const got = index.search(query).map((h) => h.id);
      const want = one.rank(query.match, 10);
      expect(got.length).toBe(want.length);
      overlap += got.filter((id) => want.includes(id)).length / Math.max(1, want.length);
      if (got[0] === want[0]) firstSame++;
    }
    one.close();
    index.close();
    // Each part is a random sixteenth of the history, so its document count, mean length and a
    // word's document frequency are close to the whole's: most of the top 10 agree (measured
    // 0.825 of the top 10 and the same first hit in 0.625 of the queries here with 16 parts,
    // ~500 messages a part; 0.89 / 0.68 with 8). Not equal: near-ties between common words can swap.
    expect(overlap / QUERIES).toBeGreaterThan(0.8);
    expect(firstSame / QUERIES).toBeGreaterThan(0.5);
  });

  it('a restore opens one part per turn; a throw between parts ends it and leaves the image to the caller', async () => {
    const index = SearchIndex.create();
    index.upsert(messages(300, 4));
    index.seq = 7;
    const bytes = index.serialize();
    index.close();
    const copy = Buffer.from(bytes);
    let turns = 0;
    const opened: number[] = [];
    const restored = await SearchIndex.restoreInSteps(bytes, async () => void turns++, (ms) => opened.push(ms));
    expect(turns).toBe(INDEX_PARTS - 1);
    expect(opened).toHaveLength(INDEX_PARTS);
    expect(restored.size).toBe(300);
    expect(restored.seq).toBe(7);
    restored.close();

    turns = 0;
    const stop = new VaultLocked();
    await expect(
      SearchIndex.restoreInSteps(bytes, async () => {
        if (++turns === 3) throw stop;
      }),
    ).rejects.toBe(stop);
    expect(turns).toBe(3);
    expect(bytes.equals(copy)).toBe(true); // not consumed: the caller zeroes it
  });
});

describe('SearchService restore in parts', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'ephemera-search-parts-'));
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('a lock between two parts ends the open with VaultLocked; the next unlock restores from the same snapshot', async () => {
    const profile = join(root, 'profile');
    const password = 'correct horse battery staple 42';
    const { vault } = await Vault.create(profile, password, { kdf: TEST_KDF });
    vault.appendMessages(corpus());
    (await SearchService.open(vault)).close();
    vault.lock();

    const locking = await Vault.unlock(profile, password);
    // The restore reports each part as it is opened: lock the vault after the second.
    let parts = 0;
    const timings = new Proxy(newRestoreTimings(), {
      set(target, key, value: number) {
        if (key === 'deserializeMs' && ++parts === 2) locking.lock();
        return Reflect.set(target, key, value);
      },
    });
    await expect(SearchService.open(locking, { restoreTimings: timings })).rejects.toBeInstanceOf(VaultLocked);
    expect(parts).toBe(2);

    const again = await Vault.unlock(profile, password);
    const service = await SearchService.open(again);
    expect(service.openedFrom).toBe('snapshot');
    expect(service.search({ text: 'zanzibarcafe', limit: 10 }).map((h) => h.id)).toEqual([hexId(2), hexId(1)]);
    service.close();
    again.lock();
  });
});
