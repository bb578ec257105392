// The sealed snapshot file read and opened chunk by chunk between event-loop turns (restore at a
// million messages: 160 MB). The format is the vault's sealed-file format (main/vault/sealed-files.ts:
// "EPHSF001" | u32 BE chunk size | chunks, chunk i = nonce || ct || tag, AD (sealed_files, NAME,
// i, last?)); test/search/snapshot-read.test.ts checks this reader against that writer.
// Compared with SealedFiles.read it never holds the whole sealed file (one chunk's buffer is
// reused), zeroes each chunk's plaintext once copied, and yields every SLICE_MS, so the main
// thread is never held for the whole file: at 1M that read was ~1 s in one block.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { BatchOpener, SEAL_OVERHEAD, SealOpenError } from '../vault/aead.ts';
import { VaultCorrupt } from '../vault/errors.ts';
import { ad } from '../vault/records.ts';
import { SEALED_SUFFIX } from '../vault/sealed-files.ts';

const MAGIC = Buffer.from('EPHSF001', 'latin1');
const HEADER_BYTES = MAGIC.length + 4;
/** Work between two yields (the loop-delay bar is 50 ms; a 1 MiB chunk takes 1-5 ms here). */
const SLICE_MS = 8;

/**
 * Where a restore's time goes (bench/history prints it): filled in when asked for, summed over
 * the chunks. `copyMs` includes the first touch of the fresh image's pages; `yieldMs` is time the
 * read spent away at other event-loop work between its slices.
 */
export interface RestoreTimings {
  readMs: number;
  openMs: number;
  copyMs: number;
  zeroChunkMs: number;
  yieldMs: number;
  chunks: number;
  /** SearchIndex.restoreInSteps: better-sqlite3's deserialize of each part (its copy of the part's image) and the schema check, summed. */
  deserializeMs: number;
  /** Each part's deserialize (ms), in order: the restore's steps (their median is what more parts shrink; the max also holds preemption by other processes). */
  partMs: number[];
  /** The longest single stretch on the thread without a yield: a read slice, one part's deserialize, or the image's zeroing. */
  longestBlockMs: number;
  /** Zeroing the plaintext image once SQLite holds its copy. */
  zeroImageMs: number;
  /** The tail replayed from the vault's change feed after the restore. */
  tailMs: number;
}

export function newRestoreTimings(): RestoreTimings {
  return { readMs: 0, openMs: 0, copyMs: 0, zeroChunkMs: 0, yieldMs: 0, chunks: 0, deserializeMs: 0, partMs: [], longestBlockMs: 0, zeroImageMs: 0, tailMs: 0 };
}

function readFully(fd: number, into: Buffer, length: number, position: number): void {
  let got = 0;
  while (got < length) {
    const n = readSync(fd, into, got, length - got, position + got);
    if (n === 0) throw new VaultCorrupt('sealed file is truncated');
    got += n;
  }
}

/**
 * The plaintext of sealed file NAME in `profileDir`, opened with `key`; undefined when the file
 * is absent. Throws VaultCorrupt when it is tampered with, truncated or sealed under another key
 * (nothing of it is returned then: the partial plaintext is zeroed). `stillOpen` is asked between
 * slices (the vault may lock meanwhile) and its throw ends the read the same way. The result is
 * a whole ArrayBuffer's view, so it can be transferred to a worker. `sliceMs`: work between yields.
 * `timings`, when given, receives where the time went.
 */
export async function readSealedInSteps(
  profileDir: string,
  name: string,
  key: Uint8Array,
  stillOpen: () => void,
  sliceMs = SLICE_MS,
  timings?: RestoreTimings,
): Promise<Uint8Array | undefined> {
  let fd: number;
  try {
    fd = openSync(join(profileDir, `${name}${SEALED_SUFFIX}`), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const opener = new BatchOpener(key);
  let out: Uint8Array | undefined;
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(HEADER_BYTES);
    if (size < HEADER_BYTES) throw new VaultCorrupt(`sealed file ${name} has a bad header`);
    readFully(fd, head, HEADER_BYTES, 0);
    if (!head.subarray(0, MAGIC.length).equals(MAGIC)) throw new VaultCorrupt(`sealed file ${name} has a bad header`);
    const chunkSize = head.readUInt32BE(MAGIC.length);
    if (chunkSize < 1024 || chunkSize > 64 * 1024 * 1024) throw new VaultCorrupt(`sealed file ${name} has a bad chunk size`);
    const sealedChunk = chunkSize + SEAL_OVERHEAD;
    const body = size - HEADER_BYTES;
    const fullChunks = Math.floor(Math.max(0, body - 1) / sealedChunk);
    const lastLen = body - fullChunks * sealedChunk;
    if (lastLen < SEAL_OVERHEAD) throw new VaultCorrupt(`sealed file ${name} is truncated`);
    // Its own ArrayBuffer (never Buffer's shared pool): transferable, and zeroed as a whole.
    out = new Uint8Array(fullChunks * chunkSize + lastLen - SEAL_OVERHEAD);
    const sealed = Buffer.allocUnsafe(Math.min(sealedChunk, body));
    let sliceStart = performance.now();
    for (let i = 0; i <= fullChunks; i++) {
      const last = i === fullChunks;
      const length = last ? lastLen : sealedChunk;
      const t0 = performance.now();
      readFully(fd, sealed, length, HEADER_BYTES + i * sealedChunk);
      const t1 = performance.now();
      const plain = opener.open(sealed.subarray(0, length), ad('sealed_files', name, i, last ? 1 : 0));
      const t2 = performance.now();
      out.set(plain, i * chunkSize);
      const t3 = performance.now();
      plain.fill(0);
      const t4 = performance.now();
      if (timings) {
        timings.readMs += t1 - t0;
        timings.openMs += t2 - t1;
        timings.copyMs += t3 - t2;
        timings.zeroChunkMs += t4 - t3;
        timings.chunks++;
      }
      if (timings && (last || t4 - sliceStart >= sliceMs)) timings.longestBlockMs = Math.max(timings.longestBlockMs, t4 - sliceStart);
      if (!last && t4 - sliceStart >= sliceMs) {
        await yieldToEventLoop();
        stillOpen();
        sliceStart = performance.now();
        if (timings) timings.yieldMs += sliceStart - t4;
      }
    }
    const done = out;
    out = undefined;
    return done;
  } catch (err) {
    if (err instanceof SealOpenError) throw new VaultCorrupt(`sealed file ${name} was tampered with or truncated`);
    throw err;
  } finally {
    out?.fill(0);
    opener.dispose();
    closeSync(fd);
  }
}
