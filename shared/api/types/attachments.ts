// Attachments in the renderer <-> main contract (shared/api.ts): what a message's files look
// like to a UI and the CLI, and the progress of one transfer. Keys, digests and blob ids stay in main.
import { z } from 'zod';
import { Count, Id, JobId, MessageText } from './scalars.ts';

/** Most bytes of a file name or content type (the E2E content's limit, main/e2e/content.ts). */
export const MAX_ATTACHMENT_NAME_CHARS = 255;

export const Attachment = z.strictObject({
  id: Id,
  messageId: Id,
  /** As the sender named it: untrusted text. */
  name: z.string().min(1).max(MAX_ATTACHMENT_NAME_CHARS),
  /** Plaintext bytes. */
  size: Count,
  /** Content type as the sender said (untrusted; '' when unknown). */
  type: z.string().max(MAX_ATTACHMENT_NAME_CHARS),
  /** Whether its bytes are in this profile (sealed), checked against the sender's digest. */
  downloaded: z.boolean(),
});
export type Attachment = z.infer<typeof Attachment>;

/** A running upload or download: sealed bytes moved so far, of `total`. */
export const AttachmentProgress = z.strictObject({ jobId: JobId, done: Count, total: Count });
export type AttachmentProgress = z.infer<typeof AttachmentProgress>;

// Sending from the renderer (which holds a File, not a path) and showing a downloaded file:
// bytes cross the boundary as base64 in bounded chunks, so a call stays well inside the web
// host's 512 KiB WebSocket frame (256 KiB -> 349,528 characters) and no side ever holds a whole file.

/** Most plaintext bytes in one attachmentUploadChunk or attachmentRead. */
export const MAX_ATTACHMENT_IO_BYTES = 256 * 1024;
/** Upload chunks are cut at this size (the vault's and the stream's chunk size); only the last may be shorter. */
export const ATTACHMENT_UPLOAD_ALIGN_BYTES = 64 * 1024;
const MAX_IO_BASE64_CHARS = Math.ceil(MAX_ATTACHMENT_IO_BYTES / 3) * 4;
/** Standard base64 (with padding) of at most MAX_ATTACHMENT_IO_BYTES bytes. */
export const AttachmentBytes = z.string().max(MAX_IO_BASE64_CHARS).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
/** Chosen by main for one upload in progress. */
export const UploadId = z.string().regex(/^up_[A-Za-z0-9_-]{16,64}$/, 'must be an upload id');

export const AttachmentUploadBegin = z.strictObject({
  conversationId: Id,
  name: z.string().min(1).max(MAX_ATTACHMENT_NAME_CHARS),
  /** As the browser reports it ('' when unknown); main keeps it only if it is a plain media type. */
  type: z.string().max(MAX_ATTACHMENT_NAME_CHARS),
  size: Count,
  caption: MessageText.optional(),
  /** attachmentProgress events of the relay upload at commit carry it; attachmentCancel stops it. */
  jobId: JobId.optional(),
});
/** `maxBytes`: the relay's per-file limit, also stated before an upload starts (attachmentLimits). */
export const AttachmentUploadBegun = z.strictObject({ uploadId: UploadId, maxBytes: Count });
export const AttachmentUploadChunk = z.strictObject({ uploadId: UploadId, offset: Count, bytes: AttachmentBytes });
/** With backupId: a file of that opened backup (its bytes read from the backup file, main/messenger/backup-attachment-read.ts). */
export const AttachmentRead = z.strictObject({ attachmentId: Id, offset: Count, length: z.number().int().min(1).max(MAX_ATTACHMENT_IO_BYTES), backupId: Id.optional() });
