// Attachments for a renderer, which holds a File (drag and drop, paste, picker) and never a
// path: the bytes come over the contract in bounded chunks and are sealed into the vault at
// once, under the attachment id they will keep (so nothing of the file is ever plaintext on
// disk or whole in memory); commit seals and uploads them from the vault like sendFile does
// from a file. Reading gives a downloaded attachment's plaintext back in bounded chunks, for
// the renderer to decode (images are decoded only there, never in this process).
// A refused call (unknown upload, wrong offset, oversize) changes nothing.
import { randomBytes } from 'node:crypto';
import {
  ApiError, ATTACHMENT_UPLOAD_ALIGN_BYTES, type Attachment, type Message, type ParamsOf, type ResultOf,
} from '../../shared/api.ts';
import { STREAM_CHUNK_BYTES } from '../../shared/protocol/stream.ts';
import { uploadFrom, type BlobCaller, type ByteSource } from '../net/attachments.ts';
import type { Vault } from '../vault/index.ts';
import { ATTACHMENT_CHUNKS, chunkCount, chunkKey, COMMITTED_UPLOADS, deleteChunks, markStaging, readRecord, STAGING } from './attachment-store.ts';
import { COMMITTED_KEEP_MS, committedResume, isFinal, readCommitted, writeCommitted } from './committed-uploads.ts';
import { apiErrorOf, asJob, download, newAttachmentId, type UploadedAttachment } from './attachments.ts';
import { isGroupConversation } from './group-delete.ts';
import { groupFilesOf } from './group-files.ts';
import { rangedSource, rangesToSend } from './strip-source.ts';
import { readSettings } from './settings.ts';

/** Uploads open at once per profile (each holds sealed chunks in the vault until commit or cancel). */
export const MAX_OPEN_UPLOADS = 8;
/** Media types kept as the browser reported them; anything else is sent as a generic binary. */
const MEDIA_TYPE = /^[a-z]+\/[a-z0-9.+-]{1,100}$/;
// Bidi overrides and C0/C1 controls in a file name could disguise it ("gpj.exe"); refused, not rewritten.
// eslint-disable-next-line no-control-regex
const BAD_NAME = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069/\\]/;

interface Upload {
  id: string;
  attachmentId: string;
  conversationId: string;
  name: string;
  type: string;
  size: number;
  caption: string | undefined;
  jobId: string | undefined;
  received: number;
  committing: boolean;
}

/** What this needs of the facade (main/messenger.ts). */
export interface AttachmentUiSteps {
  vault(): Vault;
  relay(): BlobCaller | undefined;
  /** The handle of the conversation's contact (UNKNOWN_CONVERSATION otherwise). */
  handleOf(conversationId: string): string;
  /** Stores and announces an uploaded attachment, as sendFile does after its upload. */
  announce(conversationId: string, up: UploadedAttachment, caption: string | undefined): Promise<Message>;
  progress(jobId: string, done: number, total: number): void;
}

const notConnected = (): ApiError => new ApiError('NOT_REGISTERED', 'Not connected to a relay.');
const noAttachment = (): ApiError => new ApiError('UNKNOWN_MESSAGE', 'There is no such attachment.');

/** The plaintext sealed in the vault as 64 KiB chunks, read at any position. */
function vaultSource(vault: Vault, attachmentId: string, size: number): ByteSource {
  return {
    read(buffer, offset, length, position) {
      let done = 0;
      while (done < length && position + done < size) {
        const at = position + done;
        const chunk = vault.kvGet(ATTACHMENT_CHUNKS, chunkKey(attachmentId, Math.floor(at / STREAM_CHUNK_BYTES)));
        if (!chunk) throw new ApiError('VAULT_CORRUPT', 'A chunk of the attachment is missing from the vault.');
        // kvGet hands back its own copy of the plaintext: zeroed here once its bytes are copied out.
        try {
          const within = at % STREAM_CHUNK_BYTES;
          const n = Math.min(length - done, chunk.length - within);
          if (n <= 0) throw new ApiError('VAULT_CORRUPT', 'A chunk of the attachment is shorter than its place.');
          Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).copy(buffer, offset + done, within, within + n);
          done += n;
        } finally {
          chunk.fill(0);
        }
      }
      return Promise.resolve({ bytesRead: done });
    },
  };
}

function deleteStaged(vault: Vault, u: Upload): void {
  const n = chunkCount(u.received);
  for (let first = 0; first < n; first += 64) {
    vault.transaction(() => {
      for (let i = first; i < Math.min(n, first + 64); i++) vault.kvDelete(ATTACHMENT_CHUNKS, chunkKey(u.attachmentId, i));
    });
  }
  vault.kvDelete(STAGING, u.attachmentId);
}

/** Every AttachmentUi of this process (one per Messenger), for resumeCommittedUploads. */
const instances = new Set<WeakRef<AttachmentUi>>();

/** At a profile's ready connection: its AttachmentUi goes on with the commits a crash cut short. */
export function resumeCommittedUploads(vault: Vault): void {
  for (const ref of instances) {
    const ui = ref.deref();
    if (!ui) instances.delete(ref);
    else if (ui.holds(vault)) void ui.resumeCommitted();
  }
}

export class AttachmentUi {
  private readonly uploads = new Map<string, Upload>();

  constructor(private readonly s: AttachmentUiSteps) {
    instances.add(new WeakRef(this));
  }

  /** Whether this is the unlocked profile's vault. */
  holds(vault: Vault): boolean {
    try {
      return this.s.vault() === vault;
    } catch {
      return false;
    }
  }

  /** Whether images go with their metadata (the profile setting keepImageMetadata; sendFile asks too). */
  keepMetadata(): boolean {
    return readSettings(this.s.vault().profileDir).keepImageMetadata;
  }

  /**
   * A staged image without its metadata: the kept ranges copied, chunk by chunk, under a new
   * attachment id, and the original's chunks deleted, so the sender's copy is what was sent.
   */
  private async restripped(vault: Vault, u: Upload): Promise<void> {
    const strip = await rangesToSend(vaultSource(vault, u.attachmentId, u.size), u.size, this.keepMetadata());
    if (!strip) return;
    const from = rangedSource(vaultSource(vault, u.attachmentId, u.size), strip.ranges);
    const to: Upload = { ...u, attachmentId: newAttachmentId(), size: strip.size, received: 0 };
    markStaging(vault, to.attachmentId);
    try {
      for (let i = 0; i < chunkCount(strip.size); i++) {
        const buf = Buffer.alloc(Math.min(STREAM_CHUNK_BYTES, strip.size - i * STREAM_CHUNK_BYTES));
        await from.read(buf, 0, buf.length, i * STREAM_CHUNK_BYTES);
        vault.kvSet(ATTACHMENT_CHUNKS, chunkKey(to.attachmentId, i), buf);
        to.received += buf.length;
      }
    } catch (e) {
      deleteStaged(vault, to);
      throw e;
    }
    deleteStaged(vault, u);
    Object.assign(u, { attachmentId: to.attachmentId, size: to.size, received: to.received });
  }

  async limits(): Promise<ResultOf<'attachmentLimits'>> {
    const relay = this.s.relay();
    if (!relay) throw notConnected();
    const l = await relay.call('blob.limits', null);
    return { maxBytes: l.maxFileBytes };
  }

  /** Who the blob names: the contact, or a group's members now (group-files.ts; UNKNOWN_CONVERSATION, FORBIDDEN). */
  private recipientsOf(conversationId: string): string[] {
    if (isGroupConversation(conversationId)) return groupFilesOf(this.s.vault()).recipients(conversationId.slice(1));
    return [this.s.handleOf(conversationId)];
  }

  /** Stores and announces the uploaded file in its conversation: a 1:1 chat's (the facade) or a group's. */
  private announce(conversationId: string, up: UploadedAttachment, caption: string | undefined): Promise<Message> {
    if (isGroupConversation(conversationId)) return groupFilesOf(this.s.vault()).announce(conversationId.slice(1), up, caption);
    return this.s.announce(conversationId, up, caption);
  }

  async begin(p: ParamsOf<'attachmentUploadBegin'>): Promise<ResultOf<'attachmentUploadBegin'>> {
    this.recipientsOf(p.conversationId);
    if (BAD_NAME.test(p.name) || p.name.trim() === '') throw new ApiError('INVALID_ARGUMENT', 'name: must be a file name without control characters or slashes');
    const { maxBytes } = await this.limits();
    if (p.size > maxBytes) throw new ApiError('ATTACHMENT_TOO_LARGE', `The file is ${p.size} bytes; this relay accepts at most ${maxBytes} bytes per attachment.`);
    if (this.uploads.size >= MAX_OPEN_UPLOADS) throw new ApiError('BUSY', 'Too many uploads are open; finish or cancel one first.');
    const id = `up_${randomBytes(16).toString('base64url')}`;
    this.uploads.set(id, {
      id, attachmentId: newAttachmentId(), conversationId: p.conversationId, name: p.name, type: MEDIA_TYPE.test(p.type) ? p.type : 'application/octet-stream',
      size: p.size, caption: p.caption, jobId: p.jobId, received: 0, committing: false,
    });
    return { uploadId: id, maxBytes };
  }

  private open(uploadId: string): Upload {
    const u = this.uploads.get(uploadId);
    if (!u) throw new ApiError('UNKNOWN_UPLOAD', 'There is no such upload (unknown, cancelled or already sent).');
    if (u.committing) throw new ApiError('BUSY', 'This upload is being sent.');
    return u;
  }

  chunk(p: ParamsOf<'attachmentUploadChunk'>): ResultOf<'attachmentUploadChunk'> {
    const u = this.open(p.uploadId);
    if (p.offset !== u.received) throw new ApiError('INVALID_ARGUMENT', `offset: must be ${u.received}, the bytes received so far`);
    const bytes = Buffer.from(p.bytes, 'base64');
    if (bytes.length === 0) throw new ApiError('INVALID_ARGUMENT', 'bytes: must not be empty');
    const end = u.received + bytes.length;
    if (end > u.size) throw new ApiError('INVALID_ARGUMENT', 'bytes: more than the size stated at begin');
    if (end < u.size && bytes.length % ATTACHMENT_UPLOAD_ALIGN_BYTES !== 0) {
      throw new ApiError('INVALID_ARGUMENT', `bytes: every chunk but the last must be a multiple of ${ATTACHMENT_UPLOAD_ALIGN_BYTES} bytes`);
    }
    const vault = this.s.vault();
    const first = u.received / STREAM_CHUNK_BYTES;
    vault.transaction(() => {
      // Until the message is stored, only the staging mark says these chunks are not garbage.
      if (u.received === 0) markStaging(vault, u.attachmentId);
      for (let i = 0; i * STREAM_CHUNK_BYTES < bytes.length; i++) {
        vault.kvSet(ATTACHMENT_CHUNKS, chunkKey(u.attachmentId, first + i), bytes.subarray(i * STREAM_CHUNK_BYTES, (i + 1) * STREAM_CHUNK_BYTES));
      }
    });
    u.received = end;
    return { received: end };
  }

  async commit(p: ParamsOf<'attachmentUploadCommit'>): Promise<Message> {
    const u = this.open(p.uploadId);
    if (u.received !== u.size) throw new ApiError('INVALID_ARGUMENT', `uploadId: only ${u.received} of ${u.size} bytes were received`);
    const relay = this.s.relay();
    if (!relay) throw notConnected();
    const to = this.recipientsOf(u.conversationId);
    const vault = this.s.vault();
    u.committing = true;
    try {
      const { jobId } = u;
      const o = jobId === undefined ? {} : { onProgress: (done: number, total: number): void => this.s.progress(jobId, done, total) };
      await this.restripped(vault, u).catch((e: unknown) => {
        throw apiErrorOf(e);
      });
      // From here a crash leaves a commit to finish at the next connection (committed-uploads.ts).
      writeCommitted(vault, u.attachmentId, { conversationId: u.conversationId, name: u.name, type: u.type, size: u.size, ...(u.caption !== undefined ? { caption: u.caption } : {}), at: Date.now() });
      // Its own: a reconnect meanwhile must not resume it a second time (resumeCommitted).
      this.live.add(u.attachmentId);
      const resume = committedResume(vault, u.attachmentId);
      const ref = await asJob(jobId, o, (jo) => uploadFrom(relay, vaultSource(vault, u.attachmentId, u.size), u.size, to, { ...jo, resume })).catch((e: unknown) => {
        throw apiErrorOf(e);
      });
      const message = await this.announce(u.conversationId, { ref, name: u.name, type: u.type, path: '', stagedId: u.attachmentId }, u.caption);
      vault.kvDelete(COMMITTED_UPLOADS, u.attachmentId);
      return message;
    } catch (e) {
      // Not announced: the staged chunks go (once announced, they are the sender's copy), and a
      // partial blob with them; the window still holds the file, to send again.
      try {
        this.dropCommit(vault, u.attachmentId, u.size, relay);
      } catch {
        // Locked meanwhile: the commit stays, and goes on at the next ready connection.
      }
      throw e;
    } finally {
      this.live.delete(u.attachmentId);
      this.uploads.delete(u.id);
    }
  }

  /** A commit that will not go on: its entry, its staged chunks unless announced, its partial blob. */
  private dropCommit(vault: Vault, attachmentId: string, size: number, relay: BlobCaller | undefined): void {
    const blob = readCommitted(vault, attachmentId)?.blob;
    if (blob !== undefined && !readRecord(vault, attachmentId)) relay?.call('blob.done', { id: new Uint8Array(Buffer.from(blob, 'base64url')) }).catch(() => undefined);
    if (!readRecord(vault, attachmentId)) deleteChunks(vault, { id: attachmentId, size });
    vault.kvForget(COMMITTED_UPLOADS, attachmentId);
  }

  private resuming = false;
  private resumeAgain = false;
  /** Attachment ids of commits running in this process (not to be resumed from their records). */
  private readonly live = new Set<string>();

  /**
   * At each ready connection: the window uploads whose commit a crash (or a kill) cut short go
   * on from what the relay has, and their messages are sent. One at a time; a failure that a later
   * connection may not have (connection lost, locked) leaves the rest for then.
   */
  async resumeCommitted(): Promise<void> {
    if (this.resuming) {
      // A connection became ready while a pass runs (which may fail with the old one): one more pass after it.
      this.resumeAgain = true;
      return;
    }
    this.resuming = true;
    try {
      const vault = this.s.vault();
      for (const id of vault.kvKeys(COMMITTED_UPLOADS)) {
        const relay = this.s.relay();
        if (!relay) return;
        if (this.live.has(id)) continue;
        const e = readCommitted(vault, id);
        if (!e || readRecord(vault, id) || e.at < Date.now() - COMMITTED_KEEP_MS) {
          // Unreadable, already announced (the crash came after the message was stored), or expired.
          this.dropCommit(vault, id, e?.size ?? 0, relay);
          continue;
        }
        try {
          const to = this.recipientsOf(e.conversationId);
          const ref = await uploadFrom(relay, vaultSource(vault, id, e.size), e.size, to, { resume: committedResume(vault, id) });
          await this.announce(e.conversationId, { ref, name: e.name, type: e.type, path: '', stagedId: id }, e.caption);
          vault.kvDelete(COMMITTED_UPLOADS, id);
        } catch (err) {
          if (!isFinal(err)) return;
          this.dropCommit(vault, id, e.size, relay);
        }
      }
    } catch {
      // Locked or disconnected meanwhile: the entries are in the vault for the next ready connection.
    } finally {
      this.resuming = false;
      if (this.resumeAgain) {
        this.resumeAgain = false;
        void this.resumeCommitted();
      }
    }
  }

  cancel(p: ParamsOf<'attachmentUploadCancel'>): ResultOf<'attachmentUploadCancel'> {
    const u = this.uploads.get(p.uploadId);
    if (!u || u.committing) return { cancelled: false };
    this.uploads.delete(u.id);
    deleteStaged(this.s.vault(), u);
    return { cancelled: true };
  }

  /** Forgets every open upload and deletes what they staged (at lock: the renderer starts over). */
  dropAll(vault: Vault): void {
    for (const u of [...this.uploads.values()]) {
      if (u.committing) continue;
      this.uploads.delete(u.id);
      deleteStaged(vault, u);
    }
  }

  async download(p: ParamsOf<'attachmentDownload'>): Promise<Attachment> {
    const vault = this.s.vault();
    const r = readRecord(vault, p.attachmentId);
    if (!r) throw noAttachment();
    if (!r.downloaded) {
      const relay = this.s.relay();
      if (!relay) throw new ApiError('RELAY_UNREACHABLE', 'The attachment is not downloaded yet and there is no relay connection.');
      const { jobId } = p;
      const o = jobId === undefined ? {} : { onProgress: (done: number, total: number): void => this.s.progress(jobId, done, total) };
      await asJob(jobId, o, (jo) => download(vault, relay, r, jo)).catch((e: unknown) => {
        throw apiErrorOf(e);
      });
    }
    const now = readRecord(vault, p.attachmentId) ?? r;
    return { id: now.id, messageId: now.messageId, name: now.name, size: now.size, type: now.type, downloaded: now.downloaded };
  }

  async read(p: ParamsOf<'attachmentRead'>): Promise<ResultOf<'attachmentRead'>> {
    const vault = this.s.vault();
    const r = readRecord(vault, p.attachmentId);
    if (!r) throw noAttachment();
    if (!r.downloaded) throw new ApiError('NOT_AVAILABLE', 'The attachment is not downloaded yet.');
    if (p.offset > r.size) throw new ApiError('INVALID_ARGUMENT', 'offset: beyond the end of the attachment');
    const buf = Buffer.alloc(Math.min(p.length, r.size - p.offset));
    await vaultSource(vault, r.id, r.size).read(buf, 0, buf.length, p.offset);
    return { bytes: buf.toString('base64'), size: r.size };
  }
}
