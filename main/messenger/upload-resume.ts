// Uploads that survive a client restart: once a file's blob exists at the relay, its
// id, stream key and last checkpoint (a sealed length the relay never got more of, and the
// digest of the sealed stream up to there) are kept sealed in the vault under a hash of what is
// being sent (path, size, modification time, recipient, metadata setting). Sending the same file
// to the same contact again, after a crash or a kill, continues from the length the relay has
// instead of starting over (main/net/attachments.ts uploadFrom) — only if the file's content
// still seals to that digest: path, size and time say nothing of a file rewritten in place, whose
// old chunks would reach the recipient as ATTACHMENT_CORRUPT. Entries go when the upload
// finishes or is cancelled, and after the relay's blob lifetime in any case.
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { UploadResume } from '../net/attachments.ts';
import type { Vault } from '../vault/index.ts';
import { readKvJson, writeKvJson } from './kv-json.ts';

/** sha256(what is sent) -> JSON {blob, key, length, digest, at} (base64url); an entry without a checkpoint (older) is not resumed. */
export const UPLOADS_IN_PROGRESS = 'messenger-uploads-in-progress';
/** The relay's default blob lifetime: an older entry names a blob that is gone. */
const KEEP_MS = 30 * 24 * 3600 * 1000;

interface Entry {
  blob: string;
  key: string;
  length: number;
  digest: string;
  at: number;
}

function readEntry(vault: Vault, id: string): Entry | undefined {
  // Best effort like the rest of the resume: an entry that does not read is no resume point.
  const e = readKvJson(vault, UPLOADS_IN_PROGRESS, id) as Partial<Entry> | null | undefined;
  return e && typeof e.blob === 'string' && typeof e.key === 'string' && typeof e.digest === 'string' && Number.isSafeInteger(e.length) && typeof e.at === 'number' ? (e as Entry) : undefined;
}

/**
 * The resume state of sending the file at `path` to `to` (a contact's handle, or a group's
 * recipients sorted and joined by spaces), and `finished` to drop it. Best effort: a vault that
 * refuses a write (busy, locked) only loses the resume.
 */
export async function uploadResumeFor(vault: Vault, path: string, to: string, keepMetadata: boolean, now = Date.now()): Promise<{ resume: UploadResume; finished(): void }> {
  const st = await stat(path);
  const id = createHash('sha256').update(JSON.stringify([resolve(path), st.size, st.mtimeMs, to, keepMetadata])).digest('hex');
  const attempt = (fn: () => void): void => {
    try {
      fn();
    } catch {
      // Busy (an import merging) or locked: the upload goes on without a resume point.
    }
  };
  attempt(() => {
    for (const k of vault.kvKeys(UPLOADS_IN_PROGRESS)) if (k !== id && (readEntry(vault, k)?.at ?? 0) < now - KEEP_MS) vault.kvForget(UPLOADS_IN_PROGRESS, k);
  });
  const e = readEntry(vault, id);
  const bytes = (v: string): Uint8Array => new Uint8Array(Buffer.from(v, 'base64url'));
  const earlier = e && e.at >= now - KEEP_MS ? { blobId: bytes(e.blob), key: bytes(e.key), length: e.length, digest: bytes(e.digest) } : undefined;
  const b64 = (v: Uint8Array): string => Buffer.from(v).toString('base64url');
  let entry: Entry | undefined;
  const save = (): void => attempt(() => writeKvJson(vault, UPLOADS_IN_PROGRESS, id, entry));
  return {
    resume: {
      ...(earlier ? { earlier } : {}),
      created: (blobId, key) => {
        // Nothing sent yet: the checkpoint is the empty prefix.
        entry = { blob: b64(blobId), key: b64(key), length: 0, digest: b64(createHash('sha256').digest()), at: now };
        save();
      },
      checkpoint: (length, digest) => {
        entry ??= e;
        if (!entry) return;
        entry = { ...entry, length, digest: b64(digest) };
        save();
      },
    },
    finished: () => attempt(() => vault.kvDelete(UPLOADS_IN_PROGRESS, id)),
  };
}
