// GIF and WebP metadata stripping (the walk and the rules of strip-metadata.ts): what stays is
// listed, everything else and anything after the image's end goes.
// GIF: comment extensions go, and application extensions (XMP is one) except the looping ones
//   (NETSCAPE2.0, ANIMEXTS1.0); graphic control and plain text extensions and images stay.
// WebP: the RIFF chunks that draw the image stay (VP8, VP8L, VP8X, ALPH, ANIM, ANMF, ICCP);
//   EXIF, XMP and unknown chunks go, VP8X's EXIF and XMP flags are cleared and the RIFF size
//   rewritten (the only bytes written rather than copied).
import { byteAt, bytesAt, done, keep, malformed, type Piece, type RangeScanner, type Reads, type ScanWindow } from './strip-scan.ts';

/** The end of a run of GIF data sub-blocks starting at `pos` (after its zero terminator), or undefined if the file ends first. */
function* subBlocksEnd(w: ScanWindow, pos: number): Reads<number | undefined> {
  let at = pos;
  for (;;) {
    const n = yield* byteAt(w, at);
    if (n === undefined) return undefined;
    at += 1 + n;
    if (n === 0) return at;
  }
}

const GIF_LOOPING = new Set(['NETSCAPE2.0', 'ANIMEXTS1.0']);

export function* scanGif(w: ScanWindow): RangeScanner {
  const { size } = w;
  const lsd = yield* bytesAt(w, 0, 13);
  if (lsd.length < 13) return malformed('gif', 'it ends in its header');
  const packed = lsd[10] as number;
  let at = 13 + (packed & 0x80 ? 3 << ((packed & 7) + 1) : 0);
  if (at > size) return malformed('gif', 'it ends in its colour table');
  const pieces: Piece[] = [];
  keep(pieces, 0, at);
  let removed = 0;
  for (;;) {
    const b = yield* byteAt(w, at);
    if (b === undefined) break; // no trailer: viewers show what is there
    if (b === 0x3b) {
      keep(pieces, at, at + 1);
      if (at + 1 < size) removed += 1;
      break;
    }
    if (b === 0x2c) {
      const d = yield* bytesAt(w, at, 10);
      if (d.length < 10) return malformed('gif', `an image descriptor is cut off at byte ${at}`);
      const p = d[9] as number;
      // Descriptor, local colour table, LZW minimum code size, then the data sub-blocks.
      const data = at + 10 + (p & 0x80 ? 3 << ((p & 7) + 1) : 0) + 1;
      const end = yield* subBlocksEnd(w, data);
      if (end === undefined || end > size) return malformed('gif', `image data at byte ${at} runs past the end`);
      keep(pieces, at, end);
      at = end;
      continue;
    }
    if (b !== 0x21) return malformed('gif', `block 0x${b.toString(16)} at byte ${at}`);
    const label = yield* byteAt(w, at + 1);
    const end = yield* subBlocksEnd(w, at + 2);
    if (label === undefined || end === undefined || end > size) return malformed('gif', `an extension at byte ${at} runs past the end`);
    let stays = label === 0xf9 || label === 0x01;
    if (label === 0xff) {
      const app = yield* bytesAt(w, at + 2, 12);
      stays = app[0] === 11 && GIF_LOOPING.has(String.fromCharCode(...app.subarray(1, 12)));
    }
    if (stays) keep(pieces, at, end);
    else removed += 1;
    at = end;
  }
  return done('gif', pieces, removed);
}

const WEBP_KEPT = new Set(['VP8 ', 'VP8L', 'VP8X', 'ALPH', 'ANIM', 'ANMF', 'ICCP']);
const VP8X_EXIF = 0x08;
const VP8X_XMP = 0x04;

export function* scanWebp(w: ScanWindow): RangeScanner {
  const { size } = w;
  const head = yield* bytesAt(w, 0, 12);
  const riffEnd = 8 + new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(4, true);
  if (riffEnd > size || riffEnd < 12) return malformed('webp', 'its RIFF size is past the end of the file');
  // The RIFF header, rewritten with the new size at the end.
  const header = new Uint8Array(12);
  header.set(head);
  const pieces: Piece[] = [header];
  let removed = 0;
  let at = 12;
  while (at < riffEnd) {
    const h = yield* bytesAt(w, at, 9);
    if (h.length < 8) return malformed('webp', `a chunk header is cut off at byte ${at}`);
    const len = new DataView(h.buffer, h.byteOffset, h.byteLength).getUint32(4, true);
    const end = at + 8 + len + (len & 1);
    if (end > riffEnd) return malformed('webp', `a chunk at byte ${at} runs past the end`);
    const type = String.fromCharCode(...h.subarray(0, 4));
    if (!WEBP_KEPT.has(type)) removed += 1;
    else if (type === 'VP8X' && len >= 1) {
      const flags = h[8] as number;
      keep(pieces, at, at + 8);
      pieces.push(Uint8Array.of(flags & ~(VP8X_EXIF | VP8X_XMP)));
      keep(pieces, at + 9, end);
    } else keep(pieces, at, end);
    at = end;
  }
  if (riffEnd < size) removed += 1;
  const out = done('webp', pieces, removed);
  if (out.stripped) new DataView(header.buffer).setUint32(4, out.size - 8, true);
  return out;
}
