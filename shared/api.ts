// The renderer <-> main contract. Every method and event the UI uses is listed here with a zod
// schema for its arguments, its result and its event payload. Both ends of every boundary
// (Electron IPC via main/app, the browser host's WebSocket via main/web) parse with these
// schemas, so a compromised or buggy peer cannot push unexpected shapes across.
//
// Rules that keep secrets out of the renderer:
// - Objects are strict: a service that adds an unexpected field (say `key`) to a result or event
//   fails validation on the main side and nothing is sent.
// - The connection state names the temp key's phase and expiry, never the key or its id.
// - The recovery phrase crosses exactly once, as the result of `createVault`, to be shown.
//
// Imports only zod, shared/protocol/schema.ts and shared/errors.ts: shared/ must not depend on other top folders.
import { z } from 'zod';
import { HANDLE_RE } from './protocol/schema.ts';
import { CodedError } from './errors.ts';

// ---------------------------------------------------------------------------------------------
// Scalars

/** Opaque identifiers chosen by main (contacts, conversations, messages). */
export const Id = z.string().min(1).max(128).regex(/^[A-Za-z0-9_.:-]+$/, 'must be an opaque id');
/** Milliseconds since the Unix epoch, on this device's clock. */
export const Timestamp = z.number().int().nonnegative();
/** A user handle on the relay: the relay's own rule (shared/protocol/schema.ts), so the UI can say
 * what is wrong before any round trip. */
export const HANDLE_PATTERN = HANDLE_RE;
export const Handle = z.string().regex(HANDLE_PATTERN, 'must be 3-32 lowercase letters, digits or underscores');
export const Password = z.string().min(1).max(1024);
/** 24 BIP39 words separated by single spaces (main normalises case and spacing before checking). */
export const RecoveryPhrase = z.string().min(1).max(1024);
/** A server descriptor as text (the JSON the relay prints); main parses and pins it. */
export const ServerDescriptorText = z.string().min(2).max(16 * 1024);
/**
 * A backup file. From the renderer it is never taken as it is: in the Electron app it must be a
 * path that main's native file dialog returned (backupChooseFile); in browser mode it is a file
 * name in the web host's backups folder (main/backup-files.ts). Anything else is PATH_NOT_ALLOWED.
 */
export const FilePath = z.string().min(1).max(4096);
/** What a chosen file is for: export writes it; import and open read it; identity is an age identity file. */
export const BackupFilePurpose = z.enum(['export', 'import', 'open', 'identity']);
/** Chosen by the renderer so progress events can be matched before the call returns. */
export const JobId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'must be 8-64 URL-safe characters');
/**
 * The one limit on a message's text, in UTF-16 code units (JavaScript string length), for every
 * path into the vault: sending, receiving (main/e2e/content.ts), backup import and the vault
 * itself; history pages can therefore never hold a text this contract would reject.
 */
export const MAX_TEXT_CHARS = 32 * 1024;
export const MessageText = z.string().min(1).max(MAX_TEXT_CHARS);
export const Count = z.number().int().nonnegative();

// ---------------------------------------------------------------------------------------------
// Records shown by the UI

export const VaultState = z.enum(['none', 'locked', 'unlocked']);
export const Theme = z.enum(['system', 'light', 'dark']);
/**
 * What a new-message notification shows: sender and text, the sender only (default), or no
 * notification at all. While the vault is locked it never says more than "New message".
 */
export const NotificationPrivacy = z.enum(['full', 'sender', 'none']);
/** A local name for a contact, never sent anywhere; empty clears it (the handle is shown). */
export const MAX_NICKNAME_CHARS = 64;
export const Nickname = z.string().max(MAX_NICKNAME_CHARS);

export const Account = z.strictObject({
  handle: Handle,
  relayUrl: z.string().max(2048),
});

export const VaultStatus = z.strictObject({
  /** none: no vault in the profile yet; locked: exists, keys not in memory. */
  vault: VaultState,
  /** False until the user has typed the recovery phrase back once (confirmRecoveryPhrase). */
  recoveryConfirmed: z.boolean(),
  /** Known only while unlocked; null before registration. */
  account: Account.nullable(),
});

export const Settings = z.strictObject({
  /** URL of the configured relay (from its descriptor), or null when none is configured. */
  relayUrl: z.string().max(2048).nullable(),
  /** 0 = never. */
  autoLockMinutes: z.number().int().min(0).max(24 * 60),
  theme: Theme,
  notifications: NotificationPrivacy,
});

export const MessageDirection = z.enum(['in', 'out']);
/** queued = in the outbox, not yet accepted by the relay. */
export const MessageState = z.enum(['queued', 'sent', 'delivered', 'read', 'received', 'failed']);

export const Message = z.strictObject({
  id: Id,
  conversationId: Id,
  /** Strictly increasing within a conversation, in storage order. */
  orderKey: z.number().int(),
  direction: MessageDirection,
  /** Contact id of the author, or 'self'. */
  sender: Id,
  sentAt: Timestamp,
  receivedAt: Timestamp,
  text: z.string().max(MAX_TEXT_CHARS),
  state: MessageState,
  /** The message this one replies to, with the start of its text (null if no longer stored). */
  replyTo: z
    .strictObject({ id: Id, direction: MessageDirection, text: z.string().max(200) })
    .nullable()
    .optional(),
});

export const Contact = z.strictObject({
  id: Id,
  handle: Handle,
  displayName: z.string().max(256),
  conversationId: Id,
  verified: z.boolean(),
  /** The contact's identity key changed and the user has not accepted it: sending is held. */
  identityChanged: z.boolean(),
  createdAt: Timestamp,
});

/** When a message reached each state, on this device's clock (null: not yet, or not recorded). */
export const MessageDetails = z.strictObject({
  id: Id,
  direction: MessageDirection,
  state: MessageState,
  sentAt: Timestamp,
  receivedAt: Timestamp,
  deliveredAt: Timestamp.nullable(),
  readAt: Timestamp.nullable(),
});

export const MessagePreview = z.strictObject({
  /** At most 200 characters of the newest message. */
  text: z.string().max(200),
  direction: MessageDirection,
  sentAt: Timestamp,
  state: MessageState,
});

export const ConversationSummary = z.strictObject({
  id: Id,
  contactId: Id,
  title: z.string().max(256),
  lastActivity: Timestamp,
  unread: Count,
  lastMessage: MessagePreview.nullable(),
  verified: z.boolean(),
  identityChanged: z.boolean(),
  /**
   * True when a backup not signed by this profile (imported on the user's confirmation) created
   * this conversation or added messages to it: some of its history may have been written by
   * someone else. Absent otherwise.
   */
  importedUnverified: z.literal(true).optional(),
});

export const SafetyNumber = z.strictObject({
  contactId: Id,
  handle: Handle,
  /** 60 decimal digits, shown in 12 groups of 5 (libsignal Fingerprint displayable form). */
  digits: z.string().regex(/^\d{60}$/),
  verified: z.boolean(),
  identityChanged: z.boolean(),
});

export const HistoryAnchor = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('newest') }),
  z.strictObject({ kind: z.literal('before'), messageId: Id }),
  z.strictObject({ kind: z.literal('after'), messageId: Id }),
  /** The message plus about limit/2 on each side (search results jump here). */
  z.strictObject({ kind: z.literal('around'), messageId: Id }),
]);

export const HistoryPage = z.strictObject({
  /** Ascending by orderKey. */
  messages: z.array(Message).max(500),
  hasOlder: z.boolean(),
  hasNewer: z.boolean(),
});

export const SnippetPart = z.strictObject({ text: z.string().max(1000), match: z.boolean() });

export const SearchHit = z.strictObject({
  messageId: Id,
  conversationId: Id,
  conversationTitle: z.string().max(256),
  direction: MessageDirection,
  sentAt: Timestamp,
  /** The snippet as parts so the UI marks matches without HTML. */
  snippet: z.array(SnippetPart).max(64),
});

export const SearchResult = z.strictObject({
  hits: z.array(SearchHit).max(200),
  /** True when more hits exist than `limit`. */
  truncated: z.boolean(),
});

/** Read-only view of an opened backup; passed as `backupId` to list/history/search. */
export const BackupId = Id;

export const BackupProtection = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('passphrase'), passphrase: Password }),
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
  /** null while the total is unknown. */
  total: Count.nullable(),
  unit: z.literal('messages'),
});

export const ExportSummary = z.strictObject({ path: FilePath, messages: Count, bytes: Count });
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
  /** 40 hex digits in groups of 8 (SHA-256 of the signer's identity key); null when unsigned. */
  signerFingerprint: z.string().max(64).nullable(),
});
export const OpenedBackup = z.strictObject({
  backupId: BackupId,
  createdAt: Timestamp,
  contacts: Count,
  conversations: Count,
  messages: Count,
});

/** The states of the relay connection as the user sees them (DESIGN.md, Transport). */
export const ConnectionPhase = z.enum(['offline', 'connecting', 'handshaking', 'binding', 'ready', 'rebinding']);
export const ConnectionCause = z.enum([
  'locked',
  'not_registered',
  'network_error',
  /** The relay answered 404: it forgot our temp key (restart, expiry, eviction). */
  'relay_forgot_key',
  /**
   * The relay presented a TLS certificate that does not match the descriptor's pin, or signed
   * the handshake with a key other than the descriptor's identity key: someone may be in the
   * middle. The client keeps retrying; this stays the cause until a connection becomes ready.
   */
  'relay_identity_mismatch',
]);

export const ConnectionState = z.strictObject({
  phase: ConnectionPhase,
  /** Why we are not (or no longer) ready; null when nothing went wrong. */
  cause: ConnectionCause.nullable(),
  relayUrl: z.string().max(2048).nullable(),
  /** When the current temp key expires, converted to this device's clock. Never the key itself. */
  tempKeyExpiresAt: Timestamp.nullable(),
  /** Messages waiting in the outbox. */
  outboxSize: Count,
  /** When this phase began. */
  since: Timestamp,
});

export const MessageStateChange = z.strictObject({ id: Id, conversationId: Id, state: MessageState });
/** "Delete for me" done: these messages (or, `all`, every message of the conversation) are gone. */
export const MessagesDeleted = z.strictObject({ conversationId: Id, messageIds: z.array(Id).max(1000), all: z.boolean() });
export type MessagesDeleted = z.infer<typeof MessagesDeleted>;
/** How many messages a delete removed. */
export const DeleteResult = z.strictObject({ deleted: z.number().int().min(0) });

// ---------------------------------------------------------------------------------------------
// Errors: typed values with a sentence a person can read.

export const ApiErrorCode = z.enum([
  // vault (mirrors main/vault/errors.ts)
  'WRONG_PASSWORD',
  'WRONG_RECOVERY_PHRASE',
  'VAULT_LOCKED',
  'VAULT_EXISTS',
  'NO_VAULT',
  'VAULT_CORRUPT',
  'PROFILE_LOCKED',
  'UNSUPPORTED_VERSION',
  'BAD_PARAMETERS',
  'WEAK_PASSWORD',
  // account and contacts
  'NOT_REGISTERED',
  'ALREADY_REGISTERED',
  'HANDLE_TAKEN',
  'UNKNOWN_HANDLE',
  'UNKNOWN_CONTACT',
  'UNKNOWN_CONVERSATION',
  'UNKNOWN_MESSAGE',
  'IDENTITY_CHANGED',
  // relay
  'BAD_DESCRIPTOR',
  'RELAY_UNREACHABLE',
  'RELAY_REJECTED',
  // backup
  'BACKUP_WRONG_KEY',
  'BACKUP_CORRUPT',
  'BACKUP_UNSUPPORTED',
  /** Not signed by this profile's identity: ask the user, then call backupImport again with trustUnsigned. */
  'BACKUP_UNTRUSTED',
  'FILE_ERROR',
  'CANCELLED',
  'UNKNOWN_BACKUP',
  // boundary
  'INVALID_ARGUMENT',
  'UNKNOWN_METHOD',
  'PROTOCOL_ERROR',
  'DISCONNECTED',
  'FORBIDDEN',
  /** A backup path the host does not allow (not from the file dialog; outside the backups folder). */
  'PATH_NOT_ALLOWED',
  'BUSY',
  'NOT_AVAILABLE',
  'INTERNAL',
]);
export type ApiErrorCode = z.infer<typeof ApiErrorCode>;

export const ApiErrorValue = z.strictObject({ code: ApiErrorCode, message: z.string().min(1).max(1000) });
export type ApiErrorValue = z.infer<typeof ApiErrorValue>;

/** What a caller of EphemeraApi catches. */
export class ApiError extends CodedError<ApiErrorCode> {
  constructor(code: ApiErrorCode, message: string) {
    super(code, message);
    // One name for every API error (a RelayRefusal too): callers tell them apart by code.
    this.name = 'ApiError';
  }
  toValue(): ApiErrorValue {
    return { code: this.code, message: this.message };
  }
}

const INTERNAL_MESSAGE = 'Something went wrong inside Ephemera. Try again; if it persists, restart the app.';

/**
 * Maps anything thrown by the service to a value that may cross the boundary. Errors with a
 * known `code` (ApiError, VaultError, ...) keep their human message; anything else becomes
 * INTERNAL with a generic sentence, so stack traces and internals never reach the renderer.
 */
export function toApiErrorValue(error: unknown): ApiErrorValue {
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    const parsedCode = ApiErrorCode.safeParse(code);
    if (parsedCode.success && typeof message === 'string' && message.length > 0) {
      return { code: parsedCode.data, message: message.slice(0, 1000) };
    }
  }
  return { code: 'INTERNAL', message: INTERNAL_MESSAGE };
}

// ---------------------------------------------------------------------------------------------
// Methods

const NoParams = z.undefined();
const NoResult = z.undefined();
const BackupSource = { backupId: BackupId.optional() };

export const apiMethods = {
  // vault
  vaultStatus: { params: NoParams, result: VaultStatus },
  /** Creates the vault (unlocked) and returns the 24-word recovery phrase to show once. */
  createVault: { params: z.strictObject({ password: Password }), result: z.strictObject({ recoveryPhrase: RecoveryPhrase }) },
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

  // account
  /** Registers this device on a relay. Without a descriptor, the configured relay is used. */
  register: { params: z.strictObject({ handle: Handle, serverDescriptor: ServerDescriptorText.optional() }), result: VaultStatus },
  connectionState: { params: NoParams, result: ConnectionState },

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
  /** A conversation's unsent draft, sealed in the vault; '' when there is none. */
  getDraft: { params: z.strictObject({ conversationId: Id }), result: z.strictObject({ text: z.string().max(MAX_TEXT_CHARS) }) },
  /** Keeps (or with '' removes) a conversation's draft, sealed in the vault. */
  setDraft: { params: z.strictObject({ conversationId: Id, text: z.string().max(MAX_TEXT_CHARS) }), result: NoResult },
  /** Marks every incoming message up to and including `upToMessageId` as read. */
  markRead: { params: z.strictObject({ conversationId: Id, upToMessageId: Id }), result: NoResult },
  /**
   * "Delete for me": the message leaves every file of the profile (docs/vault.md "Deleting
   * messages"), search and the outbox; UNKNOWN_MESSAGE when the conversation has no such message.
   */
  deleteMessage: { params: z.strictObject({ conversationId: Id, messageId: Id }), result: DeleteResult },
  /** "Delete for me" of every message of the conversation and its draft; the conversation stays, empty. */
  deleteConversation: { params: z.strictObject({ conversationId: Id }), result: DeleteResult },

  // search
  search: {
    params: z.strictObject({
      query: z.string().min(1).max(500),
      conversationId: Id.optional(),
      from: Timestamp.optional(),
      to: Timestamp.optional(),
      order: z.enum(['newest', 'relevance']),
      limit: z.number().int().min(1).max(200),
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
    }),
    result: Settings,
  },

  // backup (progress arrives as `backupProgress` events carrying the caller's jobId)
  backupExport: {
    params: z.strictObject({ jobId: JobId, path: FilePath, protection: BackupProtection, includeIdentity: z.boolean() }),
    result: ExportSummary,
  },
  /**
   * Fails with BACKUP_UNTRUSTED (nothing changed) unless the backup is signed by this profile's
   * identity or `trustUnsigned` is true (the user confirmed the warning; no verified marks are kept).
   */
  backupImport: { params: z.strictObject({ jobId: JobId, path: FilePath, key: BackupKey, trustUnsigned: z.boolean().optional() }), result: ImportSummary },
  backupOpen: { params: z.strictObject({ jobId: JobId, path: FilePath, key: BackupKey }), result: OpenedBackup },
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
  /** A message was stored: received, or sent from this device. */
  message: Message,
  messageState: MessageStateChange,
  messagesDeleted: MessagesDeleted,
  /** A conversation's summary changed (new message, unread count). */
  conversation: ConversationSummary,
  /** A contact changed (verified, identity changed or accepted). */
  contact: Contact,
  backupProgress: BackupProgress,
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

// ---------------------------------------------------------------------------------------------
// Types for implementers and callers

export type VaultStatus = z.infer<typeof VaultStatus>;
export type Settings = z.infer<typeof Settings>;
export type Message = z.infer<typeof Message>;
export type MessageDetails = z.infer<typeof MessageDetails>;
export type MessageState = z.infer<typeof MessageState>;
export type Contact = z.infer<typeof Contact>;
export type ConversationSummary = z.infer<typeof ConversationSummary>;
export type SafetyNumber = z.infer<typeof SafetyNumber>;
export type HistoryAnchor = z.infer<typeof HistoryAnchor>;
export type HistoryPage = z.infer<typeof HistoryPage>;
export type SearchHit = z.infer<typeof SearchHit>;
export type SearchResult = z.infer<typeof SearchResult>;
export type ConnectionState = z.infer<typeof ConnectionState>;
export type ConnectionPhase = z.infer<typeof ConnectionPhase>;
export type BackupProgress = z.infer<typeof BackupProgress>;
export type BackupProtection = z.infer<typeof BackupProtection>;
export type BackupKey = z.infer<typeof BackupKey>;
export type BackupFilePurpose = z.infer<typeof BackupFilePurpose>;
export type ExportSummary = z.infer<typeof ExportSummary>;
export type ImportSummary = z.infer<typeof ImportSummary>;
export type OpenedBackup = z.infer<typeof OpenedBackup>;
export type Theme = z.infer<typeof Theme>;
export type NotificationPrivacy = z.infer<typeof NotificationPrivacy>;

/**
 * What the renderer calls and what main/messenger.ts implements. Every method may reject with
 * an error carrying an ApiErrorCode (ApiError on the renderer side).
 */
export interface EphemeraApi {
  vaultStatus(): Promise<VaultStatus>;
  createVault(params: ParamsOf<'createVault'>): Promise<ResultOf<'createVault'>>;
  confirmRecoveryPhrase(params: ParamsOf<'confirmRecoveryPhrase'>): Promise<ResultOf<'confirmRecoveryPhrase'>>;
  unlock(params: ParamsOf<'unlock'>): Promise<VaultStatus>;
  unlockWithRecovery(params: ParamsOf<'unlockWithRecovery'>): Promise<VaultStatus>;
  lock(): Promise<void>;
  changePassword(params: ParamsOf<'changePassword'>): Promise<void>;
  wipeProfile(params: ParamsOf<'wipeProfile'>): Promise<ResultOf<'wipeProfile'>>;
  register(params: ParamsOf<'register'>): Promise<VaultStatus>;
  connectionState(): Promise<ConnectionState>;
  contactsList(): Promise<Contact[]>;
  contactAdd(params: ParamsOf<'contactAdd'>): Promise<Contact>;
  safetyNumber(params: ParamsOf<'safetyNumber'>): Promise<SafetyNumber>;
  markVerified(params: ParamsOf<'markVerified'>): Promise<Contact>;
  acceptIdentity(params: ParamsOf<'acceptIdentity'>): Promise<Contact>;
  setNickname(params: ParamsOf<'setNickname'>): Promise<Contact>;
  conversationsList(params: ParamsOf<'conversationsList'>): Promise<ConversationSummary[]>;
  historyPage(params: ParamsOf<'historyPage'>): Promise<HistoryPage>;
  sendText(params: ParamsOf<'sendText'>): Promise<Message>;
  messageDetails(params: ParamsOf<'messageDetails'>): Promise<ResultOf<'messageDetails'>>;
  getDraft(params: ParamsOf<'getDraft'>): Promise<ResultOf<'getDraft'>>;
  setDraft(params: ParamsOf<'setDraft'>): Promise<void>;
  markRead(params: ParamsOf<'markRead'>): Promise<void>;
  deleteMessage(params: ParamsOf<'deleteMessage'>): Promise<ResultOf<'deleteMessage'>>;
  deleteConversation(params: ParamsOf<'deleteConversation'>): Promise<ResultOf<'deleteConversation'>>;
  search(params: ParamsOf<'search'>): Promise<SearchResult>;
  settingsGet(): Promise<Settings>;
  settingsUpdate(params: ParamsOf<'settingsUpdate'>): Promise<Settings>;
  backupExport(params: ParamsOf<'backupExport'>): Promise<ExportSummary>;
  backupImport(params: ParamsOf<'backupImport'>): Promise<ImportSummary>;
  backupOpen(params: ParamsOf<'backupOpen'>): Promise<OpenedBackup>;
  backupChooseFile(params: ParamsOf<'backupChooseFile'>): Promise<ResultOf<'backupChooseFile'>>;
  backupClose(params: ParamsOf<'backupClose'>): Promise<void>;
  backupCancel(params: ParamsOf<'backupCancel'>): Promise<ResultOf<'backupCancel'>>;
}

/** The service behind IPC and the web socket: the API plus a feed of events. */
export interface EphemeraService extends EphemeraApi {
  /** Calls `listener` for every event until the returned function is called. */
  subscribe(listener: (event: ApiEvent) => void): () => void;
}

// Compile-time proof that the interface and the schema table describe the same methods.
type Returned<M extends MethodName> = Promise<ResultOf<M> extends undefined ? void : ResultOf<M>>;
type DerivedApi = {
  [M in MethodName]: undefined extends ParamsOf<M> ? () => Returned<M> : (params: ParamsOf<M>) => Returned<M>;
};
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const interfaceMatchesSchemas: Same<keyof EphemeraApi, keyof DerivedApi> = true;
const interfaceAssignable: Same<EphemeraApi, DerivedApi> = true;
void interfaceMatchesSchemas;
void interfaceAssignable;
