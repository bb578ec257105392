import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fold, indexColumns, tokenize, tokenizeLetterRuns, tokenizeWithSegmenter } from '../../main/search/tokenize.ts';

const terms = (s: string): string[] => tokenize(s).body.map((t) => t.term);

describe('fold', () => {
  it('folds case and Latin diacritics', () => {
    expect(fold('Crème Brûlée')).toBe('creme brulee');
    expect(fold('ÉCOLE naïve Ångström')).toBe('ecole naive angstrom');
    expect(fold('Tiếng Việt')).toBe('tieng viet');
  });
  it('turns ß and ẞ into ss', () => {
    expect(fold('Straße')).toBe('strasse');
    expect(fold('STRAẞE')).toBe('strasse');
  });
  it('folds Cyrillic and Greek, including final sigma', () => {
    expect(fold('ПРИВЕТ Ёлка')).toBe('привет елка');
    expect(fold('ΣΟΦΟΣ σοφός')).toBe('σοφοσ σοφοσ');
  });
  it('applies compatibility decomposition (ligatures, full-width, half-width kana)', () => {
    expect(fold('ﬁne')).toBe('fine');
    expect(fold('ＡＢＣ１２３')).toBe('abc123');
    expect(fold('ｶﾀｶﾅ')).toBe('カタカナ');
  });
  it('keeps kana voicing and Hangul syllables composed', () => {
    expect(fold('がぎ')).toBe('がぎ');
    expect(fold('서울')).toBe('서울');
    expect(fold('ｶﾞ')).toBe('ガ');
  });
  it('keeps marks that are letters in their script (Devanagari vowel signs)', () => {
    expect(fold('नमस्ते')).toBe('नमस्ते');
  });
});

describe('tokenize', () => {
  it('splits Latin words on punctuation like FTS5 would', () => {
    expect(terms("Don't stop, 3.14 e-mail a_b")).toEqual(['don', 't', 'stop', '3', '14', 'e', 'mail', 'a', 'b']);
    expect(terms('Don’t STOP')).toEqual(['don', 't', 'stop']);
  });
  it('folds words of every script', () => {
    expect(terms('Straße ÉCOLE Привет, МИР! ΣΟΦΟΣ')).toEqual(['strasse', 'ecole', 'привет', 'мир', 'σοφοσ']);
  });
  it('cuts CJK runs into overlapping bigrams across dictionary word boundaries', () => {
    const t = tokenize('東京タワーに行きました。');
    expect(t.body.map((x) => x.term)).toEqual(['東京', '京タ', 'タワ', 'ワー', 'ーに', 'に行', '行き', 'きま', 'まし', 'した']);
    expect(t.body.every((x) => x.kind === 'bigram')).toBe(true);
    expect(t.uni.map((x) => x.term).join('')).toBe('東京タワーに行きました');
  });
  it('cuts Hangul runs into bigrams per word', () => {
    expect(terms('서울에 갑니다')).toEqual(['서울', '울에', '갑니', '니다']);
  });
  it('emits a lone CJK character as a unigram', () => {
    const t = tokenize('猫 and 犬');
    expect(t.body.map((x) => `${x.kind}:${x.term}`)).toEqual(['cjk1:猫', 'word:and', 'cjk1:犬']);
  });
  it('splits mixed Latin and CJK', () => {
    expect(terms('iPhone東京で')).toEqual(['iphone', '東京', '京で']);
  });
  it('records spans into the NFC text', () => {
    const text = 'Say Straße!';
    const t = tokenize(text);
    const s = t.body[1];
    expect(s && t.text.slice(s.start, s.end)).toBe('Straße');
    const cjk = tokenize('ab 東京タワー').body[1];
    expect(cjk && 'ab 東京タワー'.slice(cjk.start, cjk.end)).toBe('東京');
  });
  it('never produces a token that FTS5 ascii tokenizer would split or a space', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
        for (const t of tokenize(s).body) {
          expect(t.term.length).toBeGreaterThan(0);
          expect(/^[\p{L}\p{N}\p{M}]+$/u.test(t.term)).toBe(true);
        }
      }),
    );
  });
  it('ASCII fast path gives the same terms as the segmenter path', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 60 }), (s) => {
        expect(tokenize(s).body.map((t) => t.term)).toEqual(tokenizeWithSegmenter(s).body.map((t) => t.term));
      }),
      { numRuns: 500 },
    );
  });
  it('letter-run fast path gives the same terms as the segmenter path for spaced scripts and CJK', () => {
    const alphabet = [...'aZé ßẞΣσςΐюЁ-\'’.,:;!?1²½ﬁＡ東京タワーがｶﾞ서울、。 \t\n()"'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }), (chars) => {
        const s = chars.join('');
        const a = tokenizeLetterRuns(s);
        const b = tokenizeWithSegmenter(s);
        expect(a.body.map((t) => `${t.kind}:${t.term}`)).toEqual(b.body.map((t) => `${t.kind}:${t.term}`));
        expect(a.uni.map((t) => t.term)).toEqual(b.uni.map((t) => t.term));
      }),
      { numRuns: 1000 },
    );
  });
  it('Thai goes through the segmenter (no spaces between words)', () => {
    expect(terms('ฉันรักภาษาไทย').length).toBeGreaterThan(1);
  });
  it('indexColumns joins tokens with spaces', () => {
    expect(indexColumns('Hello 東京タ hello')).toEqual({ body: 'hello 東京 京タ hello', uni: '東 京 タ', words: new Set(['hello']) });
  });
});
