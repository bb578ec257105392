// cli/terminal.ts on every UTF-16 code unit: which characters human output shows as escapes,
// and that the JSON form always parses back to the exact text.
import { describe, expect, it } from 'vitest';
import { forTerminal, jsonForTerminal, MARK_END, MARK_START, untrusted } from '../../cli/terminal.ts';

const ALL = Array.from({ length: 0x10000 }, (_, i) => String.fromCharCode(i));
const CONTROLS = new Set([
  ...ALL.slice(0, 0x20),
  ...ALL.slice(0x7f, 0xa0),
  '\u061c',
  '\u200e',
  '\u200f',
  '\u2028',
  '\u2029',
  ...ALL.slice(0x202a, 0x202f),
  ...ALL.slice(0x2066, 0x206a),
]);

describe('terminal output of untrusted text', () => {
  it('untrusted() shows every control and bidi character as a visible escape and leaves the rest', () => {
    for (const ch of ALL) {
      const out = untrusted(`a${ch}b`);
      if (CONTROLS.has(ch)) expect(out, `U+${ch.charCodeAt(0).toString(16)}`).toMatch(/^a\\(?:[nrt]|u\{[0-9a-f]+\})b$/u);
      else if (ch !== MARK_START && ch !== MARK_END) expect(out).toBe(`a${ch}b`);
    }
    expect(untrusted('x\u001b[2Jy\r\n')).toBe('x\\u{1b}[2Jy\\r\\n');
  });

  it('forTerminal() keeps only the newlines and turns highlight marks into brackets or inverse video', () => {
    expect(forTerminal(`one\ntwo\r\u001b]0;t\u0007 ${MARK_START}hit${MARK_END}`)).toBe('one\ntwo\\r\\u{1b}]0;t\\u{7} [hit]');
    expect(forTerminal(`${MARK_START}hit${MARK_END}`, true)).toBe('\u001b[1;7mhit\u001b[0m');
    // Untrusted marks cannot turn into styling.
    expect(forTerminal(untrusted(`${MARK_START}x${MARK_END}`), true)).toBe('\\u{e000}x\\u{e001}');
  });

  it('jsonForTerminal() is exact JSON with no raw control or bidi character', () => {
    const text = ALL.join('');
    const json = jsonForTerminal({ text });
    expect((JSON.parse(json) as { text: string }).text).toBe(text);
    for (const ch of CONTROLS) expect(json.includes(ch), `U+${ch.charCodeAt(0).toString(16)}`).toBe(false);
  });
});
