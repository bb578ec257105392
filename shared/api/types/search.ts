// Search results (shared/api.ts).
import { z } from 'zod';
import { Id, Timestamp } from './scalars.ts';
import { MessageDirection } from './messages.ts';

export const SnippetPart = z.strictObject({ text: z.string().max(1000), match: z.boolean() });

export const SearchHit = z.strictObject({
  messageId: Id,
  conversationId: Id,
  conversationTitle: z.string().max(256),
  direction: MessageDirection,
  sentAt: Timestamp,
  /** The snippet as parts so the UI marks matches without HTML. */
  snippet: z.array(SnippetPart).max(64),
  // Stored history only (absent for an opened backup); the CLI's --json prints them.
  /** Who the message is from as stored: a contact id, 'self' for own messages, a group member's form for group ones. */
  sender: z.string().min(1).max(256).optional(),
  /** The message's place in its conversation (history anchors order by it). */
  orderKey: z.number().int().optional(),
  /** bm25, lower is more relevant: only in relevance order. */
  score: z.number().optional(),
});

/** The most hits one search returns (the index's own limit, main/search/index-db.ts MAX_LIMIT). */
export const MAX_SEARCH_HITS = 1000;

export const SearchResult = z.strictObject({
  hits: z.array(SearchHit).max(MAX_SEARCH_HITS),
  /** True when more hits exist than `limit` (at the most, MAX_SEARCH_HITS: when that many were found). */
  truncated: z.boolean(),
});

export type SnippetPart = z.infer<typeof SnippetPart>;
export type SearchHit = z.infer<typeof SearchHit>;
export type SearchResult = z.infer<typeof SearchResult>;
