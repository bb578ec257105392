// The window the image scanners (strip-metadata.ts, strip-formats.ts) read through: one read of
// up to 64 KiB at a time, driven by whoever runs the scanner (a file, the vault's staged chunks,
// bytes in memory), and what a scan returns.

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp';
/** A byte range [start, end) of the original, or bytes written in its place (a rewritten header). */
export type Piece = readonly [number, number] | Uint8Array;

/** What makes up the stripped image, in order. */
export type KeptRanges =
  | { stripped: true; format: ImageFormat; ranges: Piece[]; size: number; removed: number }
  | { stripped: false; reason: 'not-an-image' }
  | { stripped: false; reason: 'malformed'; format: ImageFormat; detail: string };

/** A read the scanner needs: up to `length` bytes at `position` (fewer only at the end). */
export interface ReadRequest {
  position: number;
  length: number;
}
/** The scanner: yields the reads it needs, is sent their bytes, returns the ranges. Driven by a sync or async reader. */
export type RangeScanner = Generator<ReadRequest, KeptRanges, Uint8Array>;
export type Reads<T> = Generator<ReadRequest, T, Uint8Array>;

/** Bytes read per request: the scan holds one such window. */
const WINDOW_BYTES = 64 * 1024;

/** The file being scanned: its size and the last window read. */
export class ScanWindow {
  start = 0;
  bytes: Uint8Array = new Uint8Array(0);
  constructor(readonly size: number) {}
}

/** Bytes [pos, pos + len) (fewer only at the end of the file), from the window or one new read. */
export function* bytesAt(w: ScanWindow, pos: number, len: number): Reads<Uint8Array> {
  const want = Math.max(0, Math.min(len, w.size - pos));
  const off = pos - w.start;
  if (off >= 0 && off + want <= w.bytes.length) return w.bytes.subarray(off, off + want);
  const read = Math.max(want, Math.min(WINDOW_BYTES, w.size - pos));
  w.bytes = read > 0 ? yield { position: pos, length: read } : new Uint8Array(0);
  w.start = pos;
  return w.bytes.subarray(0, want);
}

/** The window's bytes from `pos` on: at least `min` of them unless the file ends first. */
export function* viewFrom(w: ScanWindow, pos: number, min: number): Reads<Uint8Array> {
  const off = pos - w.start;
  if (off >= 0 && (off + min <= w.bytes.length || w.start + w.bytes.length >= w.size)) return w.bytes.subarray(off);
  yield* bytesAt(w, pos, WINDOW_BYTES);
  return w.bytes;
}

export function* byteAt(w: ScanWindow, pos: number): Reads<number | undefined> {
  return (yield* bytesAt(w, pos, 1))[0];
}

/** Adds [start, end) to the list, joining it to the previous range when they touch. */
export function keep(pieces: Piece[], start: number, end: number): void {
  const last = pieces.at(-1);
  if (last && !(last instanceof Uint8Array) && last[1] === start) pieces[pieces.length - 1] = [last[0], end];
  else if (end > start) pieces.push([start, end]);
}

export function done(format: ImageFormat, pieces: Piece[], removed: number): KeptRanges {
  return { stripped: true, format, ranges: pieces, size: pieces.reduce((n, p) => n + (p instanceof Uint8Array ? p.length : p[1] - p[0]), 0), removed };
}

export function malformed(format: ImageFormat, detail: string): KeptRanges {
  return { stripped: false, reason: 'malformed', format, detail };
}

