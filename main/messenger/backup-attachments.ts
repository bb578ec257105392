// The profile's attachments as main/backup sees them (docs/backup-format.md "Attachments"):
// export reads each record and its sealed chunks one at a time; import writes them back under
// the same kv names, inside the import's one vault transaction. The backup layer never sees the
// store's layout, only these two small interfaces.
import type { AttachmentSink, AttachmentSource, BackupAttachment } from '../backup/index.ts';
import { safeFileName } from '../e2e/content.ts';
import type { Vault } from '../vault/index.ts';
import { ATTACHMENT_CHUNKS, type AttachmentRecord, chunkKey, linkAttachment, MESSAGE_ATTACHMENTS, readRecord, recordOf, writeRecord } from './attachment-store.ts';

function toBackup(r: AttachmentRecord): BackupAttachment {
  return { id: r.id, messageId: r.messageId, name: r.name, contentType: r.type, size: r.size, blob: r.blob, key: r.key, digest: r.digest, downloaded: r.downloaded };
}

export function attachmentSource(vault: Vault): AttachmentSource {
  return {
    messageIds: () => new Set(vault.kvKeys(MESSAGE_ATTACHMENTS)),
    of: (messageId) => {
      const r = recordOf(vault, messageId);
      return r ? toBackup(r) : undefined;
    },
    chunk: (attachmentId, index) => vault.kvGet(ATTACHMENT_CHUNKS, chunkKey(attachmentId, index)),
  };
}

/**
 * Takes a file only for a message that is in the profile (this import's, or one already here)
 * and has none yet, under an id not in use: a second import of the same file adds nothing, and
 * no file can replace or join another message's.
 */
export function attachmentSink(vault: Vault): AttachmentSink {
  return {
    accepts: (a) => vault.getMessage(a.messageId) !== undefined && vault.kvGet(MESSAGE_ATTACHMENTS, a.messageId) === undefined && readRecord(vault, a.id) === undefined,
    putRecord: (a) => {
      // A file name from a backup is untrusted text, made safe as a contact's is (main/e2e/content.ts).
      writeRecord(vault, { id: a.id, messageId: a.messageId, name: safeFileName(a.name), type: a.contentType, size: a.size, blob: a.blob, key: a.key, digest: a.digest, downloaded: a.downloaded });
      linkAttachment(vault, a.messageId, a.id);
    },
    putChunk: (attachmentId, index, plaintext) => vault.kvSet(ATTACHMENT_CHUNKS, chunkKey(attachmentId, index), plaintext),
  };
}
