// Tokenizer shared by indexing and querying, so both always agree (DESIGN.md "Search and
// history browsing"). Word boundaries come from Intl.Segmenter (ICU) for every script; runs of
// CJK characters are additionally cut into overlapping bigrams, as Lucene's CJK analyzer does,
// because ICU's dictionary segmentation of CJK depends on context and would make a query
// segment differently from the message it should find.
//
// Every token consists only of letters, numbers and marks (\p{L}\p{N}\p{M}), so SQLite FTS5's
// `ascii` tokenizer (which splits only on ASCII non-alphanumerics) keeps each one intact.

/** Bump when tokenization changes: a snapshot built with another version is rebuilt. */
export const TOKENIZER_VERSION = 1;

/** A token of the `body` stream with the span of text (in the NFC form of the input) it came from. */
export interface Token {
  /** Folded token text as stored in the index. */
  term: string;
  /** 'word': a non-CJK word piece; 'bigram': two CJK chars; 'cjk1': a lone CJK char (run of length 1). */
  kind: 'word' | 'bigram' | 'cjk1';
  start: number;
  end: number;
  /** Index of the CJK run this token belongs to (bigram/cjk1 only); -1 for words. */
  run: number;
}

/** A single CJK character of the `uni` stream (every CJK char, so a one-char query finds it anywhere). */
export interface CjkChar {
  term: string;
  start: number;
  end: number;
  run: number;
}

export interface Tokenized {
  /** The NFC form of the input; token spans index into this string. */
  text: string;
  body: Token[];
  uni: CjkChar[];
}

// Combining diacritics of Latin, Greek and Cyrillic (and Arabic harakat). Marks of other
// scripts (Devanagari vowel signs, kana voicing marks) carry meaning and are kept.
// eslint-disable-next-line no-misleading-character-class -- ranges of lone combining marks, removed one by one
const DIACRITICS = /[\u0300-\u036f\u064b-\u065f\u0670\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/g;
// eslint-disable-next-line no-misleading-character-class -- kana voicing marks count as CJK so they join their run
const CJK = /^(?:(?=[\p{L}\p{N}\p{M}])[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Hangul}\u3005\u3006\u3007\u303b\u3099\u309a\u30fc])+$/u;
const MARK = /^\p{M}+$/u;
const NON_TOKEN = /[^\p{L}\p{N}\p{M}]+/u;

// Message text repeats words a lot (Zipf); folding each distinct short word once saves most of
// the normalization work. Bounded: cleared when full.
const foldCache = new Map<string, string>();
const FOLD_CACHE_MAX = 50_000;

function foldCached(s: string): string {
  if (s.length > 24) return fold(s);
  let f = foldCache.get(s);
  if (f === undefined) {
    if (foldCache.size >= FOLD_CACHE_MAX) foldCache.clear();
    f = fold(s);
    foldCache.set(s, f);
  }
  return f;
}

/** Case- and diacritic-folding: NFKD, drop combining diacritics, lower case, ß -> ss, final sigma -> sigma. */
export function fold(s: string): string {
  return s
    .toLowerCase()
    .normalize('NFKD')
    .replace(DIACRITICS, '')
    .toLowerCase()
    .normalize('NFC')
    .replace(/ß/g, 'ss')
    .replace(/ς/g, 'σ');
}

function isCjk(folded: string): boolean {
  return folded.length > 0 && CJK.test(folded);
}

const segmenter = new Intl.Segmenter('und', { granularity: 'word' });
const ASCII = /^\p{ASCII}*$/u;
const ASCII_WORD = /[A-Za-z0-9]+/g;
// Anything that might fold to a CJK character (CJK blocks, Hangul jamo, half/full-width forms,
// CJK compatibility, supplementary ideographs); segments without any take the fast path.
const MAYBE_CJK = /[\u1100-\u11ff\u2e80-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u{1b000}-\u{1b16f}\u{1f200}-\u{1f2ff}\u{20000}-\u{3ffff}]/u;

// Scripts written without spaces between words, which need ICU's dictionary segmentation:
// Thai, Lao, Myanmar, Khmer. (CJK needs no segmenter: its runs are cut into bigrams.)
const NEEDS_SEGMENTER = /[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u19e0-\u19ff\ua9e0-\ua9ff\uaa60-\uaa7f]/u;
const LETTER_RUN = /[\p{L}\p{Nd}\p{Nl}\p{M}]+/gu; // WB ALetter/Numeric, roughly: not ½ or ²
// Common CJK characters (hiragana, katakana, unified ideographs, Hangul syllables) fold to
// themselves: skip the per-character fold and script checks for them.
function isCjkIdentity(c: number): boolean {
  return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xac00 && c <= 0xd7a3) || (c >= 0x3041 && c <= 0x3096) || (c >= 0x30a1 && c <= 0x30fa);
}

// For pure ASCII text, splitting on non-alphanumerics gives exactly the terms of the general
// path (a word segment split on non-letters/numbers), at a fraction of the cost.
function tokenizeAscii(text: string): Tokenized {
  const body: Token[] = [];
  for (const m of text.matchAll(ASCII_WORD)) {
    body.push({ term: m[0].toLowerCase(), kind: 'word', start: m.index, end: m.index + m[0].length, run: -1 });
  }
  return { text, body, uni: [] };
}

/** Tokenizes a message text or a query part. */
export function tokenize(input: string): Tokenized {
  if (ASCII.test(input)) return tokenizeAscii(input);
  return NEEDS_SEGMENTER.test(input) ? tokenizeWithSegmenter(input) : tokenizeLetterRuns(input);
}

interface Piece {
  index: number;
  segment: string;
  isWordLike?: boolean;
}

/**
 * Scripts that separate words with spaces or punctuation: a word is a run of letters, numbers
 * and marks, which is what a Segmenter word split on non-letters would give, without the
 * segmenter's cost. CJK inside those runs is cut into bigrams as usual.
 */
export function tokenizeLetterRuns(input: string): Tokenized {
  const text = input.normalize('NFC');
  return scan(text, text.matchAll(LETTER_RUN), 'runs');
}

/** The general path: Intl.Segmenter words (needed for Thai, Lao, Khmer, Myanmar) plus CJK runs. */
export function tokenizeWithSegmenter(input: string): Tokenized {
  const text = input.normalize('NFC');
  return scan(text, segmenter.segment(text), 'segments');
}

function scan(text: string, pieces: Iterable<Piece | RegExpExecArray>, kind: 'runs' | 'segments'): Tokenized {
  const body: Token[] = [];
  const uni: CjkChar[] = [];
  let runIndex = 0;
  let run: { term: string; start: number; end: number }[] = [];
  let lastEnd = 0;

  const flushRun = (): void => {
    if (run.length === 0) return;
    const r = runIndex++;
    for (const c of run) uni.push({ term: c.term, start: c.start, end: c.end, run: r });
    const first = run[0];
    if (run.length === 1 && first) {
      body.push({ term: first.term, kind: 'cjk1', start: first.start, end: first.end, run: r });
    } else {
      for (let i = 0; i + 1 < run.length; i++) {
        const a = run[i];
        const b = run[i + 1];
        if (a && b) body.push({ term: a.term + b.term, kind: 'bigram', start: a.start, end: b.end, run: r });
      }
    }
    run = [];
  };

  const pushWords = (start: number, end: number): void => {
    if (end <= start) return;
    for (const piece of foldCached(text.slice(start, end)).split(NON_TOKEN)) {
      if (piece.length > 0) body.push({ term: piece, kind: 'word', start, end, run: -1 });
    }
  };

  for (const p of pieces) {
    const segment = 'segment' in p ? p.segment : p[0];
    const wordLike = kind === 'runs' || ('isWordLike' in p && p.isWordLike === true);
    const segStart = p.index;
    // Letter runs are separated by gaps of other characters, which end a CJK run.
    if (segStart !== lastEnd) flushRun();
    lastEnd = segStart + segment.length;
    if (!MAYBE_CJK.test(segment)) {
      flushRun();
      if (wordLike) pushWords(segStart, lastEnd);
      continue;
    }
    let wordStart = -1; // start of the pending non-CJK stretch inside this segment
    let offset = segStart;
    for (const ch of segment) {
      const chEnd = offset + ch.length;
      const identity = isCjkIdentity(ch.charCodeAt(0));
      const folded = identity ? ch : fold(ch);
      if (identity || isCjk(folded)) {
        if (wordStart >= 0) {
          pushWords(wordStart, offset);
          wordStart = -1;
        }
        const last = run[run.length - 1];
        if (!identity && MARK.test(folded) && last && last.end === offset) {
          // Half-width voiced marks and the like attach to the kana before them.
          last.term = (last.term + folded).normalize('NFC');
          last.end = chEnd;
        } else {
          for (const f of folded) run.push({ term: f, start: offset, end: chEnd });
        }
      } else {
        flushRun();
        if (wordLike && wordStart < 0) wordStart = offset;
      }
      offset = chEnd;
    }
    if (wordStart >= 0) pushWords(wordStart, offset);
  }
  flushRun();
  return { text, body, uni };
}

/** The text given to FTS5 for one message: tokens joined by spaces, one string per column; plus its distinct words (for prefix expansion). */
export function indexColumns(input: string): { body: string; uni: string; words: Set<string> } {
  const t = tokenize(input);
  const words = new Set<string>();
  for (const x of t.body) if (x.kind === 'word') words.add(x.term);
  return { body: t.body.map((x) => x.term).join(' '), uni: t.uni.map((x) => x.term).join(' '), words };
}
