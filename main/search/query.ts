// Parses what the user typed into clauses that the FTS5 index and the snippet highlighter both
// understand. Query text goes through the same tokenizer as message text.
//
//   plain words      -> every word must occur (AND); the last word typed is a prefix
//   "quoted words"   -> a phrase: the words consecutively, in order
//   CJK text         -> a phrase of its bigrams (substring match); one CJK char -> that char anywhere
import { tokenize, type Token } from './tokenize.ts';

/** Longest query accepted, in UTF-16 units; longer input is cut (a search box, not a document). */
export const MAX_QUERY_LENGTH = 512;
/** At most this many clauses are used; the rest are ignored (bounds the work per query). */
export const MAX_CLAUSES = 16;
/** A last word shorter than this matches as a whole word: short prefixes expand to a large part of the vocabulary. */
export const MIN_PREFIX_LENGTH = 3;

export type Clause =
  /** One token in `body`; `prefix` matches every token starting with it. */
  | { kind: 'term'; term: string; prefix: boolean }
  /** Consecutive tokens in `body`. */
  | { kind: 'phrase'; terms: string[] }
  /** One CJK character in the `uni` column. */
  | { kind: 'char'; term: string };

export interface ParsedQuery {
  clauses: Clause[];
}

function quote(term: string): string {
  // Tokens hold only letters, numbers and marks, but quote defensively anyway.
  return `"${term.replace(/"/g, '""')}"`;
}

/** Splits tokens of one unquoted stretch into clauses: words stand alone, each CJK run is a phrase. */
function looseClauses(tokens: Token[], lastIsPrefix: boolean): Clause[] {
  const clauses: Clause[] = [];
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i] as Token;
    if (t.kind === 'word') {
      const isLast = i === tokens.length - 1;
      clauses.push({ kind: 'term', term: t.term, prefix: isLast && lastIsPrefix && t.term.length >= MIN_PREFIX_LENGTH });
      i++;
      continue;
    }
    if (t.kind === 'cjk1') {
      clauses.push({ kind: 'char', term: t.term });
      i++;
      continue;
    }
    const terms: string[] = [];
    while (i < tokens.length && (tokens[i] as Token).kind === 'bigram' && (tokens[i] as Token).run === t.run) {
      terms.push((tokens[i] as Token).term);
      i++;
    }
    clauses.push(terms.length === 1 ? { kind: 'term', term: terms[0] as string, prefix: false } : { kind: 'phrase', terms });
  }
  return clauses;
}

export function parseQuery(input: string): ParsedQuery {
  const text = input.slice(0, MAX_QUERY_LENGTH);
  const clauses: Clause[] = [];
  // Alternating outside/inside quotes; an unclosed quote runs to the end.
  const parts = text.split('"');
  const endsOpen = !/[\s"]$/u.test(text);
  parts.forEach((part, index) => {
    const quoted = index % 2 === 1;
    const isLastPart = index === parts.length - 1;
    const tokens = tokenize(part).body;
    if (tokens.length === 0) return;
    if (quoted) {
      const only = tokens[0] as Token;
      if (tokens.length === 1) {
        clauses.push(only.kind === 'cjk1' ? { kind: 'char', term: only.term } : { kind: 'term', term: only.term, prefix: false });
      } else {
        clauses.push({ kind: 'phrase', terms: tokens.map((t) => t.term) });
      }
    } else {
      clauses.push(...looseClauses(tokens, isLastPart && endsOpen));
    }
  });
  return { clauses: clauses.slice(0, MAX_CLAUSES) };
}

/** Most words a prefix is expanded to (see SearchIndex.expandPrefix); beyond, FTS5's own prefix query is used. */
export const MAX_PREFIX_EXPANSION = 64;

/**
 * The FTS5 MATCH expression for a parsed query, or undefined when there is nothing to match.
 * `expand` may replace a prefix by the list of indexed words that start with it.
 */
export function toFtsMatch(query: ParsedQuery, expand?: (prefix: string) => string[] | undefined): string | undefined {
  if (query.clauses.length === 0) return undefined;
  const parts = query.clauses.map((c) => {
    switch (c.kind) {
      case 'term': {
        if (!c.prefix) return `body : ${quote(c.term)}`;
        const words = expand?.(c.term);
        if (words === undefined || words.length === 0) return `body : ${quote(c.term)} *`;
        return `body : (${words.map(quote).join(' OR ')})`;
      }
      case 'phrase':
        return `body : ${quote(c.terms.join(' '))}`;
      case 'char':
        return `uni : ${quote(c.term)}`;
    }
  });
  return parts.join(' AND ');
}
