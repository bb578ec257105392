// Search in the stored history as the API shows it: hits with conversation titles and
// highlighted snippet parts, bounded for the contract. (Opened backups: messenger/backups.ts.)
import { MAX_SEARCH_HITS, type ParamsOf, type SearchResult } from '../../shared/api.ts';
import type { SearchService } from '../search/service.ts';
import type { Vault } from '../vault/index.ts';
import type { UnlockedSession } from './session.ts';

const SEARCH_CATCH_UP_MS = 50;
/**
 * Target length of one indexing slice. Indexing costs 0.1-0.2 ms a message here, so the 2,000 a
 * catch-up can commit between two timer turns were one 200-400 ms block of the main thread; in
 * slices of this length with a turn of the event loop between them, receiving and the window
 * keep running (the loop-delay bar is 50 ms).
 */
const SLICE_TARGET_MS = 10;
const FIRST_SLICE = 100;
const MIN_SLICE = 20;
const MAX_SLICE = 2000;

/** Indexes new messages shortly after they are stored (one catch-up for a burst, in bounded slices). */
export class SearchCatchUp {
  /** Cancels the pending timer or immediate; undefined when none is pending. */
  private cancel: (() => void) | undefined;
  /** Changes per slice, adapted to SLICE_TARGET_MS from the last slice's time. */
  private perSlice = FIRST_SLICE;

  constructor(private readonly current: () => UnlockedSession | undefined) {}

  schedule(): void {
    if (this.cancel) return;
    const timer = setTimeout(() => this.step(), SEARCH_CATCH_UP_MS);
    this.cancel = () => clearTimeout(timer);
  }

  private step(): void {
    this.cancel = undefined;
    let more = false;
    try {
      const session = this.current();
      if (session?.vault.isUnlocked) {
        const t0 = performance.now();
        const slice = session.search.catchUpSlice(this.perSlice);
        more = slice.more;
        if (slice.applied >= this.perSlice / 2) {
          const scaled = Math.round((slice.applied * SLICE_TARGET_MS) / Math.max(0.1, performance.now() - t0));
          this.perSlice = Math.max(MIN_SLICE, Math.min(MAX_SLICE, this.perSlice * 2, scaled));
        }
      }
    } catch {
      // The next search catches up again.
    }
    if (more && !this.cancel) {
      const next = setImmediate(() => this.step());
      this.cancel = () => clearImmediate(next);
    }
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
  }
}

export function searchHistory(vault: Vault, service: SearchService, params: ParamsOf<'search'>): SearchResult {
  // One more than asked tells whether more exist; the index returns MAX_SEARCH_HITS at most.
  const hits = service.search({
    text: params.query,
    order: params.order,
    limit: Math.min(params.limit + 1, MAX_SEARCH_HITS),
    ...(params.conversationId !== undefined ? { conversationId: params.conversationId } : {}),
    ...(params.from !== undefined ? { from: params.from } : {}),
    ...(params.to !== undefined ? { to: params.to } : {}),
  });
  const titles = new Map<string, string>();
  const titleOf = (id: string): string => {
    let t = titles.get(id);
    if (t === undefined) {
      t = vault.getConversation(id)?.title ?? '';
      titles.set(id, t);
    }
    return t.slice(0, 256);
  };
  return {
    truncated: hits.length > params.limit || hits.length === MAX_SEARCH_HITS,
    hits: hits.slice(0, params.limit).map((h) => ({
      messageId: h.id,
      conversationId: h.conversationId,
      conversationTitle: titleOf(h.conversationId),
      direction: h.direction,
      sentAt: h.sentAt,
      snippet: snippetParts(h.snippet.text, h.snippet.highlights),
      ...(h.sender.length > 0 ? { sender: h.sender.slice(0, 256) } : {}),
      orderKey: h.orderKey,
      ...(params.order === 'relevance' ? { score: h.score } : {}),
    })),
  };
}

function snippetParts(text: string, highlights: readonly { start: number; end: number }[]): { text: string; match: boolean }[] {
  const parts: { text: string; match: boolean }[] = [];
  let at = 0;
  for (const h of highlights) {
    if (h.start > at) parts.push({ text: text.slice(at, h.start), match: false });
    parts.push({ text: text.slice(h.start, h.end), match: true });
    at = h.end;
  }
  if (at < text.length) parts.push({ text: text.slice(at), match: false });
  return parts.slice(0, 64).map((p) => ({ text: p.text.slice(0, 1000), match: p.match }));
}
