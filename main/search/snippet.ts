// Builds the snippet shown for a search hit from the message's own text: the index holds only
// folded tokens, so the words are found again by tokenizing the text with the same tokenizer.
import { tokenize, type Token } from './tokenize.ts';
import type { ParsedQuery } from './query.ts';

export interface Highlight {
  /** Offsets into `Snippet.text` (UTF-16 units), end exclusive. */
  start: number;
  end: number;
}

export interface Snippet {
  /** An excerpt of the message (NFC form), with an ellipsis where it was cut. */
  text: string;
  /** The parts of `text` that matched the query, ascending, not overlapping. */
  highlights: Highlight[];
}

export const DEFAULT_SNIPPET_LENGTH = 160;
const ELLIPSIS = '…';

/** Spans of the text (NFC) that match the query's clauses, merged and ascending. */
export function matchSpans(text: string, query: ParsedQuery): Highlight[] {
  const t = tokenize(text);
  const spans: Highlight[] = [];
  const body: Token[] = t.body;
  for (const c of query.clauses) {
    if (c.kind === 'term') {
      for (const tok of body) {
        if (c.prefix ? tok.term.startsWith(c.term) : tok.term === c.term) spans.push({ start: tok.start, end: tok.end });
      }
    } else if (c.kind === 'char') {
      for (const ch of t.uni) if (ch.term === c.term) spans.push({ start: ch.start, end: ch.end });
    } else {
      for (let i = 0; i + c.terms.length <= body.length; i++) {
        if (c.terms.every((term, k) => (body[i + k] as Token).term === term)) {
          spans.push({ start: (body[i] as Token).start, end: (body[i + c.terms.length - 1] as Token).end });
        }
      }
    }
  }
  spans.sort((a, b) => a.start - b.start || a.end - b.end);
  const merged: Highlight[] = [];
  for (const s of spans) {
    const last = merged[merged.length - 1];
    if (last && s.start <= last.end) last.end = Math.max(last.end, s.end);
    else merged.push({ ...s });
  }
  return merged;
}

/** An excerpt of at most about `maxLength` characters around the first match. */
export function makeSnippet(text: string, query: ParsedQuery, maxLength = DEFAULT_SNIPPET_LENGTH): Snippet {
  const nfc = text.normalize('NFC');
  const spans = matchSpans(nfc, query);
  if (nfc.length <= maxLength) return { text: nfc, highlights: spans };
  const first = spans[0];
  // Start a little before the first match so it has context, but never cut a surrogate pair.
  let start = first ? Math.max(0, first.start - Math.floor(maxLength / 4)) : 0;
  let end = Math.min(nfc.length, start + maxLength);
  start = Math.max(0, Math.min(start, end - maxLength));
  if (start > 0 && /[\udc00-\udfff]/.test(nfc[start] ?? '')) start++;
  if (end < nfc.length && /[\udc00-\udfff]/.test(nfc[end] ?? '')) end--;
  const prefix = start > 0 ? ELLIPSIS : '';
  const suffix = end < nfc.length ? ELLIPSIS : '';
  const shift = prefix.length - start;
  const highlights = spans
    .filter((s) => s.start >= start && s.end <= end)
    .map((s) => ({ start: s.start + shift, end: s.end + shift }));
  return { text: prefix + nfc.slice(start, end) + suffix, highlights };
}
