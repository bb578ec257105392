// Attachments in the renderer <-> main contract (shared/api.ts): what a message's files look
// like to a UI and the CLI, and the progress of one transfer. Keys, digests and blob ids stay in main.
import { z } from 'zod';
import { Count, Id, JobId } from './scalars.ts';

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
