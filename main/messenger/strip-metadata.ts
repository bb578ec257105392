// Strips metadata from images before they are sent: a photo's EXIF block can hold
// the GPS position it was taken at, the camera's serial number and the time. The image data
// itself is copied unchanged (no re-encoding, so no quality loss). The scanner walks the whole
// file's structure through a window of one 64 KiB read at a time and says which byte ranges of
// the original stay (plus the few bytes it rewrites), so a file of any size is stripped as a
// view over the original (strip-source.ts), never loaded whole.
//
// Every format keeps a list of what stays (anything else goes), and drops all bytes after the
// image's end (a JPEG's MPF secondary images with their own EXIF, motion-photo videos, appended
// archives):
// JPEG: the whole file is walked, entropy-coded data included (0xFF00 stuffing, RSTn), so APPn
//   segments between progressive scans go too. APP0 only as JFIF, APP2 only as an ICC colour
//   profile, APP14 only as Adobe's colour transform stay (they change how the image looks); every
//   other APPn (EXIF, XMP, MPF, IPTC, FlashPix...) and COM goes. Note: EXIF also holds the
//   orientation, so a photo relying on it may show rotated (as on other messengers that strip it).
// PNG: critical chunks and the ancillary chunks that change how it looks (colour, transparency,
//   animation) stay; text, EXIF, time and unknown chunks go.
// GIF and WebP: strip-formats.ts.
// A file that starts as one of these but does not parse is NOT sent as it is: `malformed`, and
// the caller refuses (MetadataNotRemoved); a file that is not an image is sent unchanged.
import { CodedError } from '../../shared/errors.ts';
import { scanGif, scanWebp } from './strip-formats.ts';
import { bytesAt, done, keep, malformed, ScanWindow, viewFrom, type ImageFormat, type KeptRanges, type Piece, type RangeScanner, type Reads } from './strip-scan.ts';

export type { ImageFormat, KeptRanges, Piece, RangeScanner, ReadRequest } from './strip-scan.ts';

export type StripResult =
  | { stripped: true; format: ImageFormat; bytes: Uint8Array; removed: number }
  | { stripped: false; reason: 'not-an-image' | 'malformed'; bytes: Uint8Array };

/** An image whose metadata could not be removed: it is refused, never sent as it is. */
export class MetadataNotRemoved extends CodedError<'METADATA_NOT_REMOVED'> {
  constructor(format: ImageFormat, detail: string) {
    super('METADATA_NOT_REMOVED', `The ${format.toUpperCase()} image's metadata (location, camera details) could not be removed because the file does not parse (${detail}); it was not sent. To send it as it is, turn on "Keep location and camera details in photos I send" and send it again.`);
  }
}

/** Scans an image of `size` bytes (JPEG, PNG, GIF or WebP, by signature) for what stays. */
export function* scanKeptRanges(size: number): RangeScanner {
  const w = new ScanWindow(size);
  const head = yield* bytesAt(w, 0, 12);
  const ascii = (from: number, to: number): string => String.fromCharCode(...head.subarray(from, to));
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return yield* scanJpeg(w);
  if (head.length >= 8 && PNG_SIGNATURE.every((b, i) => head[i] === b)) return yield* scanPng(w);
  if (head.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return yield* scanGif(w);
  if (head.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return yield* scanWebp(w);
  return { stripped: false, reason: 'not-an-image' };
}

const SOS = 0xda;
const EOI = 0xd9;
const isRst = (m: number): boolean => m >= 0xd0 && m <= 0xd7;

/** Whether a segment stays: JFIF, ICC profile and Adobe APPn only; no other APPn, no COM. */
function keepsJpegSegment(marker: number, id: string): boolean {
  if (marker === 0xe0) return id.startsWith('JFIF\0');
  if (marker === 0xe2) return id.startsWith('ICC_PROFILE\0');
  if (marker === 0xee) return id.startsWith('Adobe');
  return !(marker >= 0xe1 && marker <= 0xef) && marker !== 0xfe;
}

/**
 * Entropy-coded data from `at`: kept whole, up to the next marker that is not a stuffed 0xFF00
 * or a restart marker. Returns the position of that marker (the file's size if it ends first).
 */
function* skipEntropyData(w: ScanWindow, at: number, pieces: Piece[]): Reads<number> {
  let pos = at;
  while (pos < w.size) {
    const view = yield* viewFrom(w, pos, 2);
    let i = view.indexOf(0xff);
    for (; i !== -1 && i + 1 < view.length; i = view.indexOf(0xff, i + 2)) {
      const next = view[i + 1] as number;
      if (next !== 0x00 && !isRst(next)) {
        keep(pieces, at, pos + i);
        return pos + i;
      }
    }
    // No marker in this window; a 0xFF on its last byte is looked at again with the next.
    pos += i === -1 ? view.length : i;
    if (i !== -1 && pos + 1 >= w.size) pos = w.size;
  }
  keep(pieces, at, w.size);
  return w.size;
}

function* scanJpeg(w: ScanWindow): RangeScanner {
  const { size } = w;
  const pieces: Piece[] = [];
  keep(pieces, 0, 2);
  let removed = 0;
  let at = 2;
  let scanned = false;
  for (;;) {
    if (at >= size) {
      // Cut off in a scan (no EOI): what is there is image data, as viewers show it.
      if (scanned) break;
      return malformed('jpeg', 'it ends before its image data');
    }
    const m = yield* bytesAt(w, at, 2);
    if (m.length < 2 || m[0] !== 0xff) return malformed('jpeg', `no marker at byte ${at}`);
    const marker = m[1] as number;
    if (marker === 0xff) {
      // Fill byte before a marker.
      at += 1;
      continue;
    }
    if (marker === EOI) {
      keep(pieces, at, at + 2);
      // Anything after the image: secondary images (MPF) with their own EXIF, a motion photo's video.
      if (at + 2 < size) removed += 1;
      break;
    }
    if (marker === 0x01 || isRst(marker)) {
      // Standalone markers (TEM, RSTn): no length, nothing to drop.
      keep(pieces, at, at + 2);
      at += 2;
      continue;
    }
    if (marker < 0xc0 || marker === 0xd8) return malformed('jpeg', `marker 0x${marker.toString(16)} at byte ${at}`);
    const h = yield* bytesAt(w, at, 16);
    if (h.length < 4) return malformed('jpeg', `a segment header is cut off at byte ${at}`);
    const len = ((h[2] as number) << 8) | (h[3] as number);
    const end = at + 2 + len;
    if (len < 2 || end > size) return malformed('jpeg', `a segment at byte ${at} runs past the end`);
    const id = String.fromCharCode(...h.subarray(4, Math.min(h.length, 2 + len)));
    if (keepsJpegSegment(marker, id)) keep(pieces, at, end);
    else removed += 1;
    at = end;
    if (marker === SOS) {
      scanned = true;
      at = yield* skipEntropyData(w, at, pieces);
    }
  }
  return done('jpeg', pieces, removed);
}

const PNG_SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Ancillary chunks that change how the image looks (colour, transparency, animation); the other ancillary ones go. */
const PNG_KEPT_ANCILLARY = new Set(['bKGD', 'cHRM', 'cICP', 'gAMA', 'iCCP', 'mDCV', 'cLLI', 'sBIT', 'sRGB', 'sPLT', 'tRNS', 'pHYs', 'hIST', 'acTL', 'fcTL', 'fdAT']);

function* scanPng(w: ScanWindow): RangeScanner {
  const { size } = w;
  const pieces: Piece[] = [];
  keep(pieces, 0, 8);
  let removed = 0;
  let at = 8;
  for (;;) {
    const h = yield* bytesAt(w, at, 8);
    if (h.length < 8) return malformed('png', 'it ends before its IEND chunk');
    const len = new DataView(h.buffer, h.byteOffset, h.byteLength).getUint32(0);
    const end = at + 12 + len;
    if (end > size) return malformed('png', `a chunk at byte ${at} runs past the end`);
    const type = String.fromCharCode(...h.subarray(4, 8));
    if (!/^[A-Za-z]{4}$/.test(type)) return malformed('png', `a chunk type that is not letters at byte ${at}`);
    const critical = type.charCodeAt(0) < 0x61;
    if (critical || PNG_KEPT_ANCILLARY.has(type)) keep(pieces, at, end);
    else removed += 1;
    at = end;
    if (type === 'IEND') break;
  }
  if (at < size) removed += 1;
  return done('png', pieces, removed);
}

/** Runs the scanner over bytes in memory. */
export function keptRangesOf(bytes: Uint8Array): KeptRanges {
  const scan = scanKeptRanges(bytes.length);
  let step = scan.next();
  while (!step.done) step = scan.next(bytes.subarray(step.value.position, step.value.position + step.value.length));
  return step.value;
}

/** The bytes of an image with its metadata removed; others (and malformed images) unchanged, saying why. */
export function stripImageMetadata(bytes: Uint8Array): StripResult {
  const r = keptRangesOf(bytes);
  if (!r.stripped) return { stripped: false, reason: r.reason, bytes };
  const out = new Uint8Array(r.size);
  let at = 0;
  for (const p of r.ranges) {
    const part = p instanceof Uint8Array ? p : bytes.subarray(p[0], p[1]);
    out.set(part, at);
    at += part.length;
  }
  return { stripped: true, format: r.format, bytes: out, removed: r.removed };
}
