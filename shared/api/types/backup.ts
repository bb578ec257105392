// Backups: protection, keys, progress and summaries (shared/api.ts).
import { z } from 'zod';
import { Contact } from './contacts.ts';
import { Count, FilePath, Handle, Id, JobId, Password, RecoveryPhrase, Timestamp } from './scalars.ts';
import { GroupId, GroupMessage, MAX_GROUP_MEMBERS, MAX_GROUP_NAME_CHARS } from './groups.ts';
import { MessagePreview } from './messages.ts';

/** ImportSummary.groupsSkipped lists at most this many groups. */
export const MAX_SKIPPED_GROUPS_LISTED = 1000;

/** What a chosen file is for: export writes it; import and open read it; identity is an age identity file. */
export const BackupFilePurpose = z.enum(['export', 'import', 'open', 'identity']);

/** Read-only view of an opened backup; passed as `backupId` to list/history/search. */
export const BackupId = Id;

/**
 * The scrypt work factor (log2 N) a passphrase backup may ask for: from age's default up to the
 * most any reader accepts (main/backup/scrypt.ts DEFAULT_WORK_FACTOR, MAX_WORK_FACTOR). No caller
 * of the contract can make a backup easier to guess than the default; only the host process can
 * (MessengerOptions.backupWorkFactor, tests only).
 */
export const MIN_BACKUP_WORK_FACTOR = 18;
export const MAX_BACKUP_WORK_FACTOR = 20;

export const BackupProtection = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('passphrase'),
    passphrase: Password,
    workFactor: z.number().int().min(MIN_BACKUP_WORK_FACTOR).max(MAX_BACKUP_WORK_FACTOR).optional(),
  }),
  z.strictObject({
    kind: z.literal('recipients'),
    recipients: z.array(z.string().regex(/^age1[0-9a-z]{20,200}$/, 'must be an age1... recipient')).min(1).max(32),
  }),
]);

export const BackupKey = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('passphrase'), passphrase: Password }),
  z.strictObject({ kind: z.literal('identityFile'), path: FilePath }),
]);

export const BackupOperation = z.enum(['export', 'import', 'open']);

export const BackupProgress = z.strictObject({
  jobId: JobId,
  operation: BackupOperation,
  phase: z.enum(['reading', 'verifying', 'writing', 'merging']),
  done: Count,
  /** Messages expected: the file header's count, read first (grows if the file holds more). */
  total: Count,
  unit: z.literal('messages'),
});

/** What a backup holds, or what an import added (attachments and groups are 0 in older files). */
export const BackupCounts = z.strictObject({ contacts: Count, conversations: Count, messages: Count, secrets: Count, attachments: Count, groups: Count });
/** 40 hex digits in groups of 8 (SHA-256 of the signer's identity key); null when unsigned. */
const Fingerprint = z.string().max(64).nullable();

export const ExportSummary = z.strictObject({
  path: FilePath,
  messages: Count,
  bytes: Count,
  counts: BackupCounts,
  /** The account identity key is in the file: whoever opens it can act as this account. */
  includesIdentity: z.boolean(),
  /** The profile's identity that signed it; null when the profile has none yet (unsigned). */
  signerFingerprint: Fingerprint,
});
/**
 * Who signed a backup, as seen from this profile: its own identity, another identity (shown by
 * key fingerprint), or nobody (an old or identity-less backup). Only 'own' imports without the
 * user's confirmation (backupImport trustUnsigned), and only then keeps verified marks.
 */
export const BackupSignerStatus = z.enum(['own', 'foreign', 'unsigned']);
export const ImportSummary = z.strictObject({
  contactsAdded: Count,
  conversationsAdded: Count,
  messagesAdded: Count,
  messagesSkipped: Count,
  signer: BackupSignerStatus,
  signerFingerprint: Fingerprint,
  inFile: BackupCounts,
  added: BackupCounts,
  /** Account secrets in the file that were not restored (restoreIdentity not asked, or the profile has its own). */
  secretsSkipped: z.array(z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/)).max(16),
  /**
   * Groups of the file that were not put back, and why (not the profile's own backup; a
   * membership log that does not check out, e.g. past 4,096 changes): the first
   * MAX_SKIPPED_GROUPS_LISTED; `groupsSkippedTotal` counts them all.
   */
  groupsSkipped: z.array(z.strictObject({ groupId: GroupId, name: z.string().max(MAX_GROUP_NAME_CHARS), reason: z.string().max(300) })).max(MAX_SKIPPED_GROUPS_LISTED),
  groupsSkippedTotal: Count,
  /** Groups of the file the profile holds already, kept as they are (not a loss, so not listed). */
  groupsAlreadyHere: Count,
  /**
   * Reply links (format version 6): how many were put back, how many were dropped (a link to a
   * message not earlier in the backup nor in the profile, or in another conversation; a link for a
   * message the profile held before the import, unless the profile's own backup and the same
   * message), and the first few dropped, each with the reply's id and the reason. A message
   * keeping its own link is neither.
   */
  replyLinks: z.strictObject({
    restored: Count,
    dropped: Count,
    droppedLinks: z.array(z.strictObject({ messageId: Id, reason: z.string().max(300) })).max(20),
  }),
});
/** backupRestore: the import into the vault it created, and that vault's phrase, shown once. */
export const RestoreSummary = ImportSummary.extend({ recoveryPhrase: RecoveryPhrase });
/** A contact of an opened backup and its conversation there (for historyPage with the backupId); never verified. */
export const BackupContact = Contact.pick({ id: true, handle: true, displayName: true, conversationId: true });
export const OpenedBackup = z.strictObject({
  backupId: BackupId,
  createdAt: Timestamp,
  contacts: Count,
  conversations: Count,
  messages: Count,
});

/**
 * A group of an opened backup, as the file states it (docs/backup-format.md "Opening a backup").
 * `logVerified`: its signed membership log checks out as a log of this group under this name;
 * false: it does not, and nothing of it is shown (`creator` null, no members or admins), while
 * the group's messages still are. Nothing here was checked with anyone over the network.
 */
export const OpenedBackupGroup = z.strictObject({
  groupId: GroupId,
  /** The conversation its messages are stored under, for search hits (backupGroupHistory reads them). */
  conversationId: Id,
  name: z.string().max(MAX_GROUP_NAME_CHARS),
  logVerified: z.boolean(),
  creator: Handle.nullable(),
  /** Sorted handles: the members the log ends with, the backup's own profile included while a member. */
  members: z.array(Handle).max(MAX_GROUP_MEMBERS),
  admins: z.array(Handle).max(MAX_GROUP_MEMBERS),
  /** Its messages in the file, membership lines included. */
  messages: Count,
  /** When its newest message in the file was stored; 0 when it has none. */
  lastActivity: Timestamp,
  /** `sender` null: the backup's own profile, or an author the file does not name by handle. */
  lastMessage: MessagePreview.extend({ sender: Handle.nullable(), system: z.literal(true).optional() }).nullable(),
});

/**
 * A message of an opened backup's group. `sender`: the author's handle as the file states it;
 * null for own texts (the file does not say the profile's handle) and for an author that is not a
 * handle. `receipts` on own texts whose receipts the file holds (version 5).
 */
export const OpenedGroupMessage = GroupMessage.omit({ sender: true, replyTo: true, timerSeconds: true, expiresAt: true }).extend({
  sender: Handle.nullable(),
  /** The text it replies to, as a live group shows it, with `sender` null as above; null: not in the file, or deleted for everyone. */
  replyTo: z.strictObject({ id: Id, direction: GroupMessage.shape.direction, sender: Handle.nullable(), text: z.string().max(200) }).nullable().optional(),
});

export const OpenedGroupHistoryPage = z.strictObject({
  /** Ascending, in the order the file stores them. */
  messages: z.array(OpenedGroupMessage).max(500),
  hasOlder: z.boolean(),
  hasNewer: z.boolean(),
});

export type OpenedBackupGroup = z.infer<typeof OpenedBackupGroup>;
export type OpenedGroupMessage = z.infer<typeof OpenedGroupMessage>;
export type OpenedGroupHistoryPage = z.infer<typeof OpenedGroupHistoryPage>;
export type BackupProgress = z.infer<typeof BackupProgress>;
export type BackupProtection = z.infer<typeof BackupProtection>;
export type BackupKey = z.infer<typeof BackupKey>;
export type BackupFilePurpose = z.infer<typeof BackupFilePurpose>;
export type ExportSummary = z.infer<typeof ExportSummary>;
export type ImportSummary = z.infer<typeof ImportSummary>;
export type OpenedBackup = z.infer<typeof OpenedBackup>;
export type BackupCounts = z.infer<typeof BackupCounts>;
export type RestoreSummary = z.infer<typeof RestoreSummary>;
export type BackupContact = z.infer<typeof BackupContact>;
