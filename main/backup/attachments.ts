// Attachments in a backup (format version 3, docs/backup-format.md "Attachments"): after the
// message section, one `attachment` line per file (what it is and where the relay kept it),
// followed, when its bytes are included, by its plaintext as `attachment-chunk` lines of 64 KiB
// each in base64 (the profile's own chunking, shared/protocol/stream.ts), so export and import
// hold one chunk at a time whatever the file's size, and `age -d` output stays one JSON object
// per line. The backup layer knows no messenger: the profile side comes in as a source (export)
// and a sink (import) that main/messenger/backup-attachments.ts implements.
import { z } from 'zod';
import { Attachment, Id } from '../../shared/api.ts';
import { STREAM_CHUNK_BYTES } from '../../shared/protocol/stream.ts';
import { BackupMalformed } from './errors.ts';

/** Plaintext bytes per attachment-chunk line (the last one of a file holds the rest). */
export const ATTACHMENT_CHUNK_BYTES = STREAM_CHUNK_BYTES;
/** Base64 characters of a full chunk. */
const CHUNK_BASE64_CHARS = Math.ceil(ATTACHMENT_CHUNK_BYTES / 3) * 4;

/** base64url of the relay blob's id (16 bytes), key and digest (32 bytes), as the E2E message carried them. */
const b64url = (bytes: number): z.ZodString => z.string().length(Math.ceil((bytes * 4) / 3)).regex(/^[A-Za-z0-9_-]+$/, 'not base64url');

export const attachmentLine = z.strictObject({
  type: z.literal('attachment'),
  id: Id,
  /** The message (earlier in the file) this file belongs to. */
  messageId: Id,
  /** As the sender named it: untrusted text (the importer makes it safe to show). */
  name: Attachment.shape.name,
  contentType: Attachment.shape.type,
  size: z.number().int().min(0).max(2 ** 40),
  /** Where the relay kept the sealed file (it may still hold it): blob id, stream key, SHA-256 of the sealed stream. */
  blob: b64url(16),
  key: b64url(32),
  digest: b64url(32),
  /** True: exactly ceil(size / 64 KiB) attachment-chunk lines of this id follow. False: left out, or never downloaded. */
  included: z.boolean(),
});

export const attachmentChunkLine = z.strictObject({
  type: z.literal('attachment-chunk'),
  attachment: Id,
  index: z.number().int().min(0).max(2 ** 40),
  data: z.string().max(CHUNK_BASE64_CHARS).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64'),
});

export type AttachmentLine = z.infer<typeof attachmentLine>;
export type AttachmentChunkLine = z.infer<typeof attachmentChunkLine>;

export const chunksOf = (size: number): number => Math.ceil(size / ATTACHMENT_CHUNK_BYTES);

/** One attachment of the profile, as the backup writes and reads it. */
export interface BackupAttachment {
  id: string;
  messageId: string;
  name: string;
  contentType: string;
  size: number;
  blob: string;
  key: string;
  digest: string;
  /** Its plaintext is in the profile (export), or was in the file (import). */
  downloaded: boolean;
}

/** Export: what the profile holds. */
export interface AttachmentSource {
  /** Messages that have an attachment (read once, before the message section). */
  messageIds(): ReadonlySet<string>;
  of(messageId: string): BackupAttachment | undefined;
  /** Chunk `index` of its plaintext (64 KiB, the last one shorter); undefined when missing. */
  chunk(attachmentId: string, index: number): Uint8Array | undefined;
}

/** Import: where the file's attachments go, inside the import's one vault transaction. */
export interface AttachmentSink {
  /** False when the message is not in the profile, or already has a file: the line is then skipped with its chunks. */
  accepts(a: BackupAttachment): boolean;
  /** The record (downloaded: its chunks follow); record and chunks commit with the import's one transaction, or not at all. */
  putRecord(a: BackupAttachment): void;
  putChunk(attachmentId: string, index: number, plaintext: Uint8Array): void;
}

export function attachmentToLine(a: BackupAttachment, included: boolean): AttachmentLine {
  return { type: 'attachment', id: a.id, messageId: a.messageId, name: a.name, contentType: a.contentType, size: a.size, blob: a.blob, key: a.key, digest: a.digest, included };
}

export function lineToAttachment(l: AttachmentLine): BackupAttachment {
  return { id: l.id, messageId: l.messageId, name: l.name, contentType: l.contentType, size: l.size, blob: l.blob, key: l.key, digest: l.digest, downloaded: l.included };
}

/** The export hot path for chunk lines: no intermediate object. */
export function encodeChunkLine(attachmentId: string, index: number, plaintext: Uint8Array): string {
  return `{"type":"attachment-chunk","attachment":${JSON.stringify(attachmentId)},"index":${index},"data":"${Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength).toString('base64')}"}\n`;
}

/**
 * Checks the attachment section's structure as lines arrive (stream.ts): ids unique, each
 * included file followed by exactly its chunks, in order, each of the size its place implies.
 * The decoded chunk is returned so the reader decodes each one once.
 */
export class AttachmentSectionChecker {
  private readonly ids = new Set<string>();
  private current: AttachmentLine | undefined;
  private next = 0;
  count = 0;

  attachment(line: AttachmentLine, lineNo: number): void {
    this.finish(lineNo);
    if (this.ids.has(line.id)) throw new BackupMalformed(`line ${lineNo}: duplicate attachment id`);
    this.ids.add(line.id);
    this.count++;
    if (line.included && line.size > 0) {
      this.current = line;
      this.next = 0;
    }
  }

  chunk(line: AttachmentChunkLine, lineNo: number): Uint8Array {
    const a = this.current;
    if (!a || line.attachment !== a.id) throw new BackupMalformed(`line ${lineNo}: an attachment chunk that does not follow its attachment line`);
    if (line.index !== this.next) throw new BackupMalformed(`line ${lineNo}: attachment chunk ${line.index} where chunk ${this.next} was due`);
    const bytes = Buffer.from(line.data, 'base64');
    const last = chunksOf(a.size) - 1;
    const expected = line.index < last ? ATTACHMENT_CHUNK_BYTES : a.size - last * ATTACHMENT_CHUNK_BYTES;
    if (bytes.length !== expected) throw new BackupMalformed(`line ${lineNo}: attachment chunk ${line.index} holds ${bytes.length} bytes, not ${expected}`);
    this.next++;
    if (this.next > last) this.current = undefined;
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** At the next attachment line or the end line: the previous file must be complete. */
  finish(lineNo: number): void {
    if (this.current) throw new BackupMalformed(`line ${lineNo}: attachment ${this.current.id} ends after ${this.next} of its ${chunksOf(this.current.size)} chunks`);
  }
}
