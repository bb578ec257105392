import { describe, expect, it } from 'vitest';
import { MAX_CLAUSES, parseQuery, toFtsMatch } from '../../main/search/query.ts';
import { makeSnippet, matchSpans } from '../../main/search/snippet.ts';

describe('parseQuery', () => {
  it('makes the last word typed a prefix, others whole words', () => {
    expect(parseQuery('hello wor').clauses).toEqual([
      { kind: 'term', term: 'hello', prefix: false },
      { kind: 'term', term: 'wor', prefix: true },
    ]);
  });
  it('a trailing space ends the prefix', () => {
    expect(parseQuery('hello wor ').clauses.at(-1)).toEqual({ kind: 'term', term: 'wor', prefix: false });
  });
  it('a last word of fewer than 3 chars is matched whole', () => {
    expect(parseQuery('hello wo').clauses.at(-1)).toEqual({ kind: 'term', term: 'wo', prefix: false });
  });
  it('quoted text is a phrase, folded', () => {
    expect(parseQuery('"Crème Brûlée" x').clauses).toEqual([
      { kind: 'phrase', terms: ['creme', 'brulee'] },
      { kind: 'term', term: 'x', prefix: false },
    ]);
  });
  it('an unclosed quote runs to the end and is not a prefix', () => {
    expect(parseQuery('"big red').clauses).toEqual([{ kind: 'phrase', terms: ['big', 'red'] }]);
  });
  it('CJK text becomes a phrase of bigrams; one char matches the char column', () => {
    expect(parseQuery('東京タワー').clauses).toEqual([{ kind: 'phrase', terms: ['東京', '京タ', 'タワ', 'ワー'] }]);
    expect(parseQuery('東京').clauses).toEqual([{ kind: 'term', term: '東京', prefix: false }]);
    expect(parseQuery('京').clauses).toEqual([{ kind: 'char', term: '京' }]);
  });
  it('builds an FTS5 expression with quoted tokens only', () => {
    expect(toFtsMatch(parseQuery('Straße "a b" 京 abc'))).toBe('body : "strasse" AND body : "a b" AND uni : "京" AND body : "abc" *');
  });
  it('operators and punctuation typed by the user are just separators', () => {
    expect(toFtsMatch(parseQuery('NEAR( x OR y* ) -z ^w'))).toBe('body : "near" AND body : "x" AND body : "or" AND body : "y" AND body : "z" AND body : "w"');
  });
  it('empty or punctuation-only queries match nothing', () => {
    expect(toFtsMatch(parseQuery('  ?! "" '))).toBeUndefined();
  });
  it('bounds the number of clauses', () => {
    expect(parseQuery(Array.from({ length: 50 }, (_, i) => `w${i}`).join(' ')).clauses).toHaveLength(MAX_CLAUSES);
  });
});

describe('snippets', () => {
  it('marks every matching word in the original text', () => {
    const text = 'Die STRASSE und die Straße';
    const spans = matchSpans(text, parseQuery('strasse '));
    expect(spans.map((s) => text.slice(s.start, s.end))).toEqual(['STRASSE', 'Straße']);
  });
  it('marks prefixes, phrases and CJK', () => {
    const text = 'Meet at 東京タワー tonight, tonite';
    const q = parseQuery('タワー "meet at" toni');
    const spans = matchSpans(text, q);
    expect(spans.map((s) => text.slice(s.start, s.end))).toEqual(['Meet at', 'タワー', 'tonight', 'tonite']);
  });
  it('cuts long texts around the first match with ellipses', () => {
    const text = `${'filler '.repeat(60)}NEEDLE ${'tail '.repeat(60)}`;
    const s = makeSnippet(text, parseQuery('needle '), 80);
    expect(s.text.startsWith('…')).toBe(true);
    expect(s.text.endsWith('…')).toBe(true);
    expect(s.text.length).toBeLessThanOrEqual(82);
    expect(s.highlights).toHaveLength(1);
    const h = s.highlights[0];
    expect(h && s.text.slice(h.start, h.end)).toBe('NEEDLE');
  });
});
