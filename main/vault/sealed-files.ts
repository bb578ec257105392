// Sealed files in the profile directory (e.g. the search index snapshot), for blobs too big
// for a row. Format of NAME.sealed:
//   "EPHSF001" | u32 BE chunk size | chunks...
//   chunk i = nonce(24) || XChaCha20-Poly1305(ct || tag) with AD (sealed_files, NAME, i, last?)
// Chunking keeps 100+ MB snapshots streaming-friendly; the `last` flag in the AD makes a file
// cut at a chunk boundary fail, and NAME in the AD makes swapping two files fail.
import { existsSync, fsync, readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { join } from 'node:path';
import type { SealedFiles } from './api.ts';
import { BatchOpener, BatchSealer, SealOpenError, SEAL_OVERHEAD } from './aead.ts';
import { VaultCorrupt } from './errors.ts';
import { beginAtomicWrite, fsyncDir, writeAll, type AtomicFile } from '../../shared/atomic-write.ts';
import { ad } from './records.ts';

const MAGIC = Buffer.from('EPHSF001', 'latin1');
const HEADER_BYTES = MAGIC.length + 4;
export const SEALED_FILE_CHUNK = 1024 * 1024;
const NAME_PATTERN = /^[a-z0-9-]+$/u;
export const SEALED_SUFFIX = '.sealed';

function checkName(name: string): void {
  if (typeof name !== 'string' || name.length > 100 || !NAME_PATTERN.test(name)) throw new TypeError('sealed file name must match /^[a-z0-9-]+$/');
}

function checkKey(key: Uint8Array | undefined): Uint8Array | undefined {
  if (key !== undefined && (!(key instanceof Uint8Array) || key.length !== 32)) throw new TypeError('a sealed file key must be 32 bytes');
  return key;
}

function chunkAd(name: string, index: number, last: boolean): Buffer {
  return ad('sealed_files', name, index, last ? 1 : 0);
}

export class SealedFileStore implements SealedFiles {
  constructor(
    private readonly profileDir: string,
    private readonly key: () => Uint8Array,
  ) {}

  private path(name: string): string {
    return join(this.profileDir, `${name}${SEALED_SUFFIX}`);
  }

  write(name: string, data: Uint8Array, key?: Uint8Array): void {
    const w = this.begin(name, data, key);
    try {
      while (w.next()) {
        // every chunk in one go
      }
    } catch (err) {
      w.file.abort();
      throw err;
    } finally {
      w.dispose();
    }
    w.file.commit();
  }

  /**
   * As write, but yields to the event loop after each sealed chunk and flushes the file to disk
   * on the thread pool before the (then cheap) synchronous commit: a 100+ MB snapshot never
   * blocks the process for its whole length (sliced deletion). An abort through
   * `signal` removes the temporary file and leaves the old one in place.
   */
  async writeInSteps(name: string, data: Uint8Array, signal?: AbortSignal, key?: Uint8Array): Promise<void> {
    const w = this.begin(name, data, key);
    try {
      while (w.next()) {
        await yieldToEventLoop();
        signal?.throwIfAborted();
      }
      await new Promise<void>((resolve, reject) => fsync(w.file.fd, (err) => (err ? reject(err) : resolve())));
      // Aborted meanwhile (e.g. a newer snapshot was written): the old file stays, this one goes.
      signal?.throwIfAborted();
    } catch (err) {
      w.file.abort();
      throw err;
    } finally {
      w.dispose();
    }
    w.file.commit();
  }

  /** The header written; `next` seals and writes one chunk and says whether another follows. */
  private begin(name: string, data: Uint8Array, key?: Uint8Array): { file: AtomicFile; next: () => boolean; dispose: () => void } {
    checkName(name);
    const sealer = new BatchSealer(checkKey(key) ?? this.key());
    let file: AtomicFile;
    try {
      file = beginAtomicWrite(this.path(name));
    } catch (err) {
      sealer.dispose(); // its subkey goes with the failed open
      throw err;
    }
    const chunks = Math.max(1, Math.ceil(data.length / SEALED_FILE_CHUNK));
    let i = -1;
    const next = (): boolean => {
      if (i < 0) {
        const head = Buffer.alloc(HEADER_BYTES);
        MAGIC.copy(head, 0);
        head.writeUInt32BE(SEALED_FILE_CHUNK, MAGIC.length);
        writeAll(file.fd, head);
      } else {
        const part = data.subarray(i * SEALED_FILE_CHUNK, Math.min(data.length, (i + 1) * SEALED_FILE_CHUNK));
        writeAll(file.fd, sealer.seal(part, chunkAd(name, i, i === chunks - 1)));
      }
      i++;
      return i < chunks;
    };
    return { file, next, dispose: () => sealer.dispose() };
  }

  read(name: string, key?: Uint8Array): Uint8Array | undefined {
    checkName(name);
    checkKey(key);
    const path = this.path(name);
    if (!existsSync(path)) return undefined;
    const raw = readFileSync(path);
    if (raw.length < HEADER_BYTES || !raw.subarray(0, MAGIC.length).equals(MAGIC)) throw new VaultCorrupt(`sealed file ${name} has a bad header`);
    const chunkSize = raw.readUInt32BE(MAGIC.length);
    if (chunkSize < 1024 || chunkSize > 64 * 1024 * 1024) throw new VaultCorrupt(`sealed file ${name} has a bad chunk size`);
    const sealedChunk = chunkSize + SEAL_OVERHEAD;
    const body = raw.length - HEADER_BYTES;
    const fullChunks = Math.floor(Math.max(0, body - 1) / sealedChunk);
    const lastLen = body - fullChunks * sealedChunk;
    if (lastLen < SEAL_OVERHEAD) throw new VaultCorrupt(`sealed file ${name} is truncated`);
    const out = Buffer.allocUnsafe(fullChunks * chunkSize + lastLen - SEAL_OVERHEAD);
    const opener = new BatchOpener(key ?? this.key());
    try {
      for (let i = 0; i <= fullChunks; i++) {
        const last = i === fullChunks;
        const start = HEADER_BYTES + i * sealedChunk;
        const blob = raw.subarray(start, last ? raw.length : start + sealedChunk);
        const plain = opener.open(blob, chunkAd(name, i, last));
        out.set(plain, i * chunkSize);
        // The chunk's own copy of the plaintext is dropped here: zeroed first (E's note, s18).
        plain.fill(0);
      }
    } catch (err) {
      // What was opened before the failure is plaintext no caller will get.
      out.fill(0);
      if (err instanceof SealOpenError) throw new VaultCorrupt(`sealed file ${name} was tampered with or truncated`);
      throw err;
    } finally {
      opener.dispose();
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }

  remove(name: string): void {
    checkName(name);
    try {
      unlinkSync(this.path(name));
      fsyncDir(this.profileDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /** Deletes temp files left by a write that was interrupted (crash between write and rename). */
  removeStaleTemps(): void {
    for (const f of readdirSync(this.profileDir)) {
      if (/\.(sealed|json)\.tmp-[0-9a-f]{12}$/u.test(f)) {
        try {
          unlinkSync(join(this.profileDir, f));
        } catch {
          // best effort
        }
      }
    }
  }
}
