// Attachments: a file is sealed and uploaded as a relay blob (main/net/attachments.ts),
// then announced by an E2E 'attachment' content carrying its key, digest, size, type and name.
// At rest, its plaintext is kept in 64 KiB chunks, each sealed in the vault's kv table under a
// key naming the attachment and the chunk index (the row's associated data binds both, so chunks
// cannot be swapped); the record with name, type, key and digest is sealed too. Nothing about
// the file reaches disk in plaintext, and no file or row grows with the number of attachments.
// A received attachment is stored only after the whole stream opened and its digest matched.
import { randomBytes } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { basename } from 'node:path';
import { ApiError, type Attachment } from '../../shared/api.ts';
import { beginAtomicWrite, writeAll, type AtomicFile } from '../../shared/atomic-write.ts';
import { STREAM_CHUNK_BYTES, StreamError } from '../../shared/protocol/stream.ts';
import type { AttachmentContent } from '../e2e/content.ts';
import { downloadBlob, TransferError, type BlobCaller, type BlobRef, type ByteSource, type TransferOptions } from '../net/attachments.ts';
import { AttachmentOverQuota } from '../net/blob-limits.ts';
import type { ContactRecord, StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import type { RelayConnection } from './connection.ts';
import { conversationIdOf, INCOMING_CONTENT_IDS, incomingPlace, newContentId, OUTGOING_CONTENT_IDS, outgoingMessageId, QUOTABLE_CONTENT_IDS, textIdempotencyKey } from './ids.ts';
import { handToRelay } from './outgoing.ts';
import { MetadataNotRemoved } from './strip-metadata.ts';
import { rangedSource, uploadFileStripped, type Ranges } from './strip-source.ts';
import { uploadResumeFor } from './upload-resume.ts';
import {
  ATTACHMENT_CHUNKS, type AttachmentRecord, BLOB_RELEASES, blobReleaseHooks, CHUNKS_PER_TRANSACTION, chunkCount, chunkKey, deleteChunks, isCurrent, linkAttachment, markStaging,
  readRecord, recordOf, SAVES_IN_PROGRESS, STAGING, trackDownload, writeRecord,
} from './attachment-store.ts';
import { RETRYABLE_RPC_ERRORS, RpcError } from '../../shared/protocol/errors.ts';

export { deleteAttachmentOf } from './attachment-store.ts';

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64url'));
export function newAttachmentId(): string {
  return `att_${randomBytes(16).toString('base64url')}`;
}


function viewOf(r: AttachmentRecord): Attachment {
  return { id: r.id, messageId: r.messageId, name: r.name, size: r.size, type: r.type, downloaded: r.downloaded };
}

/** A content type from the file name, for the few kinds a UI previews; '' otherwise. */
function contentTypeOf(name: string): string {
  const ext = name.toLowerCase().split('.').pop() ?? '';
  const known: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', pdf: 'application/pdf', txt: 'text/plain' };
  return known[ext] ?? 'application/octet-stream';
}

export function apiErrorOf(e: unknown): unknown {
  if (e instanceof MetadataNotRemoved) return new ApiError('METADATA_NOT_REMOVED', e.message);
  if (e instanceof StreamError) return new ApiError('PROTOCOL_ERROR', 'The attachment did not arrive as its sender sealed it (damaged or cut short); nothing of it was kept.');
  // Not now, with the numbers; BUSY as the relay's QUOTA_EXCEEDED (a committed upload tries again later).
  if (e instanceof AttachmentOverQuota) return new ApiError('BUSY', e.message);
  if (e instanceof TransferError) {
    if (e.code === 'ATTACHMENT_CANCELLED') return new ApiError('CANCELLED', e.message);
    return new ApiError(e.code === 'ATTACHMENT_TOO_LARGE' ? 'RELAY_REJECTED' : 'FILE_ERROR', e.message);
  }
  if (e instanceof Error && 'code' in e && typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return new ApiError('FILE_ERROR', `The file could not be read or written (${e.code}).`);
  return e;
}

/** Running transfers by the caller's job id, so attachmentCancel can stop one. */
const running = new Map<string, AbortController>();

/** Runs a transfer under `jobId` (when given) so it can be cancelled; CANCELLED when it was. */
export async function asJob<T>(jobId: string | undefined, o: TransferOptions, fn: (o: TransferOptions) => Promise<T>): Promise<T> {
  if (jobId === undefined) return fn(o);
  if (running.has(jobId)) throw new ApiError('INVALID_ARGUMENT', 'A transfer with this job id is already running.');
  const ac = new AbortController();
  running.set(jobId, ac);
  try {
    return await fn({ ...o, signal: ac.signal });
  } finally {
    running.delete(jobId);
  }
}

/** Cancels the running upload or download of `jobId`; false when there is none. */
export function cancelTransfer(jobId: string): boolean {
  const ac = running.get(jobId);
  if (!ac) return false;
  ac.abort();
  return true;
}

/** A file sealed and uploaded, not yet announced. */
export interface UploadedAttachment {
  ref: BlobRef;
  name: string;
  type: string;
  path: string;
  /** Set when the plaintext is already sealed in the vault under this attachment id (main/messenger/attachment-ui.ts), not read from `path`. */
  stagedId?: string;
  /** The byte ranges of `path` that were sent (an image without its metadata, strip-source.ts); absent: the whole file. */
  ranges?: Ranges;
}

/**
 * Seals and uploads the file for `recipients` (a contact's handle, or a group's members: the
 * blob's recipients at the relay; outside any vault activity: it may take long); a JPEG or PNG
 * goes without its metadata (EXIF, GPS, text) unless `keepMetadata`.
 */
export async function uploadAttachment(relay: BlobCaller, path: string, recipients: readonly string[], name: string | undefined, o: TransferOptions & { jobId?: string; keepMetadata?: boolean; vault?: Vault } = {}): Promise<UploadedAttachment> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new ApiError('FILE_ERROR', 'Only a regular file can be sent.');
    const fileName = (name ?? basename(path)).slice(0, 255) || 'file';
    // With the vault: an upload cut short (even by the process dying) continues when the same file is sent again.
    // Resumed only for the same recipients (one contact: its handle, as before groups).
    const resumable = o.vault ? await uploadResumeFor(o.vault, path, [...recipients].sort().join(' '), o.keepMetadata === true) : undefined;
    const { ref, ranges } = await asJob(o.jobId, o, (jo) => uploadFileStripped(relay, path, recipients, o.keepMetadata === true, { ...jo, ...(resumable ? { resume: resumable.resume } : {}) })).catch((e: unknown) => {
      // Cancelled: the partial blob was withdrawn, nothing to resume.
      if (e instanceof TransferError && e.code === 'ATTACHMENT_CANCELLED') resumable?.finished();
      throw e;
    });
    resumable?.finished();
    return { ref, name: fileName, type: contentTypeOf(fileName), path, ...(ranges ? { ranges } : {}) };
  } catch (e) {
    throw apiErrorOf(e);
  }
}

/** What sending needs of the facade: the E2E encryption of one content for a handle. */
export interface AttachmentSendSteps {
  vault: Vault;
  conn: RelayConnection;
  withIdKey<T>(fn: (idKey: Uint8Array) => T): T;
  encrypt(handle: string, content: AttachmentContent): Promise<Uint8Array>;
  /** The conversation's disappearing timer for a message sent now (seconds), if on. */
  timerForSend?(conversationId: string): number | undefined;
  /** Starts a sent message's countdown (main/messenger/expiry.ts); expiry deletes the file with it. */
  sent?(messageId: string, conversationId: string, seconds: number | undefined, at: number): void;
}

/**
 * Stores the message (its text is the caption) with its attachment and a sealed copy of the
 * file, then hands the E2E message to the relay (durable). The outgoing content id is written
 * only once the message is in the outbox: a resume at unlock re-encrypts queued messages as
 * text, which an attachment must never become.
 */
export async function sendAttachment(s: AttachmentSendSteps, contact: ContactRecord, up: UploadedAttachment, caption: string | undefined): Promise<StoredMessage> {
  const { vault } = s;
  const contentId = newContentId();
  const now = Date.now();
  const conversationId = conversationIdOf(contact.id);
  const id = s.withIdKey((k) => outgoingMessageId(k, contentId));
  const attachmentId = up.stagedId ?? newAttachmentId();
  const record: AttachmentRecord = {
    id: attachmentId, messageId: id, name: up.name, type: up.type, size: up.ref.size,
    blob: b64(up.ref.blobId), key: b64(up.ref.key), digest: b64(up.ref.digest), downloaded: false,
  };
  if (up.stagedId === undefined) await storeSenderCopy(vault, record, up.path, up.ranges);
  const [stored] = vault.transaction(() => {
    writeRecord(vault, { ...record, downloaded: true });
    vault.kvDelete(STAGING, attachmentId);
    linkAttachment(vault, id, attachmentId);
    return vault.appendMessages([{ id, conversationId, direction: 'out', sender: 'self', sentAt: now, receivedAt: now, text: caption ?? '', state: 'queued' }]);
  });
  if (!stored) throw new Error('the vault did not store the message');
  const timer = s.timerForSend?.(conversationId);
  s.sent?.(id, conversationId, timer, now);
  let body: Uint8Array;
  try {
    body = await s.encrypt(contact.handle, {
      v: 1, kind: 'attachment', id: contentId, sentAt: now, blob: record.blob, key: record.key, digest: record.digest,
      size: record.size, type: record.type, name: record.name, ...(caption !== undefined ? { caption } : {}), ...(timer !== undefined ? { timer } : {}),
    });
  } catch (e) {
    vault.updateMessageState(id, 'failed');
    throw e;
  }
  const idem = s.withIdKey((k) => textIdempotencyKey(k, contentId));
  handToRelay(vault, s.conn, contact.handle, body, idem, contentId, timer);
  vault.kvSet(OUTGOING_CONTENT_IDS, id, Buffer.from(contentId, 'utf8'));
  return stored;
}

/** The sender's own copy, sealed chunk by chunk from the file it just sent (the bytes it sent: `ranges` of it, when set). */
export async function storeSenderCopy(vault: Vault, r: AttachmentRecord, path: string, ranges: Ranges | undefined): Promise<void> {
  const file = await open(path, 'r');
  const fh: ByteSource = ranges ? rangedSource(file, ranges) : file;
  markStaging(vault, r.id);
  try {
    const n = chunkCount(r.size);
    for (let first = 0; first < n; first += CHUNKS_PER_TRANSACTION) {
      const chunks: Buffer[] = [];
      for (let i = first; i < Math.min(n, first + CHUNKS_PER_TRANSACTION); i++) {
        const len = Math.min(STREAM_CHUNK_BYTES, r.size - i * STREAM_CHUNK_BYTES);
        const buf = Buffer.alloc(len);
        const { bytesRead } = await fh.read(buf, 0, len, i * STREAM_CHUNK_BYTES);
        if (bytesRead !== len) throw new ApiError('FILE_ERROR', 'The file changed while it was being sent.');
        chunks.push(buf);
      }
      vault.transaction(() => chunks.forEach((c, j) => vault.kvSet(ATTACHMENT_CHUNKS, chunkKey(r.id, first + j), c)));
    }
  } catch (e) {
    deleteChunks(vault, r);
    throw e;
  } finally {
    await file.close();
  }
}

/** The parts of the inbound store step this uses (main/messenger/inbound.ts InboundSteps). */
export interface InboundAttachmentSteps {
  contactFor(handle: string): ContactRecord;
  withIdKey<T>(fn: (idKey: Uint8Array) => T): T;
  touchConversation(conversationId: string, at: number, unreadDelta: number): void;
  /** True when a delete for everyone of this message came first (it is then kept as a tombstone, without its file). */
  arrivedAfterDelete?(messageId: string, sentAt: number): boolean;
  /** Records the timer a message was sent under (its countdown starts when first shown). */
  recordTimer?(messageId: string, conversationId: string, seconds: number): void;
}

/** Stores a received attachment message (not yet downloaded); the same shape as a text's effect. */
export function storeInboundAttachment(vault: Vault, from: string, content: AttachmentContent, steps: InboundAttachmentSteps):
  { kind: 'text'; message: StoredMessage; contact: ContactRecord; contentId: string; isNew: boolean } {
  const contact = steps.contactFor(from);
  const { id, conversationId, existing } = incomingPlace(vault, steps, contact, content.id);
  if (existing) return { kind: 'text', message: existing, contact, contentId: content.id, isNew: false };
  const now = Date.now();
  const gone = steps.arrivedAfterDelete?.(id, content.sentAt) === true;
  const [message] = vault.appendMessages([
    { id, conversationId, direction: 'in', sender: contact.id, sentAt: content.sentAt, receivedAt: now, text: gone ? '' : (content.caption ?? ''), state: 'received' },
  ]);
  if (!message) throw new Error('the vault did not store the message');
  if (gone) {
    // Deleted for everyone before it arrived: no record, so nothing of the file is ever fetched.
    steps.touchConversation(conversationId, now, 0);
    return { kind: 'text', message, contact, contentId: content.id, isNew: true };
  }
  vault.kvSet(INCOMING_CONTENT_IDS, id, Buffer.from(content.id, 'utf8'));
  vault.kvSet(QUOTABLE_CONTENT_IDS, id, Buffer.from(content.id, 'utf8'));
  if (content.timer !== undefined) steps.recordTimer?.(id, conversationId, content.timer);
  const attachmentId = newAttachmentId();
  writeRecord(vault, {
    id: attachmentId, messageId: id, name: content.name, type: content.type, size: content.size,
    blob: content.blob, key: content.key, digest: content.digest, downloaded: false,
  });
  linkAttachment(vault, id, attachmentId);
  steps.touchConversation(conversationId, now, 1);
  return { kind: 'text', message, contact, contentId: content.id, isNew: true };
}

/** The attachments of these messages, in the order given. */
export function attachmentsOf(vault: Vault, messageIds: readonly string[]): Attachment[] {
  const out: Attachment[] = [];
  for (const m of messageIds) {
    const r = recordOf(vault, m);
    if (r) out.push(viewOf(r));
  }
  return out;
}

/**
 * Fetches the blob and keeps it sealed in chunks; marked downloaded only after every chunk
 * opened and the digest matched (otherwise nothing is kept). Then tells the relay it may delete it.
 */
const downloading = new Map<string, Promise<void>>();

/**
 * One download per attachment at a time: a second caller (the automatic fetch on arrival, a save,
 * the UI's show) joins the running one instead of fetching the same chunks again, whose failure
 * would delete the chunks the other just wrote (and the first's blob.done ends the relay's copy).
 */
export function download(vault: Vault, relay: BlobCaller, r: AttachmentRecord, o: TransferOptions): Promise<void> {
  const running = downloading.get(r.id);
  if (running) return running;
  // A delete of the message aborts it (attachment-store.ts deleteAttachmentOf), as does the caller's signal.
  const tracked = trackDownload(vault, r.id);
  const signal = o.signal ? AbortSignal.any([o.signal, tracked.signal]) : tracked.signal;
  const p = downloadOnce(vault, relay, r, { ...o, signal }).finally(() => {
    tracked.done();
    downloading.delete(r.id);
  });
  downloading.set(r.id, p);
  return p;
}

/** The download's message (or its file) was deleted while it ran: nothing of it was kept. */
const deletedMeanwhile = (): ApiError => new ApiError('UNKNOWN_MESSAGE', 'The attachment was deleted while it was downloading; nothing of it was kept.');

async function downloadOnce(vault: Vault, relay: BlobCaller, r: AttachmentRecord, o: TransferOptions): Promise<void> {
  const ref: BlobRef = { blobId: unb64(r.blob), key: unb64(r.key), digest: unb64(r.digest), size: r.size };
  let pending: Buffer[] = [];
  let next = 0;
  const flush = (): void => {
    const batch = pending;
    const first = next;
    pending = [];
    next += batch.length;
    try {
      vault.transaction(() => {
        // Deleted meanwhile: writing would bring its chunks back, orphaned and readable with the data key.
        if (!isCurrent(vault, r)) throw deletedMeanwhile();
        batch.forEach((c, j) => vault.kvSet(ATTACHMENT_CHUNKS, chunkKey(r.id, first + j), c));
      });
    } finally {
      // Sealed into the vault (or failed): the plaintext is not left in freed memory.
      for (const c of batch) c.fill(0);
    }
  };
  let started = false;
  // A fresh copy per call (kvGet opens the row into a new buffer): downloadBlob zeroes it once used.
  const keptChunk = (i: number): Uint8Array | undefined => vault.kvGet(ATTACHMENT_CHUNKS, chunkKey(r.id, i));
  vault.transaction(() => {
    if (!isCurrent(vault, r)) throw deletedMeanwhile();
    markStaging(vault, r.id);
  });
  try {
    await downloadBlob(relay, ref, (plain, index) => {
      // Resumed: the first chunk fetched follows the ones kept (downloadBlob checked them).
      if (!started) next = index;
      started = true;
      // Stream chunk i holds plaintext bytes [i * 64 KiB, ...): the same cut as the local chunks.
      if (index !== next + pending.length) {
        plain.fill(0);
        throw new StreamError('ATTACHMENT_CORRUPT', 'chunks out of order');
      }
      // Its own buffer (openChunk's output), not shared with anything: kept without a copy.
      pending.push(plain);
      if (pending.length >= CHUNKS_PER_TRANSACTION) flush();
    }, { ...o, stored: keptChunk });
    if (pending.length > 0) flush();
  } catch (e) {
    // Damage or a cancel keeps nothing. An interruption (connection, relay, lock) keeps the
    // chunks stored so far, still marked staging: the next download resumes after them, also
    // after a restart (attachment-store.ts cleanUpAtUnlock keeps them while the record waits).
    // A delete meanwhile (it aborted us, or a check found it) keeps nothing either: the delete
    // removed what was written before it, and nothing was written after it (isCurrent).
    for (const c of pending) c.fill(0);
    const cancelled = e instanceof TransferError && e.code === 'ATTACHMENT_CANCELLED';
    const deleted = vault.isUnlocked && !isCurrent(vault, r);
    if (vault.isUnlocked && (e instanceof StreamError || cancelled || deleted)) deleteChunks(vault, r);
    throw deleted ? deletedMeanwhile() : e;
  }
  const kept = vault.transaction(() => {
    if (!isCurrent(vault, r)) return false;
    writeRecord(vault, { ...r, downloaded: true });
    vault.kvDelete(STAGING, r.id);
    return true;
  });
  if (!kept) {
    deleteChunks(vault, r);
    throw deletedMeanwhile();
  }
  relay.call('blob.done', { id: ref.blobId }).catch(() => undefined);
}

/** Per profile: the running release pass, and whether another was asked for meanwhile. */
const releasing = new WeakMap<Vault, { again: boolean }>();

/**
 * Tells the relay about every blob this profile no longer needs (BLOB_RELEASES, queued by
 * deleteAttachmentOf): blob.done withdraws our own upload for everyone, or drops our claim on a
 * received one. An entry goes once the relay answered, also with NOT_FOUND (already expired or
 * fetched by all); a dropped connection or a lock leaves it for the next time (each ready
 * connection, and right after each deletion while connected).
 */
export function releaseBlobs(vault: Vault, relay: BlobCaller): void {
  const running = releasing.get(vault);
  if (running) {
    running.again = true;
    return;
  }
  const state = { again: false };
  releasing.set(vault, state);
  void (async () => {
    try {
      do {
        state.again = false;
        if (!vault.isUnlocked) return;
        for (const blob of vault.kvKeys(BLOB_RELEASES)) {
          try {
            await relay.call('blob.done', { id: unb64(blob) });
          } catch (e) {
            // Not answered (connection gone, locked) or busy: kept for the next pass.
            if (!(e instanceof RpcError) || RETRYABLE_RPC_ERRORS.has(e.code)) return;
          }
          if (!vault.isUnlocked) return;
          vault.kvDelete(BLOB_RELEASES, blob);
        }
      } while (state.again);
    } catch {
      // Locked meanwhile: the queue is in the vault, for the next ready connection.
    } finally {
      releasing.delete(vault);
    }
  })();
}

/** At each ready connection: releases what is queued, and what later deletions queue while it lasts. */
export function watchBlobReleases(vault: Vault, relay: BlobCaller): void {
  blobReleaseHooks.set(vault, () => releaseBlobs(vault, relay));
  releaseBlobs(vault, relay);
}

/** Attachments up to this size are fetched as soon as their message arrives; larger ones on save. */
export const AUTO_DOWNLOAD_MAX_BYTES = 2 * 1024 * 1024;

/**
 * Fetches a just-received small attachment in the background (as one vault activity). A failure
 * (damage, relay gone, vault locked meanwhile) keeps nothing and leaves it not downloaded: a save
 * tries again and reports the error.
 */
export function autoDownload(vault: Vault | undefined, relay: BlobCaller | undefined, messageId: string): void {
  if (!vault?.isUnlocked || !relay) return;
  const r = recordOf(vault, messageId);
  if (!r || r.downloaded || r.size > AUTO_DOWNLOAD_MAX_BYTES) return;
  vault.activity(() => download(vault, relay, r, {})).catch(() => undefined);
}

/** Chunks written between turns of the event loop while saving (16 x 64 KiB: the writes are synchronous). */
const SAVE_YIELD_EVERY = 16;

/**
 * Writes the plaintext of the attachment to `path` (downloading it first when needed), through
 * a temporary file beside it renamed into place, so a failure leaves no partial file.
 */
export async function saveAttachment(vault: Vault, relay: BlobCaller | undefined, attachmentId: string, path: string, o: TransferOptions & { jobId?: string } = {}): Promise<{ bytes: number }> {
  const r = readRecord(vault, attachmentId);
  if (!r) throw new ApiError('UNKNOWN_MESSAGE', 'There is no such attachment.');
  try {
    if (!r.downloaded) {
      if (!relay) throw new ApiError('RELAY_UNREACHABLE', 'The attachment is not downloaded yet and there is no relay connection.');
      await asJob(o.jobId, o, (jo) => download(vault, relay, r, jo));
    }
    const tmp = `${path}.${randomBytes(6).toString('hex')}.part`;
    // Listed (sealed) before it exists: a crash before the rename leaves it for the next unlock to remove.
    vault.kvSet(SAVES_IN_PROGRESS, tmp, Buffer.from('1'));
    let file: AtomicFile | undefined;
    try {
      // The shared atomic write (0600, fsync of file and directory), under the listed `.part` name.
      file = beginAtomicWrite(path, tmp);
      for (let i = 0; i < chunkCount(r.size); i++) {
        const chunk = vault.kvGet(ATTACHMENT_CHUNKS, chunkKey(r.id, i));
        if (!chunk) throw new ApiError('VAULT_CORRUPT', 'A chunk of the attachment is missing from the vault.');
        try {
          writeAll(file.fd, chunk);
        } finally {
          // kvGet's copy: written out, the plaintext is not left in freed memory.
          chunk.fill(0);
        }
        if (i % SAVE_YIELD_EVERY === SAVE_YIELD_EVERY - 1) await yieldToEventLoop();
      }
      file.commit();
      vault.kvDelete(SAVES_IN_PROGRESS, tmp);
    } catch (e) {
      file?.abort();
      if (vault.isUnlocked) vault.kvDelete(SAVES_IN_PROGRESS, tmp);
      throw e;
    }
    return { bytes: r.size };
  } catch (e) {
    throw apiErrorOf(e);
  }
}
