// Uploads that survive a client restart (issue #15): once a file's blob exists at the relay, its
// id and stream key are kept sealed in the vault under a hash of what is being sent (path, size,
// modification time, recipient, metadata setting). Sending the same unchanged file to the same
// contact again, after a crash or a kill, continues from the length the relay has instead of
// starting over (main/net/attachments.ts uploadFrom). Entries go when the upload finishes or is
// cancelled, and after the relay's blob lifetime in any case.
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { UploadResume } from '../net/attachments.ts';
import type { Vault } from '../vault/index.ts';

/** sha256(what is sent) -> JSON {blob, key, at} (base64url). */
export const UPLOADS_IN_PROGRESS = 'messenger-uploads-in-progress';
/** The relay's default blob lifetime: an older entry names a blob that is gone. */
const KEEP_MS = 30 * 24 * 3600 * 1000;

interface Entry {
  blob: string;
  key: string;
  at: number;
}

function readEntry(vault: Vault, id: string): Entry | undefined {
  const raw = vault.kvGet(UPLOADS_IN_PROGRESS, id);
  if (!raw) return undefined;
  try {
    const e = JSON.parse(Buffer.from(raw).toString('utf8')) as Entry;
    return typeof e.blob === 'string' && typeof e.key === 'string' && typeof e.at === 'number' ? e : undefined;
  } catch {
    return undefined;
  }
}

/** The resume state of sending the file at `path` to `handle`, and `finished` to drop it. Best effort: a vault that refuses a write (busy, locked) only loses the resume. */
export async function uploadResumeFor(vault: Vault, path: string, handle: string, keepMetadata: boolean, now = Date.now()): Promise<{ resume: UploadResume; finished(): void }> {
  const st = await stat(path);
  const id = createHash('sha256').update(JSON.stringify([resolve(path), st.size, st.mtimeMs, handle, keepMetadata])).digest('hex');
  const attempt = (fn: () => void): void => {
    try {
      fn();
    } catch {
      // Busy (an import merging) or locked: the upload goes on without a resume point.
    }
  };
  attempt(() => {
    for (const k of vault.kvKeys(UPLOADS_IN_PROGRESS)) if (k !== id && (readEntry(vault, k)?.at ?? 0) < now - KEEP_MS) vault.kvDelete(UPLOADS_IN_PROGRESS, k);
  });
  const e = readEntry(vault, id);
  const earlier = e && e.at >= now - KEEP_MS ? { blobId: new Uint8Array(Buffer.from(e.blob, 'base64url')), key: new Uint8Array(Buffer.from(e.key, 'base64url')) } : undefined;
  return {
    resume: {
      ...(earlier ? { earlier } : {}),
      created: (blobId, key) =>
        attempt(() => vault.kvSet(UPLOADS_IN_PROGRESS, id, Buffer.from(JSON.stringify({ blob: Buffer.from(blobId).toString('base64url'), key: Buffer.from(key).toString('base64url'), at: now }), 'utf8'))),
    },
    finished: () => attempt(() => vault.kvDelete(UPLOADS_IN_PROGRESS, id)),
  };
}
