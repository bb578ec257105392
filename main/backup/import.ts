// Import: verify the whole file (age header MAC, every chunk, the final chunk, every line,
// the end line) without touching the vault; then decrypt it again and merge it in one
// vault transaction that does not block the event loop (Vault.longTransaction). Merging is
// idempotent: existing contacts, conversations and messages (by id) are kept as they are, so
// importing the same file twice adds nothing.
//
// Trust: only a backup signed by this profile's own identity (or, restoring into a profile
// without one, by the identity it restores) merges as it is. Any other (unsigned, or signed by
// another identity) is refused with BackupUntrusted before anything changes, unless the caller
// passes `trustUnsigned` after asking the user; its contacts then carry no verified marks.
import { createHash } from 'node:crypto';
import type { NewMessage, VaultHandle } from '../vault/api.ts';
import { BackupCancelled, BackupCorrupt, BackupError, BackupIoError, BackupUntrusted, isFsError } from './errors.ts';
import { lineToContact, lineToConversation, lineToMessage, type BackupCounts, type HeaderLine } from './format.ts';
import { throwIfAborted, yieldAndCheck, type ProgressListener } from './progress.ts';
import type { OpenedAgeFile } from './age-file.ts';
import { openBackupFile, records, scanRecords, type ReadOptions } from './read.ts';
import { IDENTITY_SECRET, ownIdentityKey, publicKeyOfIdentitySecret, signerFingerprint } from './signature.ts';
import type { BackupRecord } from './stream.ts';
import { ACCOUNT_IDENTITY_SECRETS } from './export.ts';
import { lineToAttachment, type AttachmentSink } from './attachments.ts';
import { lineToGroup, lineToGroupReceipts, type GroupSink } from './groups.ts';

export interface ImportOptions extends ReadOptions {
  /**
   * Restore the account identity secrets (ACCOUNT_IDENTITY_SECRETS) found in the backup, never
   * overwriting ones the profile has, and only from a backup classified `own`.
   */
  restoreIdentity?: boolean;
  /**
   * The user confirmed importing a backup that is not signed by this profile's identity
   * (unsigned, or another identity's). Without it such a backup is refused (BackupUntrusted).
   */
  trustUnsigned?: boolean;
  onProgress?: ProgressListener;
  /** Marks messages this import added as deleted for everyone (the messenger's sealed record), in the write that added them. */
  markTombstones?: (messageIds: readonly string[]) => void;
  /** Where the file's attachments go (main/messenger/backup-attachments.ts); without it they are skipped. */
  attachments?: AttachmentSink;
  /** Where the file's groups go (main/messenger/group-backup.ts); only from the profile's own backup, else skipped. */
  groups?: GroupSink;
}

/** Who signed a backup, as seen from the profile it is imported into. */
export type BackupSigner =
  /** This profile's own identity (or the identity this import restores into a profile without one). */
  | { status: 'own'; key: Uint8Array; fingerprint: string }
  | { status: 'foreign'; key: Uint8Array; fingerprint: string }
  | { status: 'unsigned' };

/**
 * `ownKey`: the profile's identity public key, or (restoring into a profile without one) the
 * public key of the identity this import restores; undefined when there is neither.
 */
function classifySigner(signer: Uint8Array | undefined, own: Uint8Array | undefined): BackupSigner {
  if (signer === undefined) return { status: 'unsigned' };
  const fingerprint = signerFingerprint(signer);
  const same = own !== undefined && own.length === signer.length && Buffer.compare(own, signer) === 0;
  return { status: same ? 'own' : 'foreign', key: signer, fingerprint };
}

/**
 * Vault kv namespace: conversation id -> JSON {importedAt, signer, fingerprint?} for every
 * conversation that an import of a backup not signed by the profile created or added messages
 * to. The messenger shows such conversations as holding unverified content.
 */
export const UNVERIFIED_IMPORTS = 'backup-unverified-imports';

export interface UnverifiedImportMark {
  importedAt: number;
  signer: 'foreign' | 'unsigned';
  fingerprint?: string;
}

export interface ImportResult {
  header: HeaderLine;
  /** What the file holds. */
  inFile: BackupCounts;
  /** What this import added to the profile. */
  added: BackupCounts;
  /** Account secrets present in the file but not restored (not asked for, or the profile has its own). */
  secretsSkipped: string[];
  signer: BackupSigner;
  /** Conversations this import created or added messages to, when it was not the profile's own backup (marked in UNVERIFIED_IMPORTS). */
  unverifiedConversations: string[];
}

export interface InspectResult {
  header: HeaderLine;
  inFile: BackupCounts;
  signer: BackupSigner;
}

/**
 * Pass 1 of an import, alone: checks the whole file and its signature, and says who signed it
 * relative to `vault` (undefined: a profile about to be created, which has no identity yet).
 * Changes nothing. Lets a caller ask the user before it creates or changes anything.
 */
export async function inspectBackup(vault: VaultHandle | undefined, path: string, options: ReadOptions & { restoreIdentity?: boolean }): Promise<InspectResult> {
  throwIfAborted(options.signal);
  const file = await openBackupFile(path, options);
  try {
    const { header, inFile, signer } = await inspectOpened(vault, file, options);
    return { header, inFile, signer };
  } finally {
    file.close();
  }
}

/** What pass 1 checked, for pass 2 to compare against: the whole plaintext's SHA-256 and the verified signer. */
interface Checked {
  plaintextSha256: Uint8Array;
  signerKey: Uint8Array | undefined;
}

async function inspectOpened(vault: VaultHandle | undefined, file: OpenedAgeFile, options: ReadOptions & { restoreIdentity?: boolean }): Promise<InspectResult & { checked: Checked }> {
  let fileIdentityKey: Uint8Array | undefined;
  const { header, counts: inFile, signer: signerKey, plaintextSha256 } = await scanRecords(file, 'verify', options, (r) => {
    if (r.kind === 'account-secret' && r.line.name === IDENTITY_SECRET) {
      const bytes = Buffer.from(r.line.value, 'base64');
      fileIdentityKey = publicKeyOfIdentitySecret(bytes);
      bytes.fill(0);
    }
  });
  throwIfAborted(options.signal);
  const own = vault ? ownIdentityKey(vault) : undefined;
  const restored = own === undefined && options.restoreIdentity === true ? fileIdentityKey : undefined;
  return { header, inFile, signer: classifySigner(signerKey, own ?? restored), checked: { plaintextSha256, signerKey } };
}

/** Messages per write step; the event loop runs between steps (~10-20 ms each here). */
const APPEND_BATCH = 2000;

export async function importBackup(vault: VaultHandle, path: string, options: ImportOptions): Promise<ImportResult> {
  throwIfAborted(options.signal);
  const file = await openBackupFile(path, options);
  try {
    // Pass 1: nothing is written until the whole file, its signature included, has checked out.
    const { header, inFile, signer, checked } = await inspectOpened(vault, file, options);
    if (signer.status !== 'own' && options.trustUnsigned !== true) throw new BackupUntrusted(signer);

    // Pass 2: the same bytes again (re-authenticated chunk by chunk), applied in one vault
    // transaction that yields to the event loop between batches (progress, cancel, the rest of
    // the app). Chunk authentication alone does not prove it is the same file: whoever knows
    // the passphrase or identity can rewrite it in place under the same header. So pass 2
    // hashes the whole plaintext it applies and, before the transaction commits, refuses
    // unless hash and verified signer equal pass 1's. A failure, a cancel or a lock rolls
    // everything back.
    const total = inFile.messages;
    options.onProgress?.({ phase: 'apply', done: 0, total });
    let result: Pick<ImportResult, 'added' | 'secretsSkipped' | 'unverifiedConversations'>;
    try {
      result = await vault.longTransaction(
        (write) => applyRecords(vault, write, appliedRecords(file, checked), { restoreIdentity: options.restoreIdentity === true, signer, ...(options.markTombstones ? { markTombstones: options.markTombstones } : {}), ...(options.attachments ? { attachments: options.attachments } : {}), ...(options.groups ? { groups: options.groups } : {}) }, options.signal, (done) => options.onProgress?.({ phase: 'apply', done, total })),
        options.signal ? { signal: options.signal } : {},
      );
    } catch (err) {
      // Cancelled while the merge waited for the app's running activities (sends, receipts).
      if (options.signal?.aborted && !(err instanceof BackupError)) throw new BackupCancelled();
      throw err;
    }
    options.onProgress?.({ phase: 'apply', done: total, total });
    return { header, inFile, ...result, signer };
  } catch (err) {
    // File-system failures become BackupIoError; vault errors (VaultError) and ours pass through.
    if (isFsError(err)) throw new BackupIoError(`Import failed: ${err.message}`, { cause: err });
    throw err;
  } finally {
    file.close();
  }
}

/**
 * The records of pass 2; once they are all read, throws BackupCorrupt (inside the transaction,
 * so nothing commits) unless the plaintext and its verified signer are the ones pass 1 checked.
 */
function* appliedRecords(file: OpenedAgeFile, checked: Checked): Generator<BackupRecord, void, undefined> {
  const plaintext = createHash('sha256');
  let signerKey: Uint8Array | undefined;
  for (const r of records(file, plaintext)) {
    if (r.kind === 'signed') signerKey = r.signer;
    yield r;
  }
  const sameSigner = signerKey === undefined ? checked.signerKey === undefined : checked.signerKey !== undefined && Buffer.compare(signerKey, checked.signerKey) === 0;
  if (!sameSigner || !plaintext.digest().equals(checked.plaintextSha256)) {
    throw new BackupCorrupt('it changed on disk between the check and the import (written to while importing); nothing was imported');
  }
}

async function applyRecords(
  vault: VaultHandle,
  write: <R>(fn: () => R) => R,
  input: Iterable<BackupRecord>,
  { restoreIdentity, signer, markTombstones, attachments, groups }: { restoreIdentity: boolean; signer: BackupSigner; markTombstones?: (messageIds: readonly string[]) => void; attachments?: AttachmentSink; groups?: GroupSink },
  signal: AbortSignal | undefined,
  progress: (done: number) => void,
): Promise<Pick<ImportResult, 'added' | 'secretsSkipped' | 'unverifiedConversations'>> {
  const trusted = signer.status === 'own';
  // Untrusted imports: message count per conversation before this import touched it, and the
  // conversations it created, to mark those that got content from the file.
  const countsBefore = new Map<string, number>();
  const createdConversations = new Set<string>();
  const added = { contacts: 0, conversations: 0, messages: 0, secrets: 0 };
  const secretsSkipped: string[] = [];
  const messagesBefore = vault.countMessages();
  let batch: NewMessage[] = [];
  // Tombstone lines of messages not here before (one already here is kept as it is).
  let tombs: string[] = [];
  let done = 0;
  // The attachment whose chunks are arriving, when the sink took it; chunks of a skipped one are dropped.
  let receiving: string | undefined;
  let chunksWritten = 0;
  let addedAttachments = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const b = batch;
    const t = tombs;
    batch = [];
    tombs = [];
    write(() => {
      vault.appendMessages(b);
      if (t.length > 0) markTombstones?.(t);
    });
    done += b.length;
    progress(done);
    await yieldAndCheck(signal);
  };
  for (const r of input) {
    switch (r.kind) {
      case 'account-secret': {
        // Only the identity secrets, and only from the profile's own backup (or one signed by the
        // identity it restores, see classifySigner): a confirmed but unsigned or foreign file
        // must not plant an identity its writer holds, nor any other secret name.
        if (!restoreIdentity || !trusted || !ACCOUNT_IDENTITY_SECRETS.includes(r.line.name) || vault.getAccountSecret(r.line.name) !== undefined) {
          secretsSkipped.push(r.line.name);
          break;
        }
        const value = new Uint8Array(Buffer.from(r.line.value, 'base64'));
        write(() => vault.setAccountSecret(r.line.name, value));
        value.fill(0);
        added.secrets++;
        break;
      }
      case 'contact':
        if (!vault.getContact(r.line.id)) {
          // An untrusted file's identity key would become the key first use trusts for this
          // handle (messenger's knownIdentity), pinning whatever its writer chose: dropped.
          const contact = lineToContact(r.line, { trusted });
          if (!trusted) delete contact.identityKey;
          write(() => vault.upsertContact(contact));
          added.contacts++;
        }
        break;
      case 'conversation': {
        const existing = vault.getConversation(r.line.id);
        if (!existing) {
          write(() => vault.upsertConversation(lineToConversation(r.line)));
          added.conversations++;
          if (!trusted) createdConversations.add(r.line.id);
        } else if (r.line.lastActivity > existing.lastActivity) {
          write(() => vault.upsertConversation({ ...existing, lastActivity: r.line.lastActivity }));
        }
        break;
      }
      case 'group':
        // A group's log names who our group texts go to: only our own signed backup may set one.
        if (groups && trusted) write(() => groups.put(lineToGroup(r.line)));
        break;
      case 'message':
        if (!trusted && !countsBefore.has(r.line.conversationId)) countsBefore.set(r.line.conversationId, vault.countMessages(r.line.conversationId));
        if (r.line.deleted === true && vault.getMessage(r.line.id) === undefined) tombs.push(r.line.id);
        batch.push(lineToMessage(r.line));
        if (batch.length === APPEND_BATCH) await flush();
        break;
      case 'attachment': {
        // Its message is in the profile by now (the message section came first).
        await flush();
        const a = lineToAttachment(r.line);
        receiving = undefined;
        if (attachments?.accepts(a) === true) {
          // Record and chunks commit together with the messages, or not at all.
          write(() => attachments.putRecord(a));
          addedAttachments++;
          if (a.downloaded) receiving = a.id;
        }
        break;
      }
      case 'attachment-chunk':
        if (attachments && receiving === r.attachmentId) {
          write(() => attachments.putChunk(r.attachmentId, r.index, r.data));
          // Bounded work per step: a large file does not hold the event loop.
          if (++chunksWritten % 16 === 0) await yieldAndCheck(signal);
        }
        r.data.fill(0);
        break;
      case 'group-receipt':
        // Who our own texts went to: from our own backup only, as the group's log (the messages are in by now).
        await flush();
        if (groups?.putReceipts && trusted) write(() => groups.putReceipts!(lineToGroupReceipts(r.line)));
        break;
      case 'header':
      case 'end':
      case 'signed':
        break;
    }
  }
  await flush();
  added.messages = vault.countMessages() - messagesBefore;
  if (addedAttachments > 0) Object.assign(added, { attachments: addedAttachments });
  const unverifiedConversations = [...createdConversations];
  for (const [conversationId, before] of countsBefore) {
    if (!createdConversations.has(conversationId) && vault.countMessages(conversationId) > before) unverifiedConversations.push(conversationId);
  }
  if (signer.status !== 'own' && unverifiedConversations.length > 0) {
    const mark: UnverifiedImportMark = { importedAt: Date.now(), signer: signer.status, ...(signer.status === 'foreign' ? { fingerprint: signer.fingerprint } : {}) };
    const value = Buffer.from(JSON.stringify(mark), 'utf8');
    write(() => {
      for (const id of unverifiedConversations) vault.kvSet(UNVERIFIED_IMPORTS, id, value);
    });
  }
  return { added, secretsSkipped, unverifiedConversations };
}
