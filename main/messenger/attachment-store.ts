// Attachments at rest: each one's record (name, type, size, blob id, key, digest,
// downloaded) sealed in the vault's kv table, and its plaintext in 64 KiB chunks, each a sealed
// kv row under "attachment id/chunk index" (the row's associated data binds namespace and key
// tags, so a chunk cannot be moved to another attachment or place). kv keys reach disk only as
// keyed tags: nothing links a chunk row to its attachment for someone without the data key.
// Vault writes only, so every deletion path (delete for me, expiry, delete for everyone) can call it.
import type { Vault } from '../vault/index.ts';
import { STREAM_CHUNK_BYTES } from '../../shared/protocol/stream.ts';

/** attachment id -> sealed record (AttachmentRecord as JSON). */
export const ATTACHMENTS = 'messenger-attachments';
/** `${attachment id}/${chunk index}` -> one sealed chunk of the plaintext. */
export const ATTACHMENT_CHUNKS = 'messenger-attachment-chunks';
/** message id -> attachment id. */
export const MESSAGE_ATTACHMENTS = 'messenger-message-attachments';
/** Chunks written per vault transaction (bounded work per commit). */
export const CHUNKS_PER_TRANSACTION = 16;

export interface AttachmentRecord {
  id: string;
  messageId: string;
  name: string;
  type: string;
  size: number;
  /** base64url */
  blob: string;
  key: string;
  digest: string;
  downloaded: boolean;
}

export const chunkKey = (id: string, index: number): string => `${id}/${index}`;
export const chunkCount = (size: number): number => Math.ceil(size / STREAM_CHUNK_BYTES);

export function readRecord(vault: Vault, id: string): AttachmentRecord | undefined {
  const raw = vault.kvGet(ATTACHMENTS, id);
  return raw ? (JSON.parse(Buffer.from(raw).toString('utf8')) as AttachmentRecord) : undefined;
}

export function writeRecord(vault: Vault, r: AttachmentRecord): void {
  vault.kvSet(ATTACHMENTS, r.id, Buffer.from(JSON.stringify(r), 'utf8'));
}

export function recordOf(vault: Vault, messageId: string): AttachmentRecord | undefined {
  const id = vault.kvGet(MESSAGE_ATTACHMENTS, messageId);
  return id ? readRecord(vault, Buffer.from(id).toString('utf8')) : undefined;
}

export function deleteChunks(vault: Vault, r: AttachmentRecord): void {
  const n = chunkCount(r.size);
  for (let first = 0; first < n; first += CHUNKS_PER_TRANSACTION * 4) {
    vault.transaction(() => {
      for (let i = first; i < Math.min(n, first + CHUNKS_PER_TRANSACTION * 4); i++) vault.kvDelete(ATTACHMENT_CHUNKS, chunkKey(r.id, i));
    });
  }
}

/** Deleting a message deletes its attachment: chunks, record and link (main/messenger/deletion.ts). */
export function deleteAttachmentOf(vault: Vault, messageId: string): void {
  const r = recordOf(vault, messageId);
  if (r) {
    deleteChunks(vault, r);
    vault.kvDelete(ATTACHMENTS, r.id);
  }
  vault.kvDelete(MESSAGE_ATTACHMENTS, messageId);
}
