// Strips metadata from images before they are sent (issue #15): a photo's EXIF block can hold
// the GPS position it was taken at, the camera's serial number and the time. The image data
// itself is copied unchanged (no re-encoding, so no quality loss). The parser walks only the
// structure (segment and chunk headers) and says which byte ranges of the original stay, so a
// file of any size is stripped as a view over the original (strip-source.ts), never loaded whole.
//
// JPEG: APP1 (EXIF, XMP), APP13 (Photoshop/IPTC) and COM segments before the scan are dropped;
// APP0 (JFIF), APP2 (ICC colour profile) and APP14 (Adobe colour transform) stay, as they change
// how the image looks. Note: EXIF also holds the orientation, so a photo relying on it may show
// rotated (as on other messengers that strip it).
// PNG: tEXt, iTXt, zTXt, eXIf and tIME chunks are dropped; every other chunk stays.
// Anything that does not parse as one of these is returned unchanged with `stripped: false`.

/** Byte ranges [start, end) of the original that make up the stripped image, in order. */
export type KeptRanges =
  | { stripped: true; format: 'jpeg' | 'png'; ranges: Array<[number, number]>; size: number; removed: number }
  | { stripped: false; reason: 'not-an-image' | 'malformed' };

export type StripResult =
  | { stripped: true; format: 'jpeg' | 'png'; bytes: Uint8Array; removed: number }
  | { stripped: false; reason: 'not-an-image' | 'malformed'; bytes: Uint8Array };

const PNG_SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_DROPPED = new Set(['tEXt', 'iTXt', 'zTXt', 'eXIf', 'tIME']);
/** JPEG markers whose segments are dropped: APP1, APP13, COM. */
const JPEG_DROPPED = new Set([0xe1, 0xed, 0xfe]);
const SOS = 0xda;

/** A read the scanner needs: up to `length` bytes at `position` (fewer only at the end). */
export interface ReadRequest {
  position: number;
  length: number;
}
/** The scanner: yields the reads it needs, is sent their bytes, returns the ranges. Driven by a sync or async reader. */
export type RangeScanner = Generator<ReadRequest, KeptRanges, Uint8Array>;

/** Scans an image of `size` bytes (JPEG or PNG, by signature) for the ranges that stay. */
export function* scanKeptRanges(size: number): RangeScanner {
  const head = yield { position: 0, length: Math.min(size, 8) };
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return yield* scanJpeg(size);
  if (head.length >= 8 && PNG_SIGNATURE.every((b, i) => head[i] === b)) return yield* scanPng(size);
  return { stripped: false, reason: 'not-an-image' };
}

/** Adds [start, end) to the list, joining it to the previous range when they touch. */
function keep(ranges: Array<[number, number]>, start: number, end: number): void {
  const last = ranges.at(-1);
  if (last && last[1] === start) last[1] = end;
  else ranges.push([start, end]);
}

function done(format: 'jpeg' | 'png', ranges: Array<[number, number]>, removed: number): KeptRanges {
  return { stripped: true, format, ranges, size: ranges.reduce((n, [a, b]) => n + b - a, 0), removed };
}

function* scanJpeg(size: number): RangeScanner {
  const ranges: Array<[number, number]> = [];
  keep(ranges, 0, 2);
  let removed = 0;
  let at = 2;
  for (;;) {
    if (at + 4 > size) return { stripped: false, reason: 'malformed' };
    const h = yield { position: at, length: 4 };
    if (h.length < 4 || h[0] !== 0xff) return { stripped: false, reason: 'malformed' };
    const marker = h[1]!;
    if (marker === 0xff) {
      // Fill byte before a marker.
      at += 1;
      continue;
    }
    const len = (h[2]! << 8) | h[3]!;
    if (len < 2 || at + 2 + len > size) return { stripped: false, reason: 'malformed' };
    if (marker === SOS) {
      // The scan and everything after it (entropy-coded data, more scans, EOI) is image data.
      keep(ranges, at, size);
      break;
    }
    if (JPEG_DROPPED.has(marker)) removed += 1;
    else keep(ranges, at, at + 2 + len);
    at += 2 + len;
  }
  return done('jpeg', ranges, removed);
}

function* scanPng(size: number): RangeScanner {
  const ranges: Array<[number, number]> = [];
  keep(ranges, 0, 8);
  let removed = 0;
  let at = 8;
  for (;;) {
    if (at + 12 > size) return { stripped: false, reason: 'malformed' };
    const h = yield { position: at, length: 8 };
    if (h.length < 8) return { stripped: false, reason: 'malformed' };
    const len = new DataView(h.buffer, h.byteOffset, h.byteLength).getUint32(0);
    const end = at + 12 + len;
    if (end > size) return { stripped: false, reason: 'malformed' };
    const type = String.fromCharCode(...h.subarray(4, 8));
    if (PNG_DROPPED.has(type)) removed += 1;
    else keep(ranges, at, end);
    at = end;
    if (type === 'IEND') break;
  }
  return done('png', ranges, removed);
}

/** Runs the scanner over bytes in memory. */
export function keptRangesOf(bytes: Uint8Array): KeptRanges {
  const scan = scanKeptRanges(bytes.length);
  let step = scan.next();
  while (!step.done) step = scan.next(bytes.subarray(step.value.position, step.value.position + step.value.length));
  return step.value;
}

/** The bytes of an image with its metadata removed (JPEG or PNG, by signature); others unchanged. */
export function stripImageMetadata(bytes: Uint8Array): StripResult {
  const r = keptRangesOf(bytes);
  if (!r.stripped) return { stripped: false, reason: r.reason, bytes };
  const out = new Uint8Array(r.size);
  let at = 0;
  for (const [a, b] of r.ranges) {
    out.set(bytes.subarray(a, b), at);
    at += b - a;
  }
  return { stripped: true, format: r.format, bytes: out, removed: r.removed };
}
