// The messenger's backup jobs: export / import / open through main/backup, with progress events
// carrying the caller's jobId, cancellation by jobId, and read-only views of opened backups
// (conversations, history pages, search) addressed by backupId.
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, openSync, readFileSync } from 'node:fs';
import {
  ApiError,
  type Attachment,
  type BackupContact,
  type BackupCounts as ApiBackupCounts,
  type BackupKey,
  type BackupProgress as ApiBackupProgress,
  type BackupProtection,
  type ConversationSummary,
  type ExportSummary,
  type HistoryAnchor,
  type HistoryPage,
  type ImportSummary,
  type Message,
  type OpenedBackup,
  OpenedBackupGroup,
  type OpenedGroupHistoryPage,
  type OpenedGroupMessage,
  type SearchResult,
} from '../../shared/api.ts';
import { HANDLE_RE } from '../../shared/protocol/schema.ts';
import {
  ACCOUNT_IDENTITY_SECRETS,
  BackupError,
  BackupUntrusted,
  exportBackup,
  importBackup,
  inspectBackup,
  openBackup,
  parseIdentityFile,
  signerFingerprint,
  type BackupArchive,
  type BackupCounts,
  type BackupProgress,
  type DecryptKeys,
  type EncryptKeys,
} from '../backup/index.ts';
import type { Vault } from '../vault/index.ts';
import { backupMessageStatus, backupReplyLinks, markImportedTombstones, replyLinkSink } from './backup-records.ts';
import { attachmentSink, attachmentSource } from './backup-attachments.ts';
import { checkedLog, groupSink, groupSource } from './group-backup.ts';
import { messageView } from './views.ts';
import { safeFileName } from '../e2e/content.ts';
import type { BackupGroup } from '../backup/groups.ts';
import { groupConversationOf } from '../backup/opened-groups.ts';
import type { BackupMessage } from '../backup/open.ts';
import { GroupChangeRefused, type GroupState } from './group-state.ts';
import { LINE_PREFIX, MEMBER_PREFIX } from './group-store.ts';

const PHASE: Record<BackupProgress['phase'], ApiBackupProgress['phase']> = {
  export: 'writing',
  verify: 'verifying',
  apply: 'merging',
  open: 'reading',
};

const CODE: Record<BackupError['code'], ApiError['code']> = {
  WRONG_KEY: 'BACKUP_WRONG_KEY',
  CORRUPT: 'BACKUP_CORRUPT',
  MALFORMED: 'BACKUP_CORRUPT',
  UNSUPPORTED_VERSION: 'BACKUP_UNSUPPORTED',
  // A work factor or an identity string out of range: the same code (and CLI exit 9) as the vault's refused parameters.
  BAD_PARAMETERS: 'BAD_PARAMETERS',
  // A signature that does not verify: the file was changed or forged.
  BAD_SIGNATURE: 'BACKUP_CORRUPT',
  UNTRUSTED: 'BACKUP_UNTRUSTED',
  CANCELLED: 'CANCELLED',
  IO: 'FILE_ERROR',
};

export function backupApiError(e: unknown): unknown {
  return e instanceof BackupError ? new ApiError(CODE[e.code], e.message) : e;
}

/** `workFactor`: the host's choice when the protection names none (MessengerOptions.backupWorkFactor). */
function encryptKeys(p: BackupProtection, workFactor: number | undefined): EncryptKeys {
  if (p.kind === 'recipients') return { recipients: p.recipients };
  const wf = p.workFactor ?? workFactor;
  return wf === undefined ? { passphrase: p.passphrase } : { passphrase: p.passphrase, workFactor: wf };
}

/** Counts as the contract states them (attachments and groups: 0 for files before they existed). */
function countsView(c: BackupCounts): ApiBackupCounts {
  return { contacts: c.contacts, conversations: c.conversations, messages: c.messages, secrets: c.secrets, attachments: c.attachments ?? 0, groups: c.groups ?? 0 };
}

/** What an import may also do, besides merging. */
export interface ImportParams {
  jobId: string;
  path: string;
  key: BackupKey;
  trustUnsigned?: boolean | undefined;
  restoreIdentity?: boolean | undefined;
}

function decryptKeys(k: BackupKey): DecryptKeys {
  if (k.kind === 'passphrase') return { passphrase: k.passphrase };
  let text: string;
  try {
    // Paths come from a UI (main/backup-files.ts): a symbolic link swapped in after its check is not followed.
    const fd = openSync(k.path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    try {
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    throw new ApiError('FILE_ERROR', `Cannot read the identity file ${k.path}.`);
  }
  return { identities: parseIdentityFile(text) };
}

/** The slice of `all` (ascending) a history page with this anchor shows; UNKNOWN_MESSAGE for an anchor not in it. */
function pageBounds(all: readonly BackupMessage[], anchor: HistoryAnchor, limit: number): { start: number; end: number } {
  const indexOf = (id: string): number => {
    const i = all.findIndex((m) => m.id === id);
    if (i < 0) throw new ApiError('UNKNOWN_MESSAGE', 'There is no such message in this conversation.');
    return i;
  };
  switch (anchor.kind) {
    case 'newest':
      return { start: Math.max(0, all.length - limit), end: all.length };
    case 'before': {
      const end = indexOf(anchor.messageId);
      return { start: Math.max(0, end - limit), end };
    }
    case 'after': {
      const start = indexOf(anchor.messageId) + 1;
      return { start, end: Math.min(all.length, start + limit) };
    }
    case 'around': {
      const start = Math.max(0, indexOf(anchor.messageId) - Math.floor((limit - 1) / 2));
      return { start, end: Math.min(all.length, start + limit) };
    }
  }
}

/**
 * The state a group line's signed log ends in, rebuilt as an import rebuilds it (group-backup.ts
 * checkedLog); undefined when it is not a log of this group under this name, or its state does not
 * fit what the contract shows of a group (the group is then listed unverified, not the whole list
 * refused). Signatures are the file's word: an opened backup knows no member's key, as an import
 * does not.
 */
function openedGroupState(g: BackupGroup): GroupState | undefined {
  let state: GroupState;
  try {
    const log = checkedLog(g.log);
    if (log.groupId !== g.id || log.state.name !== g.name) return undefined;
    state = log.state;
  } catch (e) {
    if (e instanceof GroupChangeRefused) return undefined;
    throw e;
  }
  return OPENED_GROUP_MEMBERSHIP.safeParse({ creator: state.creator, members: state.members, admins: state.admins }).success ? state : undefined;
}

/** What backupGroups shows of a verified log's state. */
const OPENED_GROUP_MEMBERSHIP = OpenedBackupGroup.pick({ creator: true, members: true, admins: true });

/** The author of a stored group message as a handle: null for own texts and for a form that holds no handle. */
function groupSenderOf(m: BackupMessage): string | null {
  if (m.direction === 'out' && !m.sender.startsWith(LINE_PREFIX)) return null;
  const prefix = m.sender.startsWith(LINE_PREFIX) ? LINE_PREFIX : m.sender.startsWith(MEMBER_PREFIX) ? MEMBER_PREFIX : undefined;
  const handle = prefix === undefined ? '' : m.sender.slice(prefix.length);
  return HANDLE_RE.test(handle) ? handle : null;
}

export class BackupJobs {
  private readonly running = new Map<string, AbortController>();
  private readonly archives = new Map<string, BackupArchive>();
  /** Each opened backup's checked group logs (null: does not verify), gone with the archive. */
  private readonly groupStates = new WeakMap<BackupArchive, Map<string, GroupState | null>>();

  constructor(
    private readonly onProgress: (p: ApiBackupProgress) => void,
    /** The scrypt work factor of a passphrase export that names none (tests lower it; the contract cannot). */
    private readonly workFactor?: number,
  ) {}

  private async job<T>(jobId: string, operation: ApiBackupProgress['operation'], fn: (signal: AbortSignal, progress: (p: BackupProgress) => void) => Promise<T>): Promise<T> {
    if (this.running.has(jobId)) throw new ApiError('BUSY', 'A job with this id is already running.');
    const controller = new AbortController();
    this.running.set(jobId, controller);
    const progress = (p: BackupProgress): void =>
      this.onProgress({ jobId, operation, phase: PHASE[p.phase], done: p.done, total: p.total, unit: 'messages' });
    try {
      return await fn(controller.signal, progress);
    } catch (e) {
      throw backupApiError(e);
    } finally {
      this.running.delete(jobId);
    }
  }

  cancel(jobId: string): boolean {
    const c = this.running.get(jobId);
    if (!c) return false;
    c.abort();
    return true;
  }

  export(vault: Vault, p: { jobId: string; path: string; protection: BackupProtection; includeIdentity: boolean; includeAttachments?: boolean | undefined }): Promise<ExportSummary> {
    return this.job(p.jobId, 'export', async (signal, onProgress) => {
      const messageStatus = backupMessageStatus(vault);
      const r = await exportBackup(vault, p.path, {
        keys: encryptKeys(p.protection, this.workFactor),
        signal,
        onProgress,
        messageStatus,
        replyLinks: backupReplyLinks(vault, messageStatus),
        attachments: attachmentSource(vault),
        includeAttachmentBytes: p.includeAttachments !== false,
        groups: groupSource(vault),
        ...(p.includeIdentity ? { identitySecretNames: ACCOUNT_IDENTITY_SECRETS } : {}),
      });
      return {
        path: r.file,
        messages: r.counts.messages,
        bytes: r.bytes,
        counts: countsView(r.counts),
        includesIdentity: r.includesIdentity,
        signerFingerprint: r.signer ? signerFingerprint(r.signer) : null,
      };
    });
  }

  import(vault: Vault, p: ImportParams): Promise<ImportSummary> {
    return this.job(p.jobId, 'import', async (signal, onProgress) => {
      const r = await importBackup(vault, p.path, {
        keys: decryptKeys(p.key), signal, onProgress, trustUnsigned: p.trustUnsigned === true, restoreIdentity: p.restoreIdentity === true, noFollow: true, markTombstones: markImportedTombstones(vault), attachments: attachmentSink(vault), groups: groupSink(vault), replyLinks: replyLinkSink(vault),
      });
      return {
        contactsAdded: r.added.contacts,
        conversationsAdded: r.added.conversations,
        messagesAdded: r.added.messages,
        messagesSkipped: Math.max(0, r.inFile.messages - r.added.messages),
        signer: r.signer.status,
        signerFingerprint: r.signer.status === 'unsigned' ? null : r.signer.fingerprint,
        inFile: countsView(r.inFile),
        added: countsView(r.added),
        secretsSkipped: r.secretsSkipped,
        groupsSkipped: r.groupsSkipped,
        groupsSkippedTotal: r.groupsSkippedTotal,
        groupsAlreadyHere: r.groupsAlreadyHere,
        replyLinks: r.replyLinks,
      };
    });
  }

  /**
   * Pass 1 of an import into a profile about to be created: the whole file and its signature,
   * refused (BACKUP_UNTRUSTED) unless signed by the identity it restores or the user confirmed.
   */
  verifyForRestore(p: ImportParams): Promise<void> {
    return this.job(p.jobId, 'import', async (signal, onProgress) => {
      const seen = await inspectBackup(undefined, p.path, { keys: decryptKeys(p.key), restoreIdentity: p.restoreIdentity === true, signal, onProgress, noFollow: true });
      if (seen.signer.status !== 'own' && p.trustUnsigned !== true) throw new BackupUntrusted(seen.signer);
    });
  }

  open(p: { jobId: string; path: string; key: BackupKey }): Promise<OpenedBackup> {
    return this.job(p.jobId, 'open', async (signal, onProgress) => {
      const archive = await openBackup(p.path, { keys: decryptKeys(p.key), signal, onProgress, noFollow: true });
      const backupId = `b${randomBytes(12).toString('hex')}`;
      this.archives.set(backupId, archive);
      return {
        backupId,
        createdAt: archive.header.created,
        contacts: archive.counts.contacts,
        conversations: archive.counts.conversations,
        messages: archive.counts.messages,
      };
    });
  }

  close(backupId: string): void {
    const a = this.archives.get(backupId);
    if (!a) throw unknownBackup();
    this.archives.delete(backupId);
    // Zeroes its preview plaintext and its file key.
    a.close();
  }

  closeAll(): void {
    for (const c of this.running.values()) c.abort();
    for (const a of this.archives.values()) a.close();
    this.archives.clear();
  }

  /** An opened backup (UNKNOWN_BACKUP otherwise), to read its files' bytes (backup-attachment-read.ts). */
  opened(backupId: string): BackupArchive {
    return this.archive(backupId);
  }

  private archive(backupId: string): BackupArchive {
    const a = this.archives.get(backupId);
    if (!a) throw unknownBackup();
    return a;
  }

  /** The files an opened backup lists for these messages (names made safe as a contact's are). */
  attachmentsOf(backupId: string, messageIds: readonly string[]): Attachment[] {
    const a = this.archive(backupId);
    return messageIds.flatMap((id) => {
      const f = a.attachmentOf(id);
      return f ? [{ id: f.id, messageId: f.messageId, name: safeFileName(f.name), size: f.size, type: f.contentType, downloaded: f.downloaded }] : [];
    });
  }

  /** The opened backup's contacts with their conversations; with `name`, the one it names (BAD_PARAMETERS for none or several). */
  contacts(backupId: string, name?: string): BackupContact[] {
    const a = this.archive(backupId);
    let pairs: ReturnType<BackupArchive['contactConversations']>;
    try {
      pairs = name === undefined ? a.contactConversations() : [a.findConversation(name)];
    } catch (e) {
      throw backupApiError(e);
    }
    return pairs.map(({ contact, conversation }) => ({ id: contact.id, handle: contact.handle, displayName: contact.displayName, conversationId: conversation.id }));
  }

  conversations(backupId: string): ConversationSummary[] {
    const a = this.archive(backupId);
    const contacts = new Map(a.contacts.map((c) => [c.id, c]));
    return a.conversations.map((c) => {
      const last = a.messagesOf(c.id).at(-1);
      const contact = contacts.get(c.contactId);
      return {
        id: c.id,
        contactId: c.contactId,
        title: c.title.slice(0, 256),
        lastActivity: c.lastActivity,
        unread: 0,
        lastMessage: last ? { text: last.text.slice(0, 200), direction: last.direction, sentAt: last.sentAt, state: last.state } : null,
        // An opened backup proves no key comparison to this profile: never shown as verified.
        verified: false,
        identityChanged: contact?.identityChanged ?? false,
      };
    });
  }

  history(backupId: string, conversationId: string, anchor: HistoryAnchor, limit: number): HistoryPage {
    const a = this.archive(backupId);
    if (!a.conversations.some((c) => c.id === conversationId)) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation in this backup.');
    const all = a.messagesOf(conversationId);
    const { start, end } = pageBounds(all, anchor, limit);
    // A reply shows its quote as a live chat's does (conversations.ts viewWithQuote): null when the quoted message is not in the file.
    const quoteOf = (m: BackupMessage): Pick<Message, 'replyTo'> => {
      const q = m.deleted ? undefined : a.quoteOf(m.id);
      return q === undefined ? {} : { replyTo: q ? { id: q.id, direction: q.direction, text: q.text.slice(0, 200) } : null };
    };
    return {
      messages: all.slice(start, end).map((m, k) => ({ ...messageView(m, start + k), ...quoteOf(m) })),
      hasOlder: start > 0,
      hasNewer: end < all.length,
    };
  }

  /** The opened backup's groups, newest activity first; each log is checked once per opened backup. */
  groups(backupId: string): OpenedBackupGroup[] {
    const a = this.archive(backupId);
    return a.groups
      .list()
      .map((g) => {
        let state = this.groupStates.get(a)?.get(g.id);
        if (state === undefined) {
          state = openedGroupState(g) ?? null;
          const states = this.groupStates.get(a) ?? new Map<string, GroupState | null>();
          this.groupStates.set(a, states.set(g.id, state));
        }
        const all = a.messagesOf(groupConversationOf(g.id));
        const last = all.at(-1);
        const lastMessage = last
          ? { text: last.text.slice(0, 200), direction: last.direction, sentAt: last.sentAt, state: last.state, sender: groupSenderOf(last), ...(last.deleted ? { deleted: true as const } : {}), ...(last.sender.startsWith(LINE_PREFIX) ? { system: true as const } : {}) }
          : null;
        return {
          groupId: g.id,
          conversationId: groupConversationOf(g.id),
          name: g.name,
          logVerified: state !== null,
          creator: state?.creator ?? null,
          members: state?.members ?? [],
          admins: state?.admins ?? [],
          messages: all.length,
          lastActivity: last?.receivedAt ?? 0,
          lastMessage,
        };
      })
      .sort((x, y) => y.lastActivity - x.lastActivity);
  }

  /** A page of an opened backup's group, in file order, with the author of each message and own texts' receipts. */
  groupHistory(backupId: string, groupId: string, anchor: HistoryAnchor, limit: number): OpenedGroupHistoryPage {
    const a = this.archive(backupId);
    if (!a.groups.get(groupId)) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such group in this backup.');
    const all = a.messagesOf(groupConversationOf(groupId));
    const { start, end } = pageBounds(all, anchor, limit);
    // As a live group's quote (group-reply.ts groupQuote): null when the quoted text is not in the file or was deleted for everyone.
    const groupQuoteOf = (m: BackupMessage): Pick<OpenedGroupMessage, 'replyTo'> => {
      const q = m.deleted ? undefined : a.quoteOf(m.id);
      if (q === undefined) return {};
      return { replyTo: q && !q.deleted ? { id: q.id, direction: q.direction, sender: groupSenderOf(q), text: q.text.slice(0, 200) } : null };
    };
    const view = (m: BackupMessage): OpenedGroupMessage => {
      const r = m.direction === 'out' ? a.groups.receiptsOf(m.id, groupId) : undefined;
      return {
        id: m.id, groupId, direction: m.direction, sender: groupSenderOf(m), sentAt: m.sentAt, receivedAt: m.receivedAt, text: m.text, state: m.state,
        ...(m.sender.startsWith(LINE_PREFIX) ? { system: true as const } : {}),
        ...(m.deleted ? { deleted: true as const } : {}),
        ...(r ? { receipts: { delivered: Object.keys(r.delivered).length, read: Object.keys(r.read).length, of: r.to.length } } : {}),
        ...groupQuoteOf(m),
      };
    };
    return { messages: all.slice(start, end).map(view), hasOlder: start > 0, hasNewer: end < all.length };
  }

  search(backupId: string, q: { query: string; conversationId?: string; from?: number; to?: number; limit: number }): SearchResult {
    const a = this.archive(backupId);
    const hits = a.search(q.query, {
      limit: q.limit + 1,
      ...(q.conversationId !== undefined ? { conversationId: q.conversationId } : {}),
      ...(q.from !== undefined ? { from: q.from } : {}),
      ...(q.to !== undefined ? { to: q.to } : {}),
    });
    return {
      truncated: hits.length > q.limit,
      hits: hits.slice(0, q.limit).map((h) => ({
        messageId: h.message.id,
        conversationId: h.message.conversationId,
        conversationTitle: (h.conversation?.title ?? h.group?.name ?? '').slice(0, 256),
        direction: h.message.direction,
        sentAt: h.message.sentAt,
        snippet: [{ text: h.message.text.slice(0, 1000), match: false }],
      })),
    };
  }
}

export function unknownBackup(): ApiError {
  return new ApiError('UNKNOWN_BACKUP', 'No backup with that id is open.');
}
