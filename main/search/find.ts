// The query path of the search service: a request checked, run against the in-memory index, and
// each hit given its snippet cut from the message itself (read from the vault, never stored in
// the index). The service keeps the index current before calling in (service.ts search()).
import { z } from 'zod';
import type { StoredMessage, VaultHandle } from '../vault/api.ts';
import { MAX_LIMIT, type SearchIndex } from './index-db.ts';
import { MAX_PREFIX_EXPANSION, MAX_QUERY_LENGTH, parseQuery, toFtsMatch } from './query.ts';
import { makeSnippet, type Snippet } from './snippet.ts';

export const searchRequestSchema = z.object({
  text: z.string().max(MAX_QUERY_LENGTH * 4),
  conversationId: z.string().min(1).max(200).optional(),
  /** Inclusive, ms since the epoch (message sentAt). */
  from: z.number().finite().optional(),
  to: z.number().finite().optional(),
  order: z.enum(['newest', 'relevance']).default('newest'),
  limit: z.number().int().min(1).max(MAX_LIMIT).default(50),
});
export type SearchRequest = z.input<typeof searchRequestSchema>;
export type ParsedSearchRequest = z.output<typeof searchRequestSchema>;

export interface SearchHit {
  id: string;
  conversationId: string;
  sender: string;
  direction: StoredMessage['direction'];
  sentAt: number;
  orderKey: number;
  snippet: Snippet;
  /** bm25 (lower is more relevant) in relevance order; 0 in newest-first order. */
  score: number;
}

/** Searchable text a message has beside its own (an attachment's file name), from the messenger. */
export type ExtraText = ((m: StoredMessage) => string | undefined) | undefined;

/** The text a message is indexed (and its snippet cut) under: its own text, then any extra. */
export function indexedText(m: StoredMessage, extra: ExtraText): string {
  const more = extra?.(m);
  if (!more) return m.text;
  return m.text === '' ? more : `${m.text}\n${more}`;
}

/** Runs a checked request on the index; hits whose message the vault no longer has are left out. */
export function findMessages(index: SearchIndex, source: Pick<VaultHandle, 'getMessage'>, req: ParsedSearchRequest, extra: ExtraText): SearchHit[] {
  const query = parseQuery(req.text);
  const match = toFtsMatch(query, (prefix) => index.expandPrefix(prefix, MAX_PREFIX_EXPANSION));
  if (match === undefined) return [];
  const hits = index.search({
    match,
    order: req.order,
    limit: req.limit,
    ...(req.conversationId !== undefined ? { conversationId: req.conversationId } : {}),
    ...(req.from !== undefined ? { from: req.from } : {}),
    ...(req.to !== undefined ? { to: req.to } : {}),
  });
  const out: SearchHit[] = [];
  for (const hit of hits) {
    // The snippet comes from the message itself, fetched from the vault.
    const m = source.getMessage(hit.id);
    if (!m) continue;
    out.push({
      id: m.id,
      conversationId: m.conversationId,
      sender: m.sender,
      direction: m.direction,
      sentAt: m.sentAt,
      orderKey: m.orderKey,
      snippet: makeSnippet(indexedText(m, extra), query),
      score: hit.score,
    });
  }
  return out;
}
