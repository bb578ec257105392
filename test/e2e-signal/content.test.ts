import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeContent, encodeContent, MAX_CONTENT_BYTES, MAX_TEXT_CHARS, PAD_BLOCK, type MessageContent } from '../../main/e2e/content.ts';
import { BadContent, UnsupportedContent } from '../../shared/protocol/e2e-errors.ts';

const pad = (json: string): Uint8Array => {
  const raw = new TextEncoder().encode(json);
  const out = new Uint8Array(Math.ceil((raw.length + 1) / PAD_BLOCK) * PAD_BLOCK);
  out.set(raw);
  out[raw.length] = 0x80;
  return out;
};

describe('message content', () => {
  it('round-trips text and receipts, padded to the block size', () => {
    const msgs: MessageContent[] = [
      { v: 1, kind: 'text', id: 'a1b2', sentAt: 1_700_000_000_000, text: 'héllo 東京タワー 👋' },
      { v: 1, kind: 'text', id: 'x', sentAt: 0, text: '' },
      { v: 1, kind: 'receipt', type: 'read', ids: ['a1b2', 'c3'] },
    ];
    for (const m of msgs) {
      const bytes = encodeContent(m);
      expect(bytes.length % PAD_BLOCK).toBe(0);
      expect(decodeContent(bytes)).toEqual(m);
    }
    // Short texts of different lengths are indistinguishable by size.
    const a = encodeContent({ v: 1, kind: 'text', id: 'i', sentAt: 1, text: 'hi' });
    const b = encodeContent({ v: 1, kind: 'text', id: 'i', sentAt: 1, text: 'a somewhat longer line' });
    expect(a.length).toBe(b.length);
  });

  it('round-trips any text (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.nat(), (t, sentAt) => {
        const m: MessageContent = { v: 1, kind: 'text', id: 'm-1', sentAt, text: t };
        expect(decodeContent(encodeContent(m))).toEqual(m);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a newer version or kind with UnsupportedContent', () => {
    const v2 = pad(JSON.stringify({ v: 2, kind: 'text', id: 'a', sentAt: 1, text: 'x' }));
    expect(() => decodeContent(v2)).toThrow(UnsupportedContent);
    try {
      decodeContent(v2);
    } catch (e) {
      expect((e as UnsupportedContent).code).toBe('UNSUPPORTED_CONTENT');
      expect((e as UnsupportedContent).version).toBe(2);
    }
    // (attachment is a known kind now: an unknown one is refused as unsupported, a malformed attachment as bad.)
    const poll = pad(JSON.stringify({ v: 1, kind: 'poll', id: 'a' }));
    expect(() => decodeContent(poll)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_CONTENT', kind: 'poll' }));
    expect(() => decodeContent(pad(JSON.stringify({ v: 1, kind: 'attachment', id: 'a' })))).toThrow(expect.objectContaining({ code: 'BAD_CONTENT' }));
  });

  it('refuses malformed content with BadContent', () => {
    const bad = [
      new Uint8Array(0),
      new Uint8Array(160),
      new TextEncoder().encode('{"v":1}'), // no padding marker
      pad('not json'),
      pad('[1,2]'),
      pad(JSON.stringify({ v: 0, kind: 'text', id: 'a', sentAt: 1, text: 'x' })),
      pad(JSON.stringify({ v: '1', kind: 'text', id: 'a', sentAt: 1, text: 'x' })),
      pad(JSON.stringify({ v: 1, kind: 'text', id: 'a', sentAt: 1, text: 'x', extra: true })),
      pad(JSON.stringify({ v: 1, kind: 'text', id: 'bad id!', sentAt: 1, text: 'x' })),
      pad(JSON.stringify({ v: 1, kind: 'text', id: 'a', sentAt: -1, text: 'x' })),
      pad(JSON.stringify({ v: 1, kind: 'receipt', type: 'seen', ids: ['a'] })),
      pad(JSON.stringify({ v: 1, kind: 'receipt', type: 'read', ids: [] })),
      new Uint8Array([0xff, 0xfe, 0x80]),
    ];
    for (const b of bad) expect(() => decodeContent(b), new TextDecoder().decode(b)).toThrow(BadContent);
  });

  it('encodeContent refuses invalid structures and content too large for one envelope', () => {
    expect(() => encodeContent({ v: 1, kind: 'text', id: '', sentAt: 1, text: 'x' })).toThrow();
    // 32 Ki chars of 3-byte UTF-8 is ~96 KB: over the envelope budget.
    expect(() => encodeContent({ v: 1, kind: 'text', id: 'big', sentAt: 1, text: '東'.repeat(MAX_TEXT_CHARS) })).toThrow(BadContent);
    const largest = encodeContent({ v: 1, kind: 'text', id: 'big', sentAt: 1, text: 'a'.repeat(MAX_TEXT_CHARS) });
    expect(largest.length).toBeLessThanOrEqual(MAX_CONTENT_BYTES);
    expect(() => decodeContent(new Uint8Array(MAX_CONTENT_BYTES + PAD_BLOCK))).toThrow(BadContent);
  });
});
