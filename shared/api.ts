// The renderer <-> main contract. Every method and event the UI uses is listed here with a zod
// schema for its arguments, its result and its event payload. Both ends of every boundary
// (Electron IPC via main/app, the browser host's WebSocket via main/web) parse with these
// schemas, so a compromised or buggy peer cannot push unexpected shapes across.
//
// Rules that keep secrets out of the renderer:
// - Objects are strict: a service that adds an unexpected field (say `key`) to a result or event
//   fails validation on the main side and nothing is sent.
// - The connection state names the temp key's phase and expiry, never the key or its id.
// - The recovery phrase crosses exactly once, as the result of the call that created the vault
//   (`createVault`, or `backupRestore` into a profile without one), to be shown.
//
//
// This file is the contract table (method -> params and result schema, event -> payload schema)
// and the EphemeraApi type derived from it; the records, scalars and errors it is built from live by domain
// in shared/api/types/ and shared/api/errors.ts and are re-exported here, so callers import
// everything from shared/api.ts. Imports only zod, shared/api/ and shared/errors.ts (through
// shared/api/errors.ts): shared/ must not depend on other top folders.
import { z } from 'zod';
import {
  BackupContact, BackupFilePurpose, BackupId, BackupKey, BackupProgress, BackupProtection, ExportSummary, ImportSummary, OpenedBackup, OpenedBackupGroup, OpenedGroupHistoryPage, RestoreSummary,
} from './api/types/backup.ts';
import { ConnectionState } from './api/types/connection.ts';
import { Contact, Nickname, SafetyNumber } from './api/types/contacts.ts';
import { ConversationSummary } from './api/types/conversations.ts';
import { DeleteResult, HistoryAnchor, HistoryPage, Message, MessageDetails, MessagesDeleted, MessagesTombstoned, MessageStateChange } from './api/types/messages.ts';
import { GroupHistoryPage, GroupId, GroupInfo, GroupMessage, GroupName } from './api/types/groups.ts';
import { GroupActivity, GroupReceiptDetails } from './api/types/group-receipts.ts';
import { FilePath, Handle, Id, JobId, MAX_TEXT_CHARS, MessageText, Password, RecoveryPhrase, ServerDescriptorText, Timestamp } from './api/types/scalars.ts';
import { MAX_SEARCH_HITS, SearchResult } from './api/types/search.ts';
import { NotificationPrivacy, Settings, Theme } from './api/types/settings.ts';
import { VaultStatus } from './api/types/vault.ts';
import { VaultCheck, VaultInfo } from './api/types/vault-check.ts';
import {
  Attachment, AttachmentBytes, AttachmentProgress, AttachmentRead, AttachmentUploadBegin, AttachmentUploadBegun, AttachmentUploadChunk, MAX_ATTACHMENT_NAME_CHARS, UploadId,
} from './api/types/attachments.ts';
import { DisappearingTimer } from './api/disappearing.ts';

export * from './api/errors.ts';
export * from './api/types/backup.ts';
export * from './api/types/connection.ts';
export * from './api/types/contacts.ts';
export * from './api/types/groups.ts';
export * from './api/types/group-receipts.ts';
export * from './api/types/conversations.ts';
export * from './api/types/messages.ts';
export * from './api/types/scalars.ts';
export * from './api/types/search.ts';
export * from './api/types/settings.ts';
export * from './api/types/vault.ts';
export * from './api/types/vault-check.ts';
export * from './api/types/attachments.ts';

// ---------------------------------------------------------------------------------------------
// Methods

const NoParams = z.undefined();
const NoResult = z.undefined();
const BackupSource = { backupId: BackupId.optional() };

export const apiMethods = {
  // vault
  vaultStatus: { params: NoParams, result: VaultStatus },
  /**
   * Creates the vault (unlocked) and returns the 24-word recovery phrase to show once.
   * `setAside`: where a header-less vault.db without a recovery copy was moved (not deleted).
   */
  createVault: { params: z.strictObject({ password: Password }), result: z.strictObject({ recoveryPhrase: RecoveryPhrase, setAside: z.string().max(4096).optional() }) },
  /** Checks the phrase against the vault's recovery wrap; marks it confirmed on success. */
  confirmRecoveryPhrase: { params: z.strictObject({ recoveryPhrase: RecoveryPhrase }), result: z.strictObject({ confirmed: z.boolean() }) },
  unlock: { params: z.strictObject({ password: Password }), result: VaultStatus },
  /** "Forgot password": opens with the phrase and sets a new password. */
  unlockWithRecovery: { params: z.strictObject({ recoveryPhrase: RecoveryPhrase, newPassword: Password }), result: VaultStatus },
  lock: { params: NoParams, result: NoResult },
  changePassword: { params: z.strictObject({ oldPassword: Password, newPassword: Password }), result: NoResult },
  /**
   * "Delete all data": checks the password (WRONG_PASSWORD changes nothing), locks, then
   * overwrites and removes every file of the profile and the folder; afterwards the vault is 'none'.
   */
  wipeProfile: {
    params: z.strictObject({ password: Password }),
    result: z.strictObject({ files: z.number().int().nonnegative(), bytes: z.number().int().nonnegative() }),
  },
  /** The header and the lock file, without a password (the CLI's status). */
  vaultInfo: { params: NoParams, result: VaultInfo },
  /**
   * Checks the password and reads the vault without opening the session (no expiry purge, no
   * search index): counts, and the conversations whose messages do not open. WRONG_PASSWORD,
   * PROFILE_LOCKED (open in another process) and a damaged header or schema refuse as unlock does.
   */
  vaultCheck: { params: z.strictObject({ password: Password }), result: VaultCheck },

  // account
  /** Registers this device on a relay. Without a descriptor, the configured relay is used. */
  register: { params: z.strictObject({ handle: Handle, serverDescriptor: ServerDescriptorText.optional() }), result: VaultStatus },
  connectionState: { params: NoParams, result: ConnectionState },
  /**
   * Waits at most `timeoutMs` until the relay connection is ready, the outbox is empty, receipts
   * are out and no envelope arrived for `quietMs` (default 400; the relay pushes what is queued
   * right after a bind). `done` is false when that did not happen in time. NOT_REGISTERED before
   * registration. The CLI's send, sync and account wait with it.
   */
  sync: {
    params: z.strictObject({ timeoutMs: z.number().int().min(0).max(3_600_000), quietMs: z.number().int().min(0).max(60_000).optional() }),
    result: z.strictObject({ done: z.boolean() }),
  },

  // contacts
  contactsList: { params: NoParams, result: z.array(Contact).max(100_000) },
  contactAdd: { params: z.strictObject({ handle: Handle }), result: Contact },
  safetyNumber: { params: z.strictObject({ contactId: Id }), result: SafetyNumber },
  markVerified: { params: z.strictObject({ contactId: Id, verified: z.boolean() }), result: Contact },
  /**
   * Accepts a changed identity key after the user compared the new safety number. `safetyNumber`
   * is the 60 digits that were shown: the key is accepted only if it still yields exactly these
   * digits, so a key swapped in after the number was displayed is refused (IDENTITY_CHANGED).
   */
  acceptIdentity: { params: z.strictObject({ contactId: Id, safetyNumber: z.string().regex(/^\d{60}$/) }), result: Contact },
  /** Sets the local nickname shown instead of the handle (sealed in the vault); '' clears it. */
  setNickname: { params: z.strictObject({ contactId: Id, nickname: Nickname }), result: Contact },

  // conversations and history
  conversationsList: { params: z.strictObject({ ...BackupSource }), result: z.array(ConversationSummary).max(100_000) },
  historyPage: {
    params: z.strictObject({ conversationId: Id, anchor: HistoryAnchor, limit: z.number().int().min(1).max(500), ...BackupSource }),
    result: HistoryPage,
  },
  /** `replyTo` quotes an earlier message of the same conversation. */
  sendText: { params: z.strictObject({ conversationId: Id, text: MessageText, replyTo: Id.optional() }), result: Message },
  messageDetails: { params: z.strictObject({ messageId: Id }), result: MessageDetails },
  /**
   * Sends a file (docs/protocol.md §9a): sealed with its own key, uploaded to the relay, then
   * announced in an E2E message with the caption. Progress arrives as `attachmentProgress`
   * events with `jobId`. The app UI cannot call it yet: a path from the renderer is refused (main/backup-files.ts).
   * A group's `conversationId` (`g<group id>`, GroupInfo.conversationId) sends it to the group's
   * members of the moment, as `groupSend` a text (UNKNOWN_CONVERSATION: no such group; FORBIDDEN:
   * no longer a member; INVALID_ARGUMENT: no other member can receive it); so do the window's uploads below.
   */
  sendFile: {
    params: z.strictObject({ conversationId: Id, path: FilePath, caption: MessageText.optional(), name: z.string().min(1).max(MAX_ATTACHMENT_NAME_CHARS).optional(), jobId: JobId.optional() }),
    result: Message,
  },
  /**
   * The attachments of these messages (ids of other messages, or of messages without one, are
   * skipped). With backupId: the files an opened backup lists (`downloaded`: its bytes are in the
   * backup: saveAttachment and attachmentRead with the same backupId give them before any import).
   */
  attachmentsOf: { params: z.strictObject({ messageIds: z.array(Id).max(500), ...BackupSource }), result: z.array(Attachment).max(500) },
  /**
   * Downloads the attachment if needed, checks it against the sender's digest, then writes the
   * plaintext to `path`. With backupId: a file of that opened backup, read from the backup file
   * (streamed, the whole backup checked again; NOT_AVAILABLE when its bytes are not in it).
   */
  saveAttachment: { params: z.strictObject({ attachmentId: Id, path: FilePath, jobId: JobId.optional(), ...BackupSource }), result: z.strictObject({ bytes: z.number().int().nonnegative() }) },
  /**
   * "Save as…" in the desktop app: downloads and checks the attachment if needed, asks where with
   * main's native save dialog (suggesting its name), and writes the plaintext only there (with
   * backupId: a file of that opened backup, as saveAttachment). NOT_AVAILABLE without a native dialog (browser mode, the CLI), CANCELLED if the user cancels.
   */
  attachmentSaveAs: { params: z.strictObject({ attachmentId: Id, jobId: JobId.optional(), ...BackupSource }), result: z.strictObject({ bytes: z.number().int().nonnegative(), path: FilePath }) },
  /** Stops a running sendFile or saveAttachment by its jobId (it then rejects with CANCELLED, keeping nothing). */
  attachmentCancel: { params: z.strictObject({ jobId: JobId }), result: z.strictObject({ cancelled: z.boolean() }) },
  /** The relay's per-file limit in plaintext bytes, to state before an upload (NOT_REGISTERED when not connected). */
  attachmentLimits: { params: NoParams, result: z.strictObject({ maxBytes: z.number().int().nonnegative() }) },
  /**
   * Sending a file the renderer holds (docs/ui.md "Attachments"): begin states name and size
   * (refused with ATTACHMENT_TOO_LARGE over the limit), chunks follow in order (64 KiB multiples,
   * at most 256 KiB, base64), kept sealed in the vault; commit uploads and announces it like
   * sendFile; cancel deletes what was received. A wrong offset or size is INVALID_ARGUMENT, an
   * unknown or finished upload UNKNOWN_UPLOAD; neither stores anything.
   */
  attachmentUploadBegin: { params: AttachmentUploadBegin, result: AttachmentUploadBegun },
  attachmentUploadChunk: { params: AttachmentUploadChunk, result: z.strictObject({ received: z.number().int().nonnegative() }) },
  attachmentUploadCommit: { params: z.strictObject({ uploadId: UploadId }), result: Message },
  attachmentUploadCancel: { params: z.strictObject({ uploadId: UploadId }), result: z.strictObject({ cancelled: z.boolean() }) },
  /** Downloads (verified against the digest) if not yet in this profile; progress as attachmentProgress with jobId. */
  attachmentDownload: { params: z.strictObject({ attachmentId: Id, jobId: JobId.optional() }), result: Attachment },
  /** Plaintext bytes of a downloaded attachment, for the renderer to show or offer as a download (NOT_AVAILABLE until downloaded). */
  attachmentRead: { params: AttachmentRead, result: z.strictObject({ bytes: AttachmentBytes, size: z.number().int().nonnegative() }) },
  /** A conversation's unsent draft (1:1, or a group chat's by its conversationId), sealed in the vault; '' when there is none. */
  getDraft: { params: z.strictObject({ conversationId: Id }), result: z.strictObject({ text: z.string().max(MAX_TEXT_CHARS) }) },
  /** Keeps (or with '' removes) a conversation's draft (1:1 or group), sealed in the vault. */
  setDraft: { params: z.strictObject({ conversationId: Id, text: z.string().max(MAX_TEXT_CHARS) }), result: NoResult },
  /**
   * A window's answer to the 'locking' event: the text of its composers, sealed as their drafts
   * before the lock drops the key (accepted while the lock is under way, VAULT_LOCKED once the
   * vault closed; entries for no such conversation are skipped). Once a window has called it (an
   * empty list at its start), every lock waits for its answer, up to 1 s, so text typed in the
   * draft save's pause before an idle or quit lock is kept.
   */
  lockDrafts: {
    params: z.strictObject({ drafts: z.array(z.strictObject({ conversationId: Id, text: z.string().max(MAX_TEXT_CHARS) })).max(64) }),
    result: NoResult,
  },
  /** Marks every incoming message up to and including `upToMessageId` as read. */
  markRead: { params: z.strictObject({ conversationId: Id, upToMessageId: Id }), result: NoResult },
  /**
   * "Delete for me": the message leaves every file of the profile (docs/vault.md "Deleting
   * messages"), search and the outbox; UNKNOWN_MESSAGE when the conversation has no such message.
   */
  deleteMessage: {
    /**
     * forEveryone: "delete for everyone" of an own message sent less than 24 h ago (FORBIDDEN for
     * another's message, NOT_AVAILABLE after 24 h): both sides keep it as a tombstone without text
     * (Message.deleted), and its envelope is withdrawn from the relay where still queued.
     */
    params: z.strictObject({ conversationId: Id, messageId: Id, forEveryone: z.boolean().optional() }),
    result: DeleteResult,
  },
  /** "Delete for me" of every message of the conversation and its draft; the conversation stays, empty. */
  deleteConversation: { params: z.strictObject({ conversationId: Id }), result: DeleteResult },
  /**
   * Sets the conversation's disappearing timer (0 = off) for messages sent from now on; the
   * contact is told (a 'timer' content) and both sides show the change. Returns the summary.
   */
  setDisappearingTimer: { params: z.strictObject({ conversationId: Id, seconds: DisappearingTimer }), result: ConversationSummary },

  // groups (main/messenger/groups.ts): changes are signed and sent to every member; FORBIDDEN
  // for a change this profile may not make (not an admin, not a member).
  groupsList: { params: NoParams, result: z.array(GroupInfo).max(10_000) },
  groupInfo: { params: z.strictObject({ groupId: GroupId }), result: GroupInfo },
  /** `members`: the other members' handles (each gets the group over a 1:1 session). */
  groupCreate: { params: z.strictObject({ name: GroupName, members: z.array(Handle).min(1).max(255) }), result: GroupInfo },
  groupAdd: { params: z.strictObject({ groupId: GroupId, handle: Handle }), result: GroupInfo },
  groupRemove: { params: z.strictObject({ groupId: GroupId, handle: Handle }), result: GroupInfo },
  groupPromote: { params: z.strictObject({ groupId: GroupId, handle: Handle }), result: GroupInfo },
  groupRename: { params: z.strictObject({ groupId: GroupId, name: GroupName }), result: GroupInfo },
  groupLeave: { params: z.strictObject({ groupId: GroupId }), result: GroupInfo },
  /** The group's disappearing timer (0: off), an admin's change; texts sent after it count down from when each member stores them. */
  groupSetTimer: { params: z.strictObject({ groupId: GroupId, seconds: DisappearingTimer }), result: GroupInfo },
  /** Whether every member (not only admins) may add members (`membersCanAdd`), an admin's change; INVALID_ARGUMENT when already so. */
  groupAllowAdd: { params: z.strictObject({ groupId: GroupId, on: z.boolean() }), result: GroupInfo },
  /** `replyTo` quotes an earlier text of the same group (else UNKNOWN_MESSAGE, nothing sent). */
  groupSend: { params: z.strictObject({ groupId: GroupId, text: MessageText, replyTo: Id.optional() }), result: GroupMessage },
  /** Newest `limit` messages, or those before `before` (a message id of the group). */
  groupHistory: { params: z.strictObject({ groupId: GroupId, limit: z.number().int().min(1).max(500), before: Id.optional() }), result: GroupHistoryPage },
  // group receipts and the chat list (main/messenger/group-receipts.ts)
  /** Who of the members an own group message was sent to has it and has read it; UNKNOWN_MESSAGE for anything else. */
  groupReceipts: { params: z.strictObject({ groupId: GroupId, messageId: Id }), result: GroupReceiptDetails },
  /** Marks the group's messages up to and including `upToMessageId` read; their authors get read receipts. */
  groupMarkRead: { params: z.strictObject({ groupId: GroupId, upToMessageId: Id }), result: NoResult },
  /** Every group's last activity and unread count, for the one chat list. */
  groupsActivity: { params: NoParams, result: z.array(GroupActivity).max(10_000) },

  // search
  search: {
    params: z.strictObject({
      query: z.string().min(1).max(500),
      conversationId: Id.optional(),
      from: Timestamp.optional(),
      to: Timestamp.optional(),
      order: z.enum(['newest', 'relevance']),
      limit: z.number().int().min(1).max(MAX_SEARCH_HITS),
      ...BackupSource,
    }),
    result: SearchResult,
  },

  // settings
  settingsGet: { params: NoParams, result: Settings },
  settingsUpdate: {
    params: z.strictObject({
      relayDescriptor: ServerDescriptorText.optional(),
      autoLockMinutes: z.number().int().min(0).max(24 * 60).optional(),
      theme: Theme.optional(),
      notifications: NotificationPrivacy.optional(),
      keepImageMetadata: z.boolean().optional(),
    }),
    result: Settings,
  },

  // backup (progress arrives as `backupProgress` events carrying the caller's jobId)
  backupExport: {
    // includeAttachments: false leaves the files' bytes out (their messages and names stay); default true.
    params: z.strictObject({ jobId: JobId, path: FilePath, protection: BackupProtection, includeIdentity: z.boolean(), includeAttachments: z.boolean().optional() }),
    result: ExportSummary,
  },
  /**
   * Fails with BACKUP_UNTRUSTED (nothing changed) unless the backup is signed by this profile's
   * identity or `trustUnsigned` is true (the user confirmed the warning; no verified marks are kept).
   */
  backupImport: {
    /** restoreIdentity: also the account identity, if the file has one and the profile has none. */
    params: z.strictObject({ jobId: JobId, path: FilePath, key: BackupKey, trustUnsigned: z.boolean().optional(), restoreIdentity: z.boolean().optional() }),
    result: ImportSummary,
  },
  /**
   * Import into a profile without a vault: checks the whole file and its signer first (a
   * refused or damaged backup creates nothing), then creates the vault with `password` (unlocked,
   * as createVault) and imports. VAULT_EXISTS when the profile has a vault.
   */
  backupRestore: {
    params: z.strictObject({ jobId: JobId, path: FilePath, key: BackupKey, password: Password, trustUnsigned: z.boolean().optional(), restoreIdentity: z.boolean().optional() }),
    result: RestoreSummary,
  },
  backupOpen: { params: z.strictObject({ jobId: JobId, path: FilePath, key: BackupKey }), result: OpenedBackup },
  /**
   * An opened backup's contacts with their conversations; with `name`, the one whose handle
   * (exact) or name (folded) it is (BAD_PARAMETERS for none or several).
   */
  backupContacts: { params: z.strictObject({ backupId: BackupId, name: z.string().min(1).max(256).optional() }), result: z.array(BackupContact).max(100_000) },
  /** An opened backup's groups, newest activity first (their messages are not in conversationsList). */
  backupGroups: { params: z.strictObject({ backupId: BackupId }), result: z.array(OpenedBackupGroup).max(10_000) },
  /** A page of an opened backup's group (UNKNOWN_CONVERSATION: no such group in it; UNKNOWN_MESSAGE: an anchor not in it). */
  backupGroupHistory: {
    params: z.strictObject({ backupId: BackupId, groupId: GroupId, anchor: HistoryAnchor, limit: z.number().int().min(1).max(500) }),
    result: OpenedGroupHistoryPage,
  },
  /**
   * Asks main for a file with the system's file dialog (Electron app only; NOT_AVAILABLE in
   * browser mode, CANCELLED if the user cancels). The path returned is the only kind the
   * Electron app accepts in backupExport/Import/Open.
   */
  backupChooseFile: { params: z.strictObject({ purpose: BackupFilePurpose }), result: z.strictObject({ path: FilePath }) },
  backupClose: { params: z.strictObject({ backupId: BackupId }), result: NoResult },
  /** Cancels a running job; it then rejects with CANCELLED and leaves nothing behind. */
  backupCancel: { params: z.strictObject({ jobId: JobId }), result: z.strictObject({ cancelled: z.boolean() }) },
} as const;

export type MethodName = keyof typeof apiMethods;
export const methodNames = Object.keys(apiMethods) as MethodName[];
export type ParamsOf<M extends MethodName> = z.infer<(typeof apiMethods)[M]['params']>;
export type ResultOf<M extends MethodName> = z.infer<(typeof apiMethods)[M]['result']>;

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.hasOwn(apiMethods, name);
}

// ---------------------------------------------------------------------------------------------
// Events (main -> renderer)

export const apiEvents = {
  connection: ConnectionState,
  /** Vault state changed (unlocked, locked by idle timer, registered). */
  vault: VaultStatus,
  /**
   * A lock of the unlocked vault began (true: asked for by the user, the idle timer or quit) or
   * ended (false, after its 'vault' event). Meanwhile every call but the vault's own is refused
   * (VAULT_LOCKED), drafts included, for up to a few seconds (held receipts go out first).
   */
  locking: z.strictObject({ underWay: z.boolean() }),
  /**
   * The clean-up of deleted data at lock (the scrub: docs/vault.md) holds the profile: true when
   * this process's scrub starts, or when an unlock (create, recovery, wipe) starts waiting for
   * another process's; false when it ends. An unlock asked for meanwhile waits for it, then goes on.
   */
  scrub: z.strictObject({ underWay: z.boolean() }),
  /** A message was stored: received, or sent from this device. */
  message: Message,
  messageState: MessageStateChange,
  messagesDeleted: MessagesDeleted,
  /** Messages deleted for everyone (by either side): now tombstones; replace them by id. */
  deletedForEveryone: MessagesTombstoned,
  /** A conversation's summary changed (new message, unread count). */
  conversation: ConversationSummary,
  /** A contact changed (verified, identity changed or accepted). */
  contact: Contact,
  /** A group changed (created, joined, a change applied) or stored or sent a message: reload it. */
  group: GroupInfo,
  /** A group's place in the chat list moved (main/messenger/group-activity.ts): replace it by groupId. */
  groupActivity: GroupActivity,
  backupProgress: BackupProgress,
  /** An upload (sendFile) or download (saveAttachment) moved on. */
  attachmentProgress: AttachmentProgress,
  settings: Settings,
  /** From the Electron shell, not the service: the user clicked a notification for this chat. */
  openConversation: z.strictObject({ conversationId: Id }),
} as const;

export type EventName = keyof typeof apiEvents;
export const eventNames = Object.keys(apiEvents) as EventName[];
export type EphemeraEvents = { [E in EventName]: z.infer<(typeof apiEvents)[E]> };
export type ApiEvent = { [E in EventName]: { name: E; payload: EphemeraEvents[E] } }[EventName];

export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && Object.hasOwn(apiEvents, name);
}

/** What a method's promise resolves to: nothing for the methods whose result is NoResult. */
type Returned<M extends MethodName> = Promise<ResultOf<M> extends undefined ? void : ResultOf<M>>;

/**
 * What the renderer calls and what main/messenger.ts implements: one method per entry of
 * apiMethods, taking its params (none for NoParams) and resolving to its result, so a method is
 * added in the table alone. Every method may reject with an error carrying an ApiErrorCode
 * (ApiError on the renderer side).
 */
export type EphemeraApi = {
  [M in MethodName]: undefined extends ParamsOf<M> ? () => Returned<M> : (params: ParamsOf<M>) => Returned<M>;
};

/** The service behind IPC and the web socket: the API plus a feed of events. */
export interface EphemeraService extends EphemeraApi {
  /** Calls `listener` for every event until the returned function is called. */
  subscribe(listener: (event: ApiEvent) => void): () => void;
}
