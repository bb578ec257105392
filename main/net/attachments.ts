// Moving one attachment through the relay's blob methods (docs/protocol.md §9a): the file is
// sealed chunk by chunk (shared/protocol/stream.ts) straight from disk, so memory holds one
// chunk whatever the file's size. The upload continues from the length the relay acknowledged:
// RelayClient re-sends a request after a dropped connection or a 404 re-bind, and a put the
// relay had already stored answers with that same length, so nothing is written twice; after a
// relay restart a put that was lost with it is answered with the shorter length, and the upload
// goes back there. Sealing is deterministic for a key and chunk index, so any chunk can be
// sealed again from the file. The download checks every chunk and the digest of the whole.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { CodedError } from '../../shared/errors.ts';
import type { RelayCallParams, RelayMethodName, RelayResult } from '../../shared/protocol/methods.ts';
import {
  openChunk, SealedDigest, sealChunkInto, sealedChunkLength, streamLayout, StreamError,
  STREAM_CHUNK_BYTES, STREAM_KEY_BYTES, STREAM_SEALED_CHUNK_BYTES, type StreamLayout,
} from '../../shared/protocol/stream.ts';
import { bytesEqual } from '../../shared/protocol/bytes.ts';
import { AttachmentOverQuota, quotaShortfall, readBlobLimits, type BlobLimits } from './blob-limits.ts';

/** What the transfer needs of RelayClient (its typed call). */
export interface BlobCaller {
  call<M extends RelayMethodName>(method: M, params: RelayCallParams<M>): Promise<RelayResult<M>>;
}

export type TransferErrorCode = 'ATTACHMENT_TOO_LARGE' | 'ATTACHMENT_CHANGED' | 'ATTACHMENT_CANCELLED' | 'ATTACHMENT_RELAY_STATE';

export class TransferError extends CodedError<TransferErrorCode> {
  constructor(code: TransferErrorCode, message: string) {
    super(code, message);
  }
}

export interface TransferOptions {
  /** Sealed bytes acknowledged (upload) or checked (download) so far, of `total`. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** What the recipient needs to fetch and open the blob (it travels inside the E2E message). */
export interface BlobRef {
  blobId: Uint8Array;
  key: Uint8Array;
  /** SHA-256 of the whole sealed stream. */
  digest: Uint8Array;
  /** Plaintext bytes. */
  size: number;
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new TransferError('ATTACHMENT_CANCELLED', 'The transfer was cancelled.');
}

/**
 * Sealed-chunk buffers of one upload, reused: a buffer goes back once the relay has answered the
 * put that carried it (RelayClient keeps a request's data only until its answer, to re-send it
 * after a re-bind). Without them every chunk left a dead 64 KiB buffer for the collector, and
 * those waiting for a major collection are most of a transfer's RSS growth. At most
 * TRANSFER_WINDOW in flight plus CHECKPOINT_CHUNKS sealed ahead are out at once. They hold
 * ciphertext only (what the relay gets), so they need no zeroing.
 */
class SealedChunkPool {
  private readonly free: Buffer[] = [];
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(STREAM_SEALED_CHUNK_BYTES);
  }
  give(chunk: Buffer): void {
    if (chunk.length === STREAM_SEALED_CHUNK_BYTES && this.free.length < TRANSFER_WINDOW + CHECKPOINT_CHUNKS) this.free.push(chunk);
  }
}

/**
 * Reads the plaintext of chunks [first, first + count) of the file (zero padding included) with
 * one read into `scratch` (one per upload, reused: sealing consumes it at once), seals each into
 * a buffer from `into` and hands it to `each` (the sealed chunk is a view of that buffer's start).
 * One read per group rather than per 64 KiB chunk: each read is a trip through the thread pool,
 * and the sending loop waits for the group.
 */
async function sealRange(fh: ByteSource, key: Uint8Array, layout: StreamLayout, first: number, count: number, scratch: Buffer, into: () => Buffer, each: (index: number, sealed: Buffer, buffer: Buffer) => void): Promise<void> {
  const start = first * STREAM_CHUNK_BYTES;
  const end = Math.min(layout.padded, (first + count) * STREAM_CHUNK_BYTES);
  // Not zeroed first: the file's bytes overwrite all but the padding, zeroed here.
  const plain = scratch.subarray(0, end - start);
  const fromFile = Math.max(0, Math.min(plain.length, layout.size - start));
  plain.fill(0, fromFile);
  let got = 0;
  while (got < fromFile) {
    const { bytesRead } = await fh.read(plain, got, fromFile - got, start + got);
    if (bytesRead === 0) throw new TransferError('ATTACHMENT_CHANGED', 'The file became shorter while it was being sent.');
    got += bytesRead;
  }
  for (let i = first, at = 0; i < first + count; i++) {
    const plainLen = sealedChunkLength(layout, i) - (STREAM_SEALED_CHUNK_BYTES - STREAM_CHUNK_BYTES);
    const buffer = into();
    each(i, buffer.subarray(0, sealChunkInto(key, i, i === layout.chunks - 1, plain.subarray(at, at + plainLen), buffer)), buffer);
    at += plainLen;
  }
}

/**
 * Seals the file at `path` under a new random key and uploads it as a blob readable by
 * `recipients` (handles). Returns the reference for the E2E message.
 */
export async function uploadFile(relay: BlobCaller, path: string, recipients: readonly string[], o: TransferOptions = {}): Promise<BlobRef> {
  const size = (await stat(path)).size;
  const fh = await open(path, 'r');
  try {
    return await uploadFrom(relay, fh, size, recipients, o, async () => {
      if ((await fh.stat()).size !== size) throw new TransferError('ATTACHMENT_CHANGED', 'The file changed while it was being sent.');
    });
  } finally {
    await fh.close();
  }
}

/** Where the plaintext of an upload is read from: an open file, or chunks sealed in the vault (main/messenger/attachment-ui.ts). */
export interface ByteSource {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

/**
 * An upload to continue after the client restarted: the blob an earlier attempt created, the
 * key it sealed with, and its last checkpoint: `length` (sealed bytes; the relay never got more)
 * and the SHA-256 of the sealed stream up to there. Sealing is deterministic, so if the file
 * still seals to that digest the chunks the relay has are what this would send; if not (a file
 * rewritten with the same size and time) the upload starts over under a new key.
 * `created` is told as soon as a blob exists and `checkpoint` before any chunk past the previous
 * checkpoint is sent, for the caller to keep (sealed) until done.
 */
export interface UploadResume {
  earlier?: { blobId: Uint8Array; key: Uint8Array; length: number; digest: Uint8Array };
  created?(blobId: Uint8Array, key: Uint8Array): void;
  checkpoint?(length: number, digest: Uint8Array): void;
}

/** uploadFile from any source of `size` bytes; `unchanged` runs after the last read. */
export async function uploadFrom(relay: BlobCaller, fh: ByteSource, size: number, recipients: readonly string[], o: TransferOptions & { resume?: UploadResume } = {}, unchanged: () => Promise<void> = async () => undefined): Promise<BlobRef> {
  const limits = await readBlobLimits(relay);
  if (size > limits.maxFileBytes) {
    throw new TransferError('ATTACHMENT_TOO_LARGE', `The file is ${size} bytes; this relay accepts at most ${limits.maxFileBytes} bytes per attachment.`);
  }
  const layout = streamLayout(size);
  const scratch = Buffer.allocUnsafe(Math.min(layout.padded, CHECKPOINT_CHUNKS * STREAM_CHUNK_BYTES));
  try {
    return await uploadSealed(relay, fh, layout, recipients, o, unchanged, scratch, limits);
  } finally {
    // The last chunk's plaintext: not left in a freed buffer.
    scratch.fill(0);
  }
}

async function uploadSealed(relay: BlobCaller, fh: ByteSource, layout: StreamLayout, recipients: readonly string[], o: TransferOptions & { resume?: UploadResume }, unchanged: () => Promise<void>, scratch: Buffer, limits: BlobLimits): Promise<BlobRef> {
  // One pass: each chunk is sealed, hashed into the digest the message carries (SHA-256 of the
  // sealed stream, in order) and sent. A chunk sealed again after a rewind is the same bytes, so
  // it is not hashed twice.
  const resumed = await resumeEarlier(relay, fh, layout, o, scratch);
  let sealed = resumed;
  if (!sealed) {
    refuseOverQuota(limits, layout, recipients);
    const key = randomBytes(STREAM_KEY_BYTES);
    const id = (await relay.call('blob.create', { size: layout.sealedSize, recipients: [...recipients] })).id;
    o.resume?.created?.(id, key);
    sealed = { id, key, from: 0, hash: createHash('sha256'), hashed: 0 };
  }
  try {
    await putFrom(relay, fh, layout, sealed, o, scratch);
  } catch (e) {
    // Cancelled, or failed where nothing can resume it: the partial blob is withdrawn rather
    // than left to its expiry. A resumable one stays for the next attempt.
    const cancelled = e instanceof TransferError && e.code === 'ATTACHMENT_CANCELLED';
    if (cancelled || !o.resume) relay.call('blob.done', { id: sealed.id }).catch(() => undefined);
    throw e;
  }
  await unchanged();
  return { blobId: sealed.id, key: sealed.key, digest: sealed.hash.digest(), size: layout.size };
}

/**
 * Refuses, before blob.create, a file whose charge (the relay's terms, blob.limits) does not fit
 * the account's quota: never (ATTACHMENT_TOO_LARGE) or not now (AttachmentOverQuota). A resumed
 * blob is charged already and is not asked about.
 */
function refuseOverQuota(limits: BlobLimits, layout: StreamLayout, recipients: readonly string[]): void {
  const n = new Set(recipients).size;
  const short = quotaShortfall(limits, layout.sealedSize, n);
  if (!short) return;
  const counts = `The file is ${layout.size} bytes; sent to ${n} recipient${n === 1 ? '' : 's'} it counts ${short.charge} bytes against your attachment quota on this relay (${short.recipientsShare} of them for the recipients, ${short.perRecipientBytes} each)`;
  if (short.never) throw new TransferError('ATTACHMENT_TOO_LARGE', `${counts}, more than the whole quota of ${short.quotaBytes} bytes.`);
  throw new AttachmentOverQuota(short, `${counts}, and ${short.leftBytes} of ${short.quotaBytes} bytes are left: try again once recipients have fetched the attachments waiting for them.`);
}

/** An upload under way: its blob and key, where sending starts, and the running digest over the first `hashed` chunks. */
interface Sealing {
  id: Uint8Array;
  key: Uint8Array;
  from: number;
  hash: Hash;
  hashed: number;
}

/**
 * The earlier attempt's blob, if the relay still has it (no longer than its last checkpoint, whole
 * chunks) and the file seals under its key to the checkpoint's digest; else undefined (a stale
 * blob is withdrawn).
 */
async function resumeEarlier(relay: BlobCaller, fh: ByteSource, layout: StreamLayout, o: TransferOptions & { resume?: UploadResume }, scratch: Buffer): Promise<Sealing | undefined> {
  const earlier = o.resume?.earlier;
  if (!earlier) return undefined;
  const st = await relay.call('blob.status', { id: earlier.blobId }).catch(() => undefined);
  const chunks = Math.ceil(earlier.length / STREAM_SEALED_CHUNK_BYTES);
  if (st && st.size === layout.sealedSize && st.length <= earlier.length && earlier.length <= layout.sealedSize && (st.length === layout.sealedSize || st.length % STREAM_SEALED_CHUNK_BYTES === 0)) {
    const hash = createHash('sha256');
    // Sealed only to be hashed: one buffer serves every chunk.
    const one = Buffer.allocUnsafe(STREAM_SEALED_CHUNK_BYTES);
    for (let i = 0; i < chunks; i += CHECKPOINT_CHUNKS) {
      checkAborted(o.signal);
      await sealRange(fh, earlier.key, layout, i, Math.min(CHECKPOINT_CHUNKS, chunks - i), scratch, () => one, (_, c) => hash.update(c));
    }
    if (bytesEqual(hash.copy().digest(), earlier.digest)) return { id: earlier.blobId, key: earlier.key, from: st.length, hash, hashed: chunks };
  }
  // Gone, or not the content the earlier attempt sealed: its chunks are of other bytes, and its
  // key must not seal these (same key and chunk index, other plaintext). Start over.
  if (st) relay.call('blob.done', { id: earlier.blobId }).catch(() => undefined);
  return undefined;
}

/** Puts or gets kept in flight at once: one at a time would wait a round trip (and a relay commit) per 64 KiB. */
export const TRANSFER_WINDOW = 32;
/** Chunks sealed and hashed ahead of sending, one checkpoint each: the resume record is written once per group, not per chunk. */
const CHECKPOINT_CHUNKS = 32;

/**
 * Puts sealed chunks from `s.from` on until the relay acknowledges the whole stream, up to
 * TRANSFER_WINDOW at a time. The relay handles one key's requests in order, so the answers come
 * back in order with growing lengths; one shorter than its put's end means the relay lost puts
 * (a restart): the rest in flight write nothing, and sending goes on from that length.
 * Chunks are sealed and hashed a group ahead, and the group's checkpoint is told before any of
 * it is sent, so a resume record always covers everything the relay may have.
 */
async function putFrom(relay: BlobCaller, fh: ByteSource, layout: StreamLayout, s: Sealing, o: TransferOptions & { resume?: UploadResume }, scratch: Buffer): Promise<void> {
  let acked = s.from;
  let next = s.from;
  let inflight: { end: number; answer: Promise<{ length: number }>; buffer: Buffer }[] = [];
  const pool = new SealedChunkPool();
  /** Sealed, hashed, covered by the checkpoint, not yet sent: chunk index -> bytes and the pool buffer they are in. */
  const ahead = new Map<number, { sealed: Buffer; buffer: Buffer }>();
  const sealAhead = async (first: number): Promise<void> => {
    const end = Math.min(layout.chunks, first + CHECKPOINT_CHUNKS);
    checkAborted(o.signal);
    await sealRange(fh, s.key, layout, first, end - first, scratch, () => pool.take(), (i, sealed, buffer) => {
      s.hash.update(sealed);
      ahead.set(i, { sealed, buffer });
    });
    s.hashed = end;
    o.resume?.checkpoint?.(end === layout.chunks ? layout.sealedSize : end * STREAM_SEALED_CHUNK_BYTES, s.hash.copy().digest());
  };
  o.onProgress?.(acked, layout.sealedSize);
  while (acked < layout.sealedSize) {
    checkAborted(o.signal);
    while (inflight.length < TRANSFER_WINDOW && next < layout.sealedSize) {
      if (next % STREAM_SEALED_CHUNK_BYTES !== 0) throw new TransferError('ATTACHMENT_RELAY_STATE', 'The relay acknowledged a length inside a chunk.');
      const index = next / STREAM_SEALED_CHUNK_BYTES;
      // In order, every chunk is hashed exactly once: a new group when sending reaches past the hashed ones.
      while (index >= s.hashed) await sealAhead(s.hashed);
      let chunk = ahead.get(index);
      // After a rewind: sealed again (the same bytes) for the re-send.
      if (!chunk) await sealRange(fh, s.key, layout, index, 1, scratch, () => pool.take(), (_, sealed, buffer) => (chunk = { sealed, buffer }));
      if (!chunk) throw new Error('unreachable: sealRange seals the chunk it is asked for');
      ahead.delete(index);
      const answer = relay.call('blob.put', { id: s.id, offset: next, data: chunk.sealed });
      // Settled later, in order; a rejection is taken then (and never left unhandled: after an
      // error nothing waits for the others, and their buffers are not reused).
      answer.catch(() => undefined);
      next += chunk.sealed.length;
      inflight.push({ end: next, answer, buffer: chunk.buffer });
    }
    const head = inflight.shift();
    if (!head) break;
    const r = await head.answer;
    pool.give(head.buffer);
    if (r.length > layout.sealedSize) throw new TransferError('ATTACHMENT_RELAY_STATE', 'The relay acknowledged more than was sent.');
    acked = Math.max(acked, r.length);
    if (r.length < head.end) {
      // The relay has less than this put ends at: let the rest in flight settle, then resend from there.
      for (const rest of inflight) {
        acked = Math.max(acked, (await rest.answer).length);
        pool.give(rest.buffer);
      }
      inflight = [];
      next = acked;
    } else next = Math.max(next, acked);
    o.onProgress?.(acked, layout.sealedSize);
  }
  // A stream the relay had whole already (resumed at its end) was hashed by resumeEarlier.
  if (s.hashed < layout.chunks) throw new TransferError('ATTACHMENT_RELAY_STATE', 'The relay acknowledged chunks that were never sent.');
}

/**
 * Downloads and opens the blob, handing each plaintext piece (padding removed) to `sink` in
 * order. Every chunk must open at its place and the digest of the whole sealed stream must
 * match before this resolves; on any failure it throws (StreamError for damage) and the caller
 * must discard what the sink received, or keep it to resume (`stored`) after an interruption.
 * Resolves with the number of chunks taken from `stored` (0: fetched from the start).
 */
export async function downloadBlob(relay: BlobCaller, ref: BlobRef, sink: (plain: Buffer, index: number) => void | Promise<void>, o: TransferOptions & { stored?: StoredPrefix } = {}): Promise<number> {
  const layout = streamLayout(ref.size);
  const status = await relay.call('blob.status', { id: ref.blobId });
  if (status.size !== layout.sealedSize) throw new StreamError('ATTACHMENT_CORRUPT', 'the blob at the relay has another size than the message says');
  const digest = new SealedDigest();
  const offsets: number[] = [];
  for (let i = 0, off = 0; i < layout.chunks; off += sealedChunkLength(layout, i), i++) offsets.push(off);
  // Resuming: the plaintext chunks an earlier attempt kept are sealed again (deterministic for a
  // key and index) for the digest, and only the rest is fetched. Only whole chunks of file bytes
  // (never the last, never padding) count; the digest at the end still covers the whole stream.
  const full = Math.min(layout.chunks - 1, Math.floor(ref.size / STREAM_CHUNK_BYTES));
  let from = 0;
  // Sealed only to be hashed: one buffer serves every kept chunk.
  const resealed = o.stored ? Buffer.allocUnsafe(STREAM_SEALED_CHUNK_BYTES) : undefined;
  while (resealed && o.stored && from < full) {
    const plain = o.stored(from);
    if (!plain) break;
    try {
      if (plain.length !== STREAM_CHUNK_BYTES) break;
      digest.update(resealed.subarray(0, sealChunkInto(ref.key, from, false, plain, resealed)));
    } finally {
      // Ours (StoredPrefix hands out a copy): file plaintext is not left in freed memory.
      plain.fill(0);
    }
    from++;
  }
  const fetchChunk = (i: number): Promise<{ data: Uint8Array }> => {
    const p = relay.call('blob.get', { id: ref.blobId, offset: offsets[i] as number, length: sealedChunkLength(layout, i) });
    p.catch(() => undefined);
    return p;
  };
  // Up to TRANSFER_WINDOW gets in flight, each chunk checked in order as it comes.
  const ahead: Promise<{ data: Uint8Array }>[] = [];
  let requested = from;
  let out = from * STREAM_CHUNK_BYTES;
  if (from > 0) o.onProgress?.(offsets[from] as number, layout.sealedSize);
  for (let i = from; i < layout.chunks; i++) {
    checkAborted(o.signal);
    while (requested < layout.chunks && requested < i + TRANSFER_WINDOW) ahead.push(fetchChunk(requested++));
    const want = sealedChunkLength(layout, i);
    const { data } = await (ahead.shift() as Promise<{ data: Uint8Array }>);
    if (data.length !== want) throw new StreamError('ATTACHMENT_TRUNCATED', `chunk ${i} is short`);
    digest.update(data);
    const plain = openChunk(ref.key, i, i === layout.chunks - 1, data);
    if (!plain) throw new StreamError('ATTACHMENT_CORRUPT', `chunk ${i} does not open`);
    const keep = Math.max(0, Math.min(plain.length, ref.size - out));
    for (let j = keep; j < plain.length; j++) {
      if (plain[j] === 0) continue;
      plain.fill(0);
      throw new StreamError('ATTACHMENT_CORRUPT', 'padding is not zeros');
    }
    if (keep > 0) await sink(plain.subarray(0, keep), i);
    out += keep;
    o.onProgress?.((offsets[i] as number) + want, layout.sealedSize);
  }
  if (!bytesEqual(digest.digest(), ref.digest)) throw new StreamError('ATTACHMENT_CORRUPT', 'the digest does not match');
  return from;
}

/**
 * Plaintext chunk `index` kept by an earlier, interrupted download (undefined when not kept): a
 * buffer the download owns from then on (it zeroes it once used), never one the caller keeps.
 */
export type StoredPrefix = (index: number) => Uint8Array | undefined;
