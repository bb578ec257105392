// Files of an opened backup, before (or without) importing it: saved to a path, or read in
// bounded pieces for the window's preview (main/backup/attachment-read.ts reads the age file
// again for each, checking all of it). Saving streams: one 64 KiB chunk in memory at a time,
// written to a temporary file beside the target and renamed into place only once the whole
// backup checked, so a damaged or swapped file leaves nothing. A preview read keeps the last
// file it read in memory if it is small (PREVIEW_CACHE_BYTES), so the renderer's 256 KiB reads
// of one image do not each decrypt the whole backup again; the archive owns that buffer and
// zeroes it when another file replaces it and when the backup is closed or the profile locks
// (BackupArchive.close), so reads hand out copies of it, never views.
// No profile is involved: an opened backup is read-only and needs no vault (the CLI opens one
// with none). Unlike a profile's save, a crash mid-save leaves the `.part` file (there is no
// vault to list it in for removal at the next unlock).
import { randomBytes } from 'node:crypto';
import { writeSync } from 'node:fs';
import { ApiError } from '../../shared/api.ts';
import { beginAtomicWrite, type AtomicFile } from '../../shared/atomic-write.ts';
import { ATTACHMENT_CHUNK_BYTES, readArchivedAttachment, type BackupArchive, type BackupAttachment } from '../backup/index.ts';
import { backupApiError, unknownBackup } from './backups.ts';

/** A file up to this size is kept in memory after a preview read, for the next reads of it. */
export const PREVIEW_CACHE_BYTES = 16 * 1024 * 1024;

/** Test hook: sees each buffer an archive keeps for previews (a test holds it to check it is zeroed). */
export const previewTestHook: { kept?: (bytes: Buffer) => void } = {};

function listed(archive: BackupArchive, attachmentId: string): BackupAttachment {
  const a = archive.attachmentById(attachmentId);
  if (!a) throw new ApiError('UNKNOWN_MESSAGE', 'There is no such attachment in this backup.');
  if (!a.downloaded) throw new ApiError('NOT_AVAILABLE', 'This file\'s bytes are not in the backup (left out at export, or never downloaded).');
  if (!archive.source) throw new ApiError('NOT_AVAILABLE', 'This opened backup cannot be read again.');
  return a;
}

const backupError = (e: unknown): unknown => {
  const mapped = backupApiError(e);
  if (mapped instanceof ApiError) return mapped;
  if (e instanceof Error && 'code' in e && typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return new ApiError('FILE_ERROR', `The file could not be written (${e.code}).`);
  return e;
};

/** Writes the plaintext of the backup's file `attachmentId` to `path` (through `path`.part, renamed when complete). */
export async function saveFromBackup(archive: BackupArchive, attachmentId: string, path: string, o: { signal?: AbortSignal } = {}): Promise<{ bytes: number }> {
  const a = listed(archive, attachmentId);
  // The shared atomic write (0600, fsync of file and directory), under a `.part` name.
  let file: AtomicFile | undefined;
  try {
    file = beginAtomicWrite(path, `${path}.${randomBytes(6).toString('hex')}.part`);
    const out = file.fd;
    await readArchivedAttachment(archive.source!, a, (index, data) => {
      writeSync(out, data, 0, data.length, index * ATTACHMENT_CHUNK_BYTES);
    }, o.signal ? { signal: o.signal } : {});
    file.commit();
    return { bytes: a.size };
  } catch (e) {
    file?.abort();
    throw backupError(e);
  }
}

/** Bytes [offset, offset + length) of the backup's file `attachmentId`, and its size. */
export async function readFromBackup(archive: BackupArchive, attachmentId: string, offset: number, length: number): Promise<{ bytes: Buffer; size: number }> {
  const a = listed(archive, attachmentId);
  if (offset > a.size) throw new ApiError('INVALID_ARGUMENT', 'offset: beyond the end of the attachment');
  const end = Math.min(a.size, offset + length);
  const hit = archive.previewOf(a.id);
  if (hit) return { bytes: Buffer.from(hit.subarray(offset, end)), size: a.size };
  const whole = a.size <= PREVIEW_CACHE_BYTES;
  // Small: the whole file, kept for the next read. Large: only the chunks this read overlaps.
  const from = whole ? 0 : offset;
  const buf = Buffer.alloc(whole ? a.size : end - offset);
  try {
    await readArchivedAttachment(archive.source!, a, (index, data) => {
      const at = index * ATTACHMENT_CHUNK_BYTES;
      if (at + data.length <= from || at >= from + buf.length) return;
      const skip = Math.max(0, from - at);
      Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(buf, at + skip - from, skip, Math.min(data.length, from + buf.length - at));
    });
  } catch (e) {
    // Part of a file that did not check: not kept, not shown.
    buf.fill(0);
    throw backupError(e);
  }
  if (!whole) return { bytes: buf, size: a.size };
  previewTestHook.kept?.(buf);
  const bytes = Buffer.from(buf.subarray(offset, end));
  // Closed (or the profile locked) while it was read: nothing of it is kept or handed out.
  if (!archive.keepPreview(a.id, buf)) {
    bytes.fill(0);
    throw unknownBackup();
  }
  return { bytes, size: a.size };
}
