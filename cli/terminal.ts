// Untrusted text on a terminal. Messages, handles, titles, snippets, file names and error
// details (some from the relay) may carry terminal escapes (ESC [ 2 J clears the screen; OSC
// sequences set titles or links), carriage returns that overwrite a line, BEL, or Unicode bidi
// controls that reorder what is shown. Human output therefore never contains a control
// character except the newlines the CLI itself writes: every other one is shown as a visible
// escape (\r, \t, \n, or \u{1b}-style), so nothing is lost and nothing is obeyed. cli/io.ts
// applies this at the single point where human output is written, so no command can forget it.
// A newline inside an untrusted field (a multi-line message) is shown as \n, so it cannot make
// a line that looks like the CLI's own: commands wrap such fields in untrusted(). `--json`
// output stays exact: the same strings, only with these characters written as \uXXXX escapes.

/**
 * C0 controls (incl. ESC, BEL, CR, LF, TAB), DEL, C1 controls (U+0080-U+009F: U+009B is a
 * one-character CSI on some terminals), the Arabic letter mark, LRM/RLM, the line and paragraph
 * separators, bidi embeddings/overrides (U+202A-U+202E) and isolates (U+2066-U+2069), and the
 * two private-use characters the CLI uses as highlight marks.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ue000\ue001]/gu;
// The same set minus the newline and the highlight marks: what the printer escapes.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_IN_OUTPUT = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;
// What JSON.stringify leaves raw but a terminal might act on.
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

const SHORT: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function visible(ch: string): string {
  return SHORT[ch] ?? `\\u{${(ch.codePointAt(0) ?? 0).toString(16)}}`;
}

/** Highlight marks for search matches, turned into inverse video or [brackets] at output. */
export const MARK_START = '\ue000';
export const MARK_END = '\ue001';

/** An untrusted field for one line of human output: every control character made visible. */
export function untrusted(text: string): string {
  return text.replace(UNSAFE, visible);
}

/**
 * Human output as written to the terminal: the CLI's own newlines stay, every other control
 * character is made visible, and highlight marks become inverse video (`color`) or brackets.
 */
export function forTerminal(human: string, color = false): string {
  return human
    .replace(UNSAFE_IN_OUTPUT, visible)
    .replaceAll(MARK_START, color ? '\u001b[1;7m' : '[')
    .replaceAll(MARK_END, color ? '\u001b[0m' : ']');
}

/** JSON.stringify, with the characters a terminal might act on written as \uXXXX (same value). */
export function jsonForTerminal(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE_IN_JSON, (ch) => `\\u${(ch.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
}
