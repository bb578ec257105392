// Decrypt + parse a backup file into validated records: the one reading path shared by
// import (verify pass, then apply pass) and read-only open.
import { createHash, type Hash } from 'node:crypto';
import { openAgeFile, type ChunkCipher, type DecryptKeys, type OpenedAgeFile } from './age-file.ts';
import { readRecords, splitLines, type BackupRecord } from './stream.ts';
import type { BackupCounts, HeaderLine } from './format.ts';
import { StreamHash } from './signature.ts';
import { PROGRESS_EVERY, yieldAndCheck, type BackupProgress, type ProgressListener } from './progress.ts';

export interface ReadOptions {
  keys: DecryptKeys;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  chunkCipher?: ChunkCipher;
  /** Do not follow a symbolic link at the path (paths a UI named, see main/backup-files.ts). */
  noFollow?: boolean;
}

/**
 * `plaintext`, when given, is fed every plaintext byte in order: once the generator has finished
 * it is the SHA-256 of the whole stream. Import compares its two passes by it, since the file
 * can be rewritten in place between them (same age header and nonce, other chunks).
 */
export function records(file: OpenedAgeFile, plaintext?: Hash, read?: ReadCounter): Generator<BackupRecord, void, undefined> {
  const hash = new StreamHash();
  const hashed = plaintext === undefined ? file.chunks() : hashedChunks(file.chunks(), plaintext);
  return readRecords(splitLines(read === undefined ? hashed : countedChunks(hashed, read), hash), hash);
}

/** Plaintext bytes read so far: consumers yield by bytes as well as by records, so a few huge lines do not hold the event loop. */
export class ReadCounter {
  bytes = 0;
  #yieldedAt = 0;

  /** YIELD_BYTES or more were read since the last turn of the event loop (yielded). */
  yieldDue(): boolean {
    return this.bytes - this.#yieldedAt >= YIELD_BYTES;
  }

  /** The consumer let the event loop run. */
  yielded(): void {
    this.#yieldedAt = this.bytes;
  }
}

/** Plaintext bytes between event-loop turns at most (plus one line), whatever the records' count. */
export const YIELD_BYTES = 1 << 20;

function* countedChunks(chunks: Iterable<Uint8Array>, read: ReadCounter): Generator<Uint8Array, void, undefined> {
  for (const chunk of chunks) {
    read.bytes += chunk.length;
    yield chunk;
  }
}

function* hashedChunks(chunks: Iterable<Uint8Array>, plaintext: Hash): Generator<Uint8Array, void, undefined> {
  for (const chunk of chunks) {
    plaintext.update(chunk);
    yield chunk;
  }
}

export interface ScanResult {
  header: HeaderLine;
  counts: BackupCounts;
  /** The identity key whose signature over the whole stream verified; undefined for an unsigned stream. */
  signer: Uint8Array | undefined;
  /** SHA-256 of the whole plaintext that was checked. */
  plaintextSha256: Uint8Array;
}

/**
 * Reads every record (async: yields to the event loop and honours the signal between
 * batches) and hands each to `visit`. Returns the header, exact counts and the verified
 * signer once the whole file — every chunk, the final chunk, every line, the end line, the
 * signature — has been checked.
 */
export async function scanRecords(
  file: OpenedAgeFile,
  phase: BackupProgress['phase'],
  options: Pick<ReadOptions, 'signal' | 'onProgress'>,
  visit?: (r: BackupRecord) => void,
): Promise<ScanResult> {
  let header: HeaderLine | undefined;
  let counts: BackupCounts | undefined;
  let signer: Uint8Array | undefined;
  let total = 0;
  let done = 0;
  let sinceYield = 0;
  const plaintext = createHash('sha256');
  const read = new ReadCounter();
  for (const r of records(file, plaintext, read)) {
    if (r.kind === 'header') {
      header = r.line;
      total = r.line.counts.messages;
      options.onProgress?.({ phase, done, total });
    } else if (r.kind === 'message') {
      done++;
    } else if (r.kind === 'end') {
      counts = r.counts;
    } else if (r.kind === 'signed') {
      signer = r.signer;
    }
    visit?.(r);
    if (++sinceYield === PROGRESS_EVERY || read.yieldDue()) {
      sinceYield = 0;
      read.yielded();
      options.onProgress?.({ phase, done, total: Math.max(total, done) });
      await yieldAndCheck(options.signal);
    }
  }
  // readRecords throws unless both were seen; this satisfies the type checker.
  if (!header || !counts) throw new Error('unreachable: stream ended without header or end');
  options.onProgress?.({ phase, done, total: Math.max(total, done) });
  return { header, counts, signer, plaintextSha256: plaintext.digest() };
}

export async function openBackupFile(path: string, options: ReadOptions): Promise<OpenedAgeFile> {
  return openAgeFile(path, options.keys, options.chunkCipher, { noFollow: options.noFollow === true });
}

/** Checks a whole backup (header MAC, every chunk, every line, the signature) without keeping or changing anything. */
export async function verifyBackup(path: string, options: ReadOptions): Promise<ScanResult> {
  const file = await openBackupFile(path, options);
  try {
    return await scanRecords(file, 'verify', options);
  } finally {
    file.close();
  }
}
