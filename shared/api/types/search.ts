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
});

export const SearchResult = z.strictObject({
  hits: z.array(SearchHit).max(200),
  /** True when more hits exist than `limit`. */
  truncated: z.boolean(),
});

export type SnippetPart = z.infer<typeof SnippetPart>;
export type SearchHit = z.infer<typeof SearchHit>;
export type SearchResult = z.infer<typeof SearchResult>;
