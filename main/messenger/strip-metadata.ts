// Strips metadata from images before they are sent (issue #15): a photo's EXIF block can hold
// the GPS position it was taken at, the camera's serial number and the time. Pure functions on
// bytes; the image data itself is copied unchanged (no re-encoding, so no quality loss).
//
// JPEG: APP1 (EXIF, XMP), APP13 (Photoshop/IPTC) and COM segments before the scan are dropped;
// APP0 (JFIF), APP2 (ICC colour profile) and APP14 (Adobe colour transform) stay, as they change
// how the image looks. Note: EXIF also holds the orientation, so a photo relying on it may show
// rotated (as on other messengers that strip it).
// PNG: tEXt, iTXt, zTXt, eXIf and tIME chunks are dropped; every other chunk stays.
// Anything that does not parse as one of these is returned unchanged with `stripped: false`.

export type StripResult =
  | { stripped: true; format: 'jpeg' | 'png'; bytes: Uint8Array; removed: number }
  | { stripped: false; reason: 'not-an-image' | 'malformed'; bytes: Uint8Array };

const PNG_SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_DROPPED = new Set(['tEXt', 'iTXt', 'zTXt', 'eXIf', 'tIME']);
/** JPEG markers whose segments are dropped: APP1, APP13, COM. */
const JPEG_DROPPED = new Set([0xe1, 0xed, 0xfe]);
const SOS = 0xda;

/** The bytes of an image with its metadata removed (JPEG or PNG, by signature); others unchanged. */
export function stripImageMetadata(bytes: Uint8Array): StripResult {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return stripJpeg(bytes);
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return stripPng(bytes);
  return { stripped: false, reason: 'not-an-image', bytes };
}

function stripJpeg(bytes: Uint8Array): StripResult {
  const kept: Uint8Array[] = [bytes.subarray(0, 2)];
  let removed = 0;
  let at = 2;
  for (;;) {
    if (at + 4 > bytes.length || bytes[at] !== 0xff) return { stripped: false, reason: 'malformed', bytes };
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      // Fill byte before a marker.
      at += 1;
      continue;
    }
    const len = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (len < 2 || at + 2 + len > bytes.length) return { stripped: false, reason: 'malformed', bytes };
    if (marker === SOS) {
      // The scan and everything after it (entropy-coded data, more scans, EOI) is image data.
      kept.push(bytes.subarray(at));
      break;
    }
    if (JPEG_DROPPED.has(marker)) removed += 1;
    else kept.push(bytes.subarray(at, at + 2 + len));
    at += 2 + len;
  }
  return { stripped: true, format: 'jpeg', bytes: concat(kept), removed };
}

function stripPng(bytes: Uint8Array): StripResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kept: Uint8Array[] = [bytes.subarray(0, 8)];
  let removed = 0;
  let at = 8;
  for (;;) {
    if (at + 12 > bytes.length) return { stripped: false, reason: 'malformed', bytes };
    const len = view.getUint32(at);
    const end = at + 12 + len;
    if (end > bytes.length) return { stripped: false, reason: 'malformed', bytes };
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (PNG_DROPPED.has(type)) removed += 1;
    else kept.push(bytes.subarray(at, end));
    at = end;
    if (type === 'IEND') break;
  }
  return { stripped: true, format: 'png', bytes: concat(kept), removed };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
