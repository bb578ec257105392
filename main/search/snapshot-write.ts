// Making and writing one search snapshot: the image (on this thread, or by the index's mirror in
// its worker), the record vouching for it as pending, then the file sealed under its generation's
// own key and the record made current (the crash-safe order is in service.ts's header). The
// service decides when; this module only does the writes, in order, zeroing every plaintext image.
import { randomBytes } from 'node:crypto';
import type { SearchIndex } from './index-db.ts';
import type { IndexMirror } from './mirror.ts';
import { commitSnapshot, newFileKey, SNAPSHOT_FILE, vouchPending, type SnapshotSource } from './snapshot-store.ts';

/** A plaintext image of the index (zero it once written) and the generation and seq it is of. */
export interface SnapshotImage {
  bytes: Buffer;
  generation: string;
  seq: number;
}

/** A new generation, written to the index's meta (and so into the image and the mirror). */
function stampGeneration(index: SearchIndex): { generation: string; seq: number } {
  const generation = randomBytes(16).toString('hex');
  index.setMeta('generation', generation);
  return { generation, seq: index.seq };
}

/** Vouches for the image as pending; on failure the image is zeroed and the error rethrown. */
function vouched(source: SnapshotSource, image: SnapshotImage): SnapshotImage {
  try {
    vouchPending(source, image.generation, image.seq);
  } catch (err) {
    image.bytes.fill(0);
    throw err;
  }
  return image;
}

/** The image serialized on this thread (the caller purged the index first). */
export function imageHere(source: SnapshotSource, index: SearchIndex): SnapshotImage {
  const { generation, seq } = stampGeneration(index);
  return vouched(source, { bytes: index.serialize(), generation, seq });
}

/**
 * The image from the mirror: the generation is written to the index (and so to the mirror)
 * first, then the worker purges and serializes its copy as of that write while this thread goes
 * on. `stamped` runs right after the stamp (the service counts later changes towards the next
 * snapshot). A snapshot superseded meanwhile (`signal`) is dropped.
 */
export async function imageFromMirror(source: SnapshotSource, index: SearchIndex, mirror: IndexMirror, signal: AbortSignal, stamped: () => void): Promise<SnapshotImage> {
  const { generation, seq } = stampGeneration(index);
  index.forgetKnownWords();
  stamped();
  let bytes: Buffer;
  try {
    bytes = await mirror.snapshot();
  } catch (err) {
    // A mirror that failed once (fell behind, or its worker died) stays failed: closed, so its
    // owner makes images on its own thread from now on instead of asking it again each time.
    mirror.close();
    throw err;
  }
  try {
    signal.throwIfAborted();
  } catch (err) {
    bytes.fill(0);
    throw err;
  }
  return vouched(source, { bytes, generation, seq });
}

/** Seals and writes the image in one call, then makes it current; zeroes the image and its key. */
export function writeImage(source: SnapshotSource, image: SnapshotImage): void {
  let key: Buffer | undefined;
  try {
    key = newFileKey(source, image.generation);
    source.sealedFiles.write(SNAPSHOT_FILE, image.bytes, key);
    commitSnapshot(source, image.generation, image.seq);
  } finally {
    image.bytes.fill(0);
    key?.fill(0);
  }
}

/** As writeImage, sealed and written chunk by chunk between event-loop turns; `signal` aborts it (the old file stays). */
export async function writeImageInSteps(source: SnapshotSource, image: SnapshotImage, signal: AbortSignal): Promise<void> {
  let key: Buffer | undefined;
  try {
    key = newFileKey(source, image.generation);
    await source.sealedFiles.writeInSteps(SNAPSHOT_FILE, image.bytes, signal, key);
    commitSnapshot(source, image.generation, image.seq);
  } finally {
    image.bytes.fill(0);
    key?.fill(0);
  }
}
