// Window uploads that survive a restart: a file dropped or pasted on the chat comes
// over the contract as bytes (the renderer has no path), staged as sealed chunks in the vault
// (attachment-ui.ts). Once its commit starts, the whole file is in the profile and the user has
// asked for the message, so it no longer needs the window: the commit is recorded here (sealed,
// beside its chunks) with the blob, key and checkpoints of its upload once created. If the process
// dies before the message is stored, the next unlock keeps the chunks (attachment-store.ts
// cleanUpAtUnlock) and the next ready connection continues the upload from what the relay has
// (the digest checks the chunks are what was sealed) and sends the message. A staged upload not
// yet committed cannot go on: the window that held the rest of the file is gone with the crash.
import { createHash } from 'node:crypto';
import { TransferError, type UploadResume } from '../net/attachments.ts';
import { ApiError } from '../../shared/api.ts';
import type { Vault } from '../vault/index.ts';
import { readKvJson, writeKvJson } from './kv-json.ts';
import { COMMITTED_UPLOADS } from './attachment-store.ts';

/** An entry older than the relay's default blob lifetime names a blob that is gone; it is dropped. */
export const COMMITTED_KEEP_MS = 30 * 24 * 3600 * 1000;

export interface CommittedUpload {
  conversationId: string;
  name: string;
  type: string;
  size: number;
  caption?: string;
  at: number;
  /** base64url, once the blob exists; then its last checkpoint (sealed length, digest of the sealed prefix). */
  blob?: string;
  key?: string;
  length?: number;
  digest?: string;
}

const b64 = (v: Uint8Array): string => Buffer.from(v).toString('base64url');
const unb64 = (v: string): Uint8Array => new Uint8Array(Buffer.from(v, 'base64url'));

export function readCommitted(vault: Vault, attachmentId: string): CommittedUpload | undefined {
  const e = readKvJson(vault, COMMITTED_UPLOADS, attachmentId) as Partial<CommittedUpload> | null | undefined;
  if (typeof e !== 'object' || e === null) return undefined;
  return typeof e.conversationId === 'string' && typeof e.name === 'string' && typeof e.type === 'string' && Number.isSafeInteger(e.size) && typeof e.at === 'number' ? (e as CommittedUpload) : undefined;
}

export function writeCommitted(vault: Vault, attachmentId: string, e: CommittedUpload): void {
  writeKvJson(vault, COMMITTED_UPLOADS, attachmentId, e);
}

/** The resume of this commit's upload: the earlier blob (if any), and where a new one is kept. */
export function committedResume(vault: Vault, attachmentId: string): UploadResume {
  const e = readCommitted(vault, attachmentId);
  return {
    ...(e?.blob !== undefined && e.key !== undefined && e.length !== undefined && e.digest !== undefined
      ? { earlier: { blobId: unb64(e.blob), key: unb64(e.key), length: e.length, digest: unb64(e.digest) } }
      : {}),
    created: (blobId, key) => {
      const now = readCommitted(vault, attachmentId);
      if (now) writeCommitted(vault, attachmentId, { ...now, blob: b64(blobId), key: b64(key), length: 0, digest: b64(createHash('sha256').digest()) });
    },
    checkpoint: (length, digest) => {
      const now = readCommitted(vault, attachmentId);
      if (now?.blob !== undefined) writeCommitted(vault, attachmentId, { ...now, length, digest: b64(digest) });
    },
  };
}

/** Codes after which a committed upload can never go: it is dropped rather than tried at every connection. */
// FORBIDDEN and INVALID_ARGUMENT: a group we are no longer a member of, or with no other member left (group-files.ts).
const FINAL_CODES = new Set(['UNKNOWN_CONVERSATION', 'UNKNOWN_CONTACT', 'VAULT_CORRUPT', 'ATTACHMENT_TOO_LARGE', 'RELAY_REJECTED', 'METADATA_NOT_REMOVED', 'FILE_ERROR', 'CANCELLED', 'FORBIDDEN', 'INVALID_ARGUMENT']);

/** Whether a failed resume should be given up (true) or tried again at the next ready connection. */
export function isFinal(e: unknown): boolean {
  if (e instanceof TransferError) return true;
  return e instanceof ApiError && FINAL_CODES.has(e.code);
}
