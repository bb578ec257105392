// A file's bytes out of an opened backup (docs/backup-format.md "Attachments"): read-only open
// keeps what the file lists, not its bytes (open.ts), so saving or previewing one file reads the
// age file again from the start, hands that file's chunks on as they come (one 64 KiB chunk in
// memory at a time) and resolves only once the whole file — every age chunk, every line, the end
// line, the signature — checked again, and the file's attachment line is the one listed when it
// was opened (a file swapped on disk meanwhile is refused, not read).
import { chunksOf, type BackupAttachment } from './attachments.ts';
import { BackupMalformed } from './errors.ts';
import { openBackupFile, scanRecords, type ReadOptions } from './read.ts';

/** Where an opened backup came from: enough to read it again. */
export interface ArchiveSource {
  path: string;
  options: Pick<ReadOptions, 'keys' | 'chunkCipher' | 'noFollow'>;
}

/**
 * Streams the plaintext of `expected` (an attachment the opened backup lists with its bytes)
 * to `sink`, chunk by chunk in order (chunk `index` holds bytes from index * 64 KiB).
 * Throws the backup errors (corrupt, malformed, cancelled) of a read; the caller must then
 * discard what the sink got.
 */
export async function readArchivedAttachment(
  src: ArchiveSource,
  expected: BackupAttachment,
  sink: (index: number, data: Uint8Array) => void,
  o: Pick<ReadOptions, 'signal' | 'onProgress'> = {},
): Promise<void> {
  const file = await openBackupFile(src.path, { ...src.options, ...o });
  try {
    let listed = false;
    let chunks = 0;
    await scanRecords(file, 'open', o, (r) => {
      if (r.kind === 'attachment' && r.line.id === expected.id) {
        const l = r.line;
        listed = l.included && l.messageId === expected.messageId && l.size === expected.size && l.digest === expected.digest && l.key === expected.key;
      } else if (r.kind === 'attachment-chunk' && r.attachmentId === expected.id && listed) {
        chunks++;
        sink(r.index, r.data);
      }
    });
    if (!listed || chunks !== chunksOf(expected.size)) {
      throw new BackupMalformed('the file no longer holds this attachment as it did when it was opened (changed on disk?)');
    }
  } finally {
    file.close();
  }
}
