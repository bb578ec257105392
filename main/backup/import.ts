// Import: one pass that decrypts, authenticates, validates and merges the file as it reads it,
// inside one vault transaction that does not block the event loop (Vault.longTransaction); it
// commits only once the whole file (age header MAC, every chunk, the final chunk, every line, the
// end line, the signature) has checked out, and rolls back on anything else. So nothing in the
// profile changes unless the whole file verifies. Merging is idempotent: existing contacts,
// conversations and messages (by id) are kept as they are, so importing the same file twice adds
// nothing.
//
// Trust: only a backup signed by this profile's own identity (or, restoring into a profile
// without one, by the identity it restores) merges as it is. Any other (unsigned, or signed by
// another identity) is refused with BackupUntrusted before anything changes (after a verify pass,
// so the signer it names is one whose signature verified), unless the caller passes
// `trustUnsigned` after asking the user; its contacts then carry no verified marks.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_SKIPPED_GROUPS_LISTED } from '../../shared/api.ts';
import type { NewMessage, VaultHandle } from '../vault/api.ts';
import { DB_FILE } from '../vault/open.ts';
import { BackupCancelled, BackupError, BackupIoError, BackupUntrusted, isFsError } from './errors.ts';
import { lineToContact, lineToConversation, lineToMessage, type BackupCounts, type HeaderLine } from './format.ts';
import { throwIfAborted, yieldAndCheck, type ProgressListener } from './progress.ts';
import type { OpenedAgeFile } from './age-file.ts';
import { openBackupFile, ReadCounter, records, scanRecords, type ReadOptions } from './read.ts';
import { IDENTITY_SECRET, ownIdentityKey, publicKeyOfIdentitySecret, signerFingerprint } from './signature.ts';
import type { BackupRecord } from './stream.ts';
import { ACCOUNT_IDENTITY_SECRETS } from './export.ts';
import { lineToAttachment, type AttachmentSink } from './attachments.ts';
import { lineToGroup, lineToGroupReceipts, type GroupSink } from './groups.ts';
import { countReplyLink, newReplyLinkReport, type ReplyLink, type ReplyLinkReport, type ReplyLinkSink } from './replies.ts';

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
  groups?: ImportGroupSink;
  /** Where the file's reply links go (main/messenger/backup-records.ts); without it they are not restored. */
  replyLinks?: ReplyLinkSink;
}

/** A group sink that also says which groups the profile holds already: those are counted, not listed one by one. */
export interface ImportGroupSink extends GroupSink {
  holds(groupId: string): boolean;
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
  /**
   * Group lines of the file that were not put back, and why (a group sink given; else none are):
   * the first MAX_SKIPPED_GROUPS_LISTED of them, so a file of many group lines costs no memory
   * per line; `groupsSkippedTotal` counts them all. A group the profile holds already is kept as
   * it is (nothing of it is lost): counted in `groupsAlreadyHere` instead.
   */
  groupsSkipped: Array<{ groupId: string; name: string; reason: string }>;
  groupsSkippedTotal: number;
  groupsAlreadyHere: number;
  /** Reply links restored, and those dropped with the reason (the first few named). */
  replyLinks: ReplyLinkReport;
}

export interface InspectResult {
  header: HeaderLine;
  inFile: BackupCounts;
  signer: BackupSigner;
}

/**
 * The verify pass alone: checks the whole file and its signature, and says who signed it
 * relative to `vault` (undefined: a profile about to be created, which has no identity yet).
 * Changes nothing. Lets a caller ask the user before it creates or changes anything.
 */
export async function inspectBackup(vault: VaultHandle | undefined, path: string, options: ReadOptions & { restoreIdentity?: boolean }): Promise<InspectResult> {
  throwIfAborted(options.signal);
  const file = await openBackupFile(path, options);
  try {
    return await inspectOpened(vault, file, options);
  } finally {
    file.close();
  }
}

async function inspectOpened(vault: VaultHandle | undefined, file: OpenedAgeFile, options: ReadOptions & { restoreIdentity?: boolean }): Promise<InspectResult> {
  let fileIdentityKey: Uint8Array | undefined;
  const { header, counts: inFile, signer: signerKey } = await scanRecords(file, 'verify', options, (r) => {
    if (r.kind === 'account-secret' && r.line.name === IDENTITY_SECRET) {
      const bytes = Buffer.from(r.line.value, 'base64');
      fileIdentityKey = publicKeyOfIdentitySecret(bytes);
      bytes.fill(0);
    }
  });
  throwIfAborted(options.signal);
  const own = vault ? ownIdentityKey(vault) : undefined;
  const restored = own === undefined && options.restoreIdentity === true ? fileIdentityKey : undefined;
  return { header, inFile, signer: classifySigner(signerKey, own ?? restored) };
}

/**
 * Messages per write step; the event loop runs between steps. 1000: with 2000 the steps at 1M
 * took ~35-50 ms (reading included) and the loop delay's p99 reached 51.7 / 52.9 ms in two quiet
 * full runs (2026-12-05), over the 50 ms bar.
 */
export const APPEND_BATCH = 1000;

export async function importBackup(vault: VaultHandle, path: string, options: ImportOptions): Promise<ImportResult> {
  throwIfAborted(options.signal);
  const file = await openBackupFile(path, options);
  try {
    // One pass: every record is decrypted, authenticated, validated and applied as it is read,
    // inside one vault transaction that yields to the event loop between batches. Nothing is
    // committed until the whole file has checked out (the last chunk, every line, the end line's
    // counts, the signature over every byte before it); any failure, a cancel or a lock rolls
    // everything back. What is applied is exactly the stream that was verified: there is no
    // second read that the file could change under.
    const read = new ReadCounter();
    const input = records(file, undefined, read);
    const { header, signer, pending } = readSigner(vault, input, options.restoreIdentity === true);
    if (signer.status !== 'own' && options.trustUnsigned !== true) {
      // Refused, and the user is told who signed it: only after the whole file has verified,
      // so a header's claim alone is never shown as a signer (a damaged file says so instead).
      input.return();
      const verified = (await inspectOpened(vault, file, options)).signer;
      // The verified signer is the header's (readRecords checks the signature against it).
      if (verified.status !== 'own') throw new BackupUntrusted(verified);
      throw new Error('unreachable: a verified signer differs from the header\'s claim');
    }
    const total = header.counts.messages;
    options.onProgress?.({ phase: 'apply', done: 0, total });
    // Continue from a check-phase turn, as every later step does: started from an I/O callback,
    // the first two steps would otherwise run back to back with no timers between them.
    await yieldAndCheck(options.signal);
    let result: Omit<ImportResult, 'header' | 'signer'>;
    let walBefore: string | undefined;
    try {
      result = await vault.longTransaction(
        (write) => {
          // Open, nothing written yet: what the WAL looks like before this import.
          walBefore = walState(vault);
          return applyRecords(vault, write, chain(pending, input), read, { restoreIdentity: options.restoreIdentity === true, signer, ...(options.markTombstones ? { markTombstones: options.markTombstones } : {}), ...(options.attachments ? { attachments: options.attachments } : {}), ...(options.groups ? { groups: options.groups } : {}), ...(options.replyLinks ? { replyLinks: options.replyLinks } : {}) }, options.signal, (done) => options.onProgress?.({ phase: 'apply', done, total: Math.max(total, done) }));
        },
        options.signal ? { signal: options.signal } : {},
      );
    } catch (err) {
      if (walBefore !== undefined && walState(vault) !== walBefore) dropUncommittedFrames(vault);
      // Cancelled while the merge waited for the app's running activities (sends, receipts).
      if (options.signal?.aborted && !(err instanceof BackupError)) throw new BackupCancelled();
      throw err;
    }
    options.onProgress?.({ phase: 'apply', done: result.inFile.messages, total: result.inFile.messages });
    return { header, ...result, signer };
  } catch (err) {
    // File-system failures become BackupIoError; vault errors (VaultError) and ours pass through.
    if (isFsError(err)) throw new BackupIoError(`Import failed: ${err.message}`, { cause: err });
    throw err;
  } finally {
    file.close();
  }
}

/**
 * Reads the header and the account-secret section (they come first) and says who the stream
 * claims signed it, relative to `vault`. The claim holds only once the whole stream has been
 * read (readRecords checks the signature last): an import acts on it inside its transaction,
 * which then commits or rolls back. Returns the records read so far, to be applied in order;
 * of account secrets only the identity ones keep their value (nothing else is ever restored).
 */
function readSigner(vault: VaultHandle, input: Iterator<BackupRecord>, restoreIdentity: boolean): { header: HeaderLine; signer: BackupSigner; pending: BackupRecord[] } {
  const first = input.next();
  // readRecords yields the header first or throws.
  if (first.done === true || first.value.kind !== 'header') throw new Error('unreachable: a stream without a header line');
  const header = first.value.line;
  const pending: BackupRecord[] = [];
  let fileIdentityKey: Uint8Array | undefined;
  for (;;) {
    const next = input.next();
    if (next.done === true) break;
    const r = next.value;
    if (r.kind !== 'account-secret') {
      pending.push(r);
      break;
    }
    if (r.line.name === IDENTITY_SECRET) {
      const bytes = Buffer.from(r.line.value, 'base64');
      fileIdentityKey = publicKeyOfIdentitySecret(bytes);
      bytes.fill(0);
    }
    pending.push(ACCOUNT_IDENTITY_SECRETS.includes(r.line.name) ? r : { kind: 'account-secret', line: { ...r.line, value: '' } });
  }
  const own = ownIdentityKey(vault);
  const restored = own === undefined && restoreIdentity ? fileIdentityKey : undefined;
  const claimed = header.signer === undefined ? undefined : new Uint8Array(Buffer.from(header.signer, 'base64'));
  return { header, signer: classifySigner(claimed, own ?? restored), pending };
}

/** A kv namespace that never holds anything: its kvForget is the vault's public "checkpoint and truncate the WAL". */
const WAL_TRUNCATE_NAMESPACE = 'backup-import-rolled-back';

/** Size and modification time of the vault's WAL file ('' when there is none): a rolled-back transaction that wrote frames changes it. */
function walState(vault: VaultHandle): string {
  const st = statSync(`${join(vault.profileDir, DB_FILE)}-wal`, { bigint: true, throwIfNoEntry: false });
  return st === undefined ? '' : `${st.size}:${st.mtimeNs}`;
}

/**
 * After a rolled-back import that wrote to the WAL: a transaction larger than SQLite's page
 * cache spills pages to the WAL as frames that never commit. The database ignores them, but they
 * are sealed rows of the file and stay in the -wal file until overwritten; truncating it leaves
 * no file of the profile holding anything of an import that did not happen. Only then: the
 * checkpoint also moves committed frames into vault.db, so a refused file that wrote nothing
 * leaves every file byte-identical.
 */
function dropUncommittedFrames(vault: VaultHandle): void {
  try {
    vault.kvForget(WAL_TRUNCATE_NAMESPACE, 'none');
  } catch {
    // locked meanwhile: the frames stay until the next checkpoint (the database never reads them)
  }
}

function* chain(first: readonly BackupRecord[], rest: Iterator<BackupRecord>): Generator<BackupRecord, void, undefined> {
  yield* first;
  for (let next = rest.next(); next.done !== true; next = rest.next()) yield next.value;
}

async function applyRecords(
  vault: VaultHandle,
  write: <R>(fn: () => R) => R,
  input: Iterable<BackupRecord>,
  read: ReadCounter,
  { restoreIdentity, signer, markTombstones, attachments, groups, replyLinks }: { restoreIdentity: boolean; signer: BackupSigner; markTombstones?: (messageIds: readonly string[]) => void; attachments?: AttachmentSink; groups?: ImportGroupSink; replyLinks?: ReplyLinkSink },
  signal: AbortSignal | undefined,
  progress: (done: number) => void,
): Promise<Omit<ImportResult, 'header' | 'signer'>> {
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
  // Reply links of the batch, put back once its messages are in (the quoted one is earlier in the file, or in the profile already).
  let links: ReplyLink[] = [];
  const replyReport = newReplyLinkReport();
  const groupsSkipped: ImportResult['groupsSkipped'] = [];
  let groupsSkippedTotal = 0;
  let groupsAlreadyHere = 0;
  let done = 0;
  let inFile: BackupCounts | undefined;
  // The attachment whose chunks are arriving, when the sink took it; chunks of a skipped one are dropped.
  let receiving: string | undefined;
  let chunksWritten = 0;
  let addedAttachments = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const b = batch;
    const t = tombs;
    const l = links;
    batch = [];
    tombs = [];
    links = [];
    // Reading the batch and writing it are two steps: the event loop runs between them too.
    await yieldAndCheck(signal);
    write(() => {
      vault.appendMessages(b);
      if (t.length > 0) markTombstones?.(t);
      for (const link of l) countReplyLink(replyReport, link.messageId, replyLinks!.link(link));
    });
    done += b.length;
    progress(done);
    await yieldAndCheck(signal);
  };
  for (const r of input) {
    // Huge lines (group logs, attachment chunks) yield by bytes; batches of messages also in flush.
    if (read.yieldDue()) {
      read.yielded();
      await yieldAndCheck(signal);
    }
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
      case 'group': {
        // A group's log names who our group texts go to: only our own signed backup may set one.
        if (!groups) break;
        // Kept as the profile holds it, whoever wrote the file: not a loss, so not listed (a
        // re-import of the profile's own backup would otherwise list every group).
        if (groups.holds(r.line.id)) {
          groupsAlreadyHere++;
          break;
        }
        const put = trusted ? write(() => groups.put(lineToGroup(r.line))) : { restored: false as const, reason: "the backup is not signed by this profile's identity: groups are restored only from the profile's own backup" };
        if (put.restored) break;
        // Listed up to the cap, counted all: memory stays bounded whatever the file holds.
        groupsSkippedTotal++;
        if (groupsSkipped.length < MAX_SKIPPED_GROUPS_LISTED) groupsSkipped.push({ groupId: r.line.id, name: r.line.name, reason: put.reason });
        break;
      }
      case 'message':
        if (!trusted && !countsBefore.has(r.line.conversationId)) countsBefore.set(r.line.conversationId, vault.countMessages(r.line.conversationId));
        if (r.line.deleted === true && vault.getMessage(r.line.id) === undefined) tombs.push(r.line.id);
        // Whether the profile held the reply's message before (an existing id's message is kept as
        // it is): asked as the line is read, since appendMessages hands back both kinds alike.
        if (replyLinks && r.line.replyTo !== undefined) {
          links.push({ messageId: r.line.id, conversationId: r.line.conversationId, quotedId: r.line.replyTo, added: vault.getMessage(r.line.id) === undefined, ownBackup: trusted, line: r.line });
        }
        // appendMessages copies the fields it stores: a plain line goes in as it is (one object less per message).
        batch.push(r.line.deleted === true ? lineToMessage(r.line) : r.line);
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
      case 'end':
        inFile = r.counts;
        break;
      case 'header':
      case 'signed':
        break;
    }
  }
  await flush();
  // readRecords ends with the end line (and the signature) or throws.
  if (inFile === undefined) throw new Error('unreachable: a stream without an end line');
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
  return { inFile, added, secretsSkipped, unverifiedConversations, groupsSkipped, groupsSkippedTotal, groupsAlreadyHere, replyLinks: replyReport };
}
