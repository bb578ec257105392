// Image metadata stripped before encryption, without loading the file: the scanner
// in strip-metadata.ts walks the file a window at a time and names the byte ranges that stay;
// the upload and the sender's own sealed copy then read through a view that skips the rest. So
// the GPS position or camera serial in a photo's EXIF never reaches the sealed stream, the
// relay, the recipient or the sender's own copy, and memory stays one chunk whatever the size.
// On by default; the profile setting keepImageMetadata turns it off.
import { open, stat } from 'node:fs/promises';
import { TransferError, uploadFrom, type BlobCaller, type BlobRef, type ByteSource, type TransferOptions, type UploadResume } from '../net/attachments.ts';
import { MetadataNotRemoved, scanKeptRanges, type KeptRanges, type Piece } from './strip-metadata.ts';

/** What is sent of a file: ranges of it, and the few bytes a format rewrites (strip-metadata.ts). */
export type Ranges = readonly Piece[];

/** Runs the header scanner over any byte source (a file, the staged chunks in the vault). */
export async function keptRangesFrom(src: ByteSource, size: number): Promise<KeptRanges> {
  const scan = scanKeptRanges(size);
  let step = scan.next();
  while (!step.done) {
    const { position, length } = step.value;
    const buf = Buffer.alloc(Math.max(0, Math.min(length, size - position)));
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await src.read(buf, got, buf.length - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    step = scan.next(buf.subarray(0, got));
  }
  return step.value;
}

/** The bytes of `src` in `ranges` (and the literal pieces), one after another, as a source of their own. */
export function rangedSource(src: ByteSource, ranges: Ranges): ByteSource {
  // starts[i]: the position in the view where piece i begins.
  const starts: number[] = [];
  let total = 0;
  for (const p of ranges) {
    starts.push(total);
    total += p instanceof Uint8Array ? p.length : p[1] - p[0];
  }
  const pieceAt = (pos: number): number => {
    let lo = 0;
    let hi = ranges.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  return {
    async read(buffer, offset, length, position) {
      let done = 0;
      while (done < length && position + done < total) {
        const at = position + done;
        const i = pieceAt(at);
        const p = ranges[i] as Piece;
        const within = at - (starts[i] as number);
        if (p instanceof Uint8Array) {
          const n = Math.min(length - done, p.length - within);
          buffer.set(p.subarray(within, within + n), offset + done);
          done += n;
          continue;
        }
        const n = Math.min(length - done, p[1] - p[0] - within);
        const { bytesRead } = await src.read(buffer, offset + done, n, p[0] + within);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return { bytesRead: done };
    },
  };
}

/**
 * Which ranges to send: undefined sends the file as it is (not an image, nothing to drop, or
 * kept by the setting). An image that does not parse is refused (MetadataNotRemoved), never sent
 * with what it may hold.
 */
export async function rangesToSend(src: ByteSource, size: number, keepMetadata: boolean): Promise<{ ranges: Ranges; size: number } | undefined> {
  if (keepMetadata) return undefined;
  const kept = await keptRangesFrom(src, size);
  if (!kept.stripped) {
    if (kept.reason === 'malformed') throw new MetadataNotRemoved(kept.format, kept.detail);
    return undefined;
  }
  if (kept.removed === 0) return undefined;
  return { ranges: kept.ranges, size: kept.size };
}

/**
 * uploadFile (main/net/attachments.ts) with the image's metadata left out unless `keepMetadata`:
 * `ranges` (when set) says which bytes of the file were sent, for the sender's own copy.
 */
export async function uploadFileStripped(relay: BlobCaller, path: string, recipients: readonly string[], keepMetadata: boolean, o: TransferOptions & { resume?: UploadResume } = {}): Promise<{ ref: BlobRef; ranges?: Ranges }> {
  const size = (await stat(path)).size;
  const fh = await open(path, 'r');
  try {
    const strip = await rangesToSend(fh, size, keepMetadata);
    const unchanged = async (): Promise<void> => {
      if ((await fh.stat()).size !== size) throw new TransferError('ATTACHMENT_CHANGED', 'The file changed while it was being sent.');
    };
    if (!strip) return { ref: await uploadFrom(relay, fh, size, recipients, o, unchanged) };
    const ref = await uploadFrom(relay, rangedSource(fh, strip.ranges), strip.size, recipients, o, unchanged);
    return { ref, ranges: strip.ranges };
  } finally {
    await fh.close();
  }
}
