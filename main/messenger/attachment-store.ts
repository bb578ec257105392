// Attachments at rest: each one's record (name, type, size, blob id, key, digest,
// downloaded) sealed in the vault's kv table, and its plaintext in 64 KiB chunks, each a sealed
// kv row under "attachment id/chunk index" (the row's associated data binds namespace and key
// tags, so a chunk cannot be moved to another attachment or place). kv keys reach disk only as
// keyed tags: nothing links a chunk row to its attachment for someone without the data key.
// Vault writes only, so every deletion path (delete for me, expiry, delete for everyone) can call it.
import { unlink } from 'node:fs/promises';
import type { Vault } from '../vault/index.ts';
import { STREAM_CHUNK_BYTES } from '../../shared/protocol/stream.ts';
import { INCOMING_CONTENT_IDS, MESSAGE_TIMERS, STATE_TIMES } from './ids.ts';
import { readKvJson, writeKvJson } from './kv-json.ts';

/** attachment id -> sealed record (AttachmentRecord as JSON). */
export const ATTACHMENTS = 'messenger-attachments';
/** `${attachment id}/${chunk index}` -> one sealed chunk of the plaintext. */
export const ATTACHMENT_CHUNKS = 'messenger-attachment-chunks';
/** message id -> attachment id. */
export const MESSAGE_ATTACHMENTS = 'messenger-message-attachments';
/**
 * blob id (base64url) -> '1': relay blobs this profile no longer needs, to tell the relay
 * (blob.done) once connected (attachments.ts releaseBlobs). Written in the deletion's own
 * transaction, so a lock, a crash or a relay outage only delays the release.
 */
export const BLOB_RELEASES = 'messenger-blob-releases';
/**
 * attachment id -> '1' while its chunks are being written without a complete record yet (a
 * window's staged upload, the sender's own copy, a download): what a crash then leaves is found
 * at unlock without reading every chunk key (cleanUpAtUnlock).
 */
export const STAGING = 'messenger-attachment-staging';
/**
 * attachment id -> sealed JSON (CommittedUpload): a window upload whose commit was under way
 * (its staged chunks complete, the message asked for). Kept with its chunks at unlock, so the
 * upload resumes and the message goes once connected after a crash (attachment-ui.ts).
 */
export const COMMITTED_UPLOADS = 'messenger-attachment-committed';
/** Temporary plaintext file of a save in progress (its path) -> '1': removed at unlock if a crash left it. */
export const SAVES_IN_PROGRESS = 'messenger-attachment-saves';
/** Per profile, while connected: starts a release pass (attachments.ts watchBlobReleases). */
export const blobReleaseHooks = new WeakMap<Vault, () => void>();
/** A group's conversation id (`g<group id>`, group-store.ts); not imported: this module stays free of group code. */
const GROUP_CONVERSATION = /^g[0-9a-f]{32}$/;
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
  return readKvJson(vault, ATTACHMENTS, id, { strict: true }) as AttachmentRecord | undefined;
}

export function writeRecord(vault: Vault, r: AttachmentRecord): void {
  writeKvJson(vault, ATTACHMENTS, r.id, r);
}

/**
 * Per unlocked vault (a new Vault object each unlock): the ids of messages that may have an
 * attachment link, so recordOf answers "none" for the many that have none without a sealed read
 * (search reads it for every message it indexes, again at each state change; the chat list's
 * line too). Filled from the links' keys at its first use; every writer of a link goes through
 * linkAttachment, which adds the id before it writes. So the set holds every link: an id whose
 * write was rolled back, or whose link was deleted, only costs the sealed read it did before
 * (ids are never taken out: a delete's transaction may still roll back).
 */
const mayHaveAttachment = new WeakMap<Vault, Set<string>>();

function linkedMessages(vault: Vault): Set<string> {
  let ids = mayHaveAttachment.get(vault);
  if (!ids) mayHaveAttachment.set(vault, (ids = new Set(vault.kvKeys(MESSAGE_ATTACHMENTS))));
  return ids;
}

/** Links message `messageId` to its attachment's record `attachmentId`: the only writer of MESSAGE_ATTACHMENTS. */
export function linkAttachment(vault: Vault, messageId: string, attachmentId: string): void {
  linkedMessages(vault).add(messageId);
  vault.kvSet(MESSAGE_ATTACHMENTS, messageId, Buffer.from(attachmentId, 'utf8'));
}

export function recordOf(vault: Vault, messageId: string): AttachmentRecord | undefined {
  if (!linkedMessages(vault).has(messageId)) return undefined;
  const id = vault.kvGet(MESSAGE_ATTACHMENTS, messageId);
  return id ? readRecord(vault, Buffer.from(id).toString('utf8')) : undefined;
}

export function deleteChunks(vault: Vault, r: Pick<AttachmentRecord, 'id' | 'size'>): void {
  const n = chunkCount(r.size);
  for (let first = 0; first < n; first += CHUNKS_PER_TRANSACTION * 4) {
    vault.transaction(() => {
      for (let i = first; i < Math.min(n, first + CHUNKS_PER_TRANSACTION * 4); i++) vault.kvDelete(ATTACHMENT_CHUNKS, chunkKey(r.id, i));
    });
  }
  vault.kvDelete(STAGING, r.id);
}

/** Chunks are about to be written for `id` before its record says they are complete. */
export function markStaging(vault: Vault, id: string): void {
  vault.kvSet(STAGING, id, Buffer.from('1'));
}

/**
 * At unlock, what a crash left: the temporary plaintext files of interrupted saves are removed,
 * and the chunks of every attachment still marked staging that has no record (a window upload
 * not yet committed, or the sender's own copy cut short) are deleted (written in order from 0,
 * they end at the first gap). A committed window upload keeps its chunks, to be resumed. A received file whose download was cut short keeps its chunks: the next download
 * resumes after them (attachments.ts). Returns what went.
 */
export async function cleanUpAtUnlock(vault: Vault): Promise<{ files: number; chunks: number }> {
  let files = 0;
  for (const path of vault.kvKeys(SAVES_IN_PROGRESS)) {
    try {
      await unlink(path);
      files++;
    } catch (e) {
      // Already gone (renamed into place, or removed by the user) is fine; anything else stays listed.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') continue;
    }
    vault.kvDelete(SAVES_IN_PROGRESS, path);
  }
  let chunks = 0;
  for (const id of vault.kvKeys(STAGING)) {
    // A committed window upload cut short: resumed once connected (attachment-ui.ts resumeCommitted).
    if (vault.kvGet(COMMITTED_UPLOADS, id) !== undefined) continue;
    const r = readRecord(vault, id);
    // A received file whose download was cut off: its chunks stay, for the download to resume after them.
    if (r && !r.downloaded) continue;
    if (!r) {
      for (let first = 0, more = true; more; first += CHUNKS_PER_TRANSACTION * 4) {
        vault.transaction(() => {
          for (let i = first; i < first + CHUNKS_PER_TRANSACTION * 4; i++) {
            if (vault.kvGet(ATTACHMENT_CHUNKS, chunkKey(id, i)) === undefined) {
              more = false;
              return;
            }
            vault.kvDelete(ATTACHMENT_CHUNKS, chunkKey(id, i));
            chunks++;
          }
        });
      }
    }
    vault.kvDelete(STAGING, id);
  }
  return { files, chunks };
}

/**
 * Whether the relay's copy should go with this profile's: a received file never fetched drops
 * our claim (the relay deletes the blob once no recipient is left); our own file goes for
 * everyone when the message does (deleted for everyone, or expired under a timer), and on a
 * delete for me of a message never delivered (queued, failed, or sent without a delivered
 * receipt): that deletion withdraws the send itself (deletion-journal.ts forgetSend), so nobody
 * would ever fetch the file. A delivered one's delete for me leaves the recipient's copy (and
 * their right to fetch it) alone. One delivered whose receipt has not come back yet counts as
 * undelivered, as for the withdraw: the recipient then finds its file gone.
 * A group's file (docs/protocol.md §9a "Files in groups"): a delete for me once sent leaves the
 * members' right to fetch it alone, and so does one still queued (its announcement may still go).
 * The message's row may already be gone (a deletion journal's
 * later steps): then its kv entries say.
 */
function releasesBlob(vault: Vault, r: AttachmentRecord, forEveryone: boolean): boolean {
  const m = vault.getMessage(r.messageId);
  const incoming = m ? m.direction === 'in' : vault.kvGet(INCOMING_CONTENT_IDS, r.messageId) !== undefined;
  if (incoming) return !r.downloaded;
  if (forEveryone || vault.kvGet(MESSAGE_TIMERS, r.messageId) !== undefined) return true;
  // A group's file stays 'sent' (receipts are per member): members may still fetch it, until the
  // relay's TTL. A queued one too: its announcement stays in the outbox (a delete for me does not
  // withdraw a group send), so releasing the blob would show every member a file that is gone.
  if (m && GROUP_CONVERSATION.test(m.conversationId)) return m.state === 'failed';
  if (m) return m.state === 'queued' || m.state === 'sent' || m.state === 'failed';
  return vault.kvGet(STATE_TIMES, r.messageId) === undefined;
}

/** Per profile: attachment id -> the abort of its running download (attachments.ts download). */
const runningDownloads = new WeakMap<Vault, Map<string, AbortController>>();

/** A download of `id` starts: a delete of its message aborts it (deleteAttachmentOf). Call `done` when it ends. */
export function trackDownload(vault: Vault, id: string): { signal: AbortSignal; done: () => void } {
  let byId = runningDownloads.get(vault);
  if (!byId) runningDownloads.set(vault, (byId = new Map()));
  const ac = new AbortController();
  byId.set(id, ac);
  return { signal: ac.signal, done: () => { if (byId.get(id) === ac) byId.delete(id); } };
}

/**
 * Whether `r` is still its message's attachment (the link names it and its record exists): a
 * download writes chunks or its record only while this holds, inside the same transaction, so
 * a delete that landed meanwhile is never undone.
 */
export function isCurrent(vault: Vault, r: Pick<AttachmentRecord, 'id' | 'messageId'>): boolean {
  const named = vault.kvGet(MESSAGE_ATTACHMENTS, r.messageId);
  if (named === undefined || Buffer.from(named).toString('utf8') !== r.id) return false;
  const record = vault.kvGet(ATTACHMENTS, r.id);
  // The record holds the file's key: not left in freed memory.
  record?.fill(0);
  return record !== undefined;
}

/**
 * Deleting a message deletes its attachment: chunks, record and link (main/messenger/deletion.ts),
 * and queues the release of the relay's copy where it is no longer wanted (releasesBlob). A
 * running download of it is aborted (and writes nothing more: isCurrent).
 * `forEveryone`: the message is being deleted for everyone (delete-for-everyone.ts).
 */
export function deleteAttachmentOf(vault: Vault, messageId: string, o: { forEveryone?: boolean } = {}): void {
  const linked = vault.kvGet(MESSAGE_ATTACHMENTS, messageId);
  if (linked) runningDownloads.get(vault)?.get(Buffer.from(linked).toString('utf8'))?.abort();
  const r = recordOf(vault, messageId);
  if (r) {
    if (releasesBlob(vault, r, o.forEveryone === true)) {
      vault.kvSet(BLOB_RELEASES, r.blob, Buffer.from('1'));
      // After the deletion's transaction has committed (it is synchronous), not inside it.
      const hook = blobReleaseHooks.get(vault);
      if (hook) setImmediate(hook);
    }
    deleteChunks(vault, r);
    vault.kvDelete(ATTACHMENTS, r.id);
  }
  vault.kvDelete(MESSAGE_ATTACHMENTS, messageId);
}
