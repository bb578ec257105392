// A query over the search index's parts (index-db.ts): every part is asked and the answers merged
// as one database would give them (docs/search.md "Index in parts").
import { decodeId, docRange } from './doc-ids.ts';
import { RELEVANCE_WINDOW, type Part } from './index-part.ts';

/** Most hits one query returns. */
export const MAX_LIMIT = 1000;

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

export interface IndexHit {
  id: string;
  /** bm25 score (lower is better) when ordered by relevance, else 0. */
  score: number;
}

interface Found {
  doc: bigint;
  score: number;
  part: number;
}

function newestFirst(a: { doc: bigint }, b: { doc: bigint }): number {
  return a.doc > b.doc ? -1 : a.doc < b.doc ? 1 : 0;
}

/**
 * `q` over `parts` with `match` (q.match with the conversation clause, if any, already added).
 * Newest first: each part's newest `limit`, the newest `limit` of those. Relevance: the newest
 * RELEVANCE_WINDOW matches over all parts, each part's share ranked by bm25 (with the part's own
 * statistics), the best `limit` of those.
 */
export function searchParts(parts: readonly Part[], match: string, q: IndexQuery): IndexHit[] {
  const { lo, hi } = docRange(q.from, q.to);
  const limit = Math.max(1, Math.min(MAX_LIMIT, Math.floor(q.limit)));
  const newest = (from: bigint, n: number): Found[] => {
    const found: Found[] = [];
    parts.forEach((p, part) => {
      for (const r of p.stmts.newest.all(match, from, hi, n)) found.push({ doc: r.doc, score: 0, part });
    });
    return found.sort(newestFirst).slice(0, n);
  };
  let hits: Found[];
  if (q.order === 'relevance') {
    // The window is the newest RELEVANCE_WINDOW matches over every part, as in one database;
    // each part then ranks only its share of it, so bm25 runs on the window once, not per part.
    const window = newest(lo, RELEVANCE_WINDOW);
    const from = window.length === RELEVANCE_WINDOW ? (window[window.length - 1] as { doc: bigint }).doc : lo;
    hits = [];
    parts.forEach((p, part) => {
      for (const r of p.stmts.relevance.all(match, from, hi, limit)) hits.push({ doc: r.doc, score: Number(r.score), part });
    });
    hits.sort((a, b) => a.score - b.score || newestFirst(a, b));
  } else {
    hits = newest(lo, limit);
  }
  return hits.slice(0, limit).map((h) => ({ id: decodeId((parts[h.part] as Part).stmts.idOf.get(h.doc)?.id), score: h.score }));
}
