// The one service object behind the UI and the CLI: implements shared/api.ts (methods and
// events) by composing the vault (history at rest), main/net (relay connection, sealed outbox),
// main/e2e (Signal sessions) and main/search. It holds no secret of its own: keys live in the
// parts, which drop them on lock. See docs/messaging.md.
import PQueue from 'p-queue';
import {
  ApiError,
  type ApiEvent,
  type Contact,
  type ConnectionState,
  type ConversationSummary,
  type EphemeraService,
  type HistoryPage,
  type Message,
  type ParamsOf,
  type ResultOf,
  type Attachment,
  type SafetyNumber,
  type SearchResult,
  type Settings,
  type VaultStatus,
} from '../shared/api.ts';
import type { MessageState, StoredMessage } from './vault/api.ts';
import { Vault, type KdfParams } from './vault/index.ts';
import { pinProfileFiles, verifyPassword, wipeProfile as wipeClosedProfile, wipeVerifiedProfile } from './vault/wipe.ts';
import { Account } from './messenger/account.ts';
import { AutoLock } from './messenger/auto-lock.ts';
import { BackupJobs } from './messenger/backups.ts';
import { ConversationCounters } from './messenger/counters.ts';
import { Listeners } from './messenger/events.ts';
import {
  historyPage,
  messageDetails,
  readDraft,
  viewWithQuote,
  writeDraft,
} from './messenger/conversations.ts';
import { contactView, reconcileIdentityKeys } from './messenger/contacts.ts';
import { Deleter } from './messenger/deleting.ts';
import { SearchCatchUp, searchHistory } from './messenger/searching.ts';
import { refuseWeakSecret, toServiceError } from './messenger/errors.ts';
import type { RefusalContext } from './messenger/refusals.ts';
import { advanceState, markReadUpTo, ReceiptSender } from './messenger/receipts.ts';
import { contactIdOfConversation, withIdKey } from './messenger/ids.ts';
import { readSettings, settingsView, updatePreferences, writeSettings } from './messenger/settings.ts';
import { Receiver } from './messenger/receiving.ts';
import { Sender } from './messenger/sending.ts';
import { waitIdle } from './messenger/sync.ts';
import { GroupService } from './messenger/groups.ts';
import { DisappearingTimers, type Expiring } from './messenger/expiry.ts';
import { openSession } from './messenger/lifecycle.ts';
import { attachmentsOf, cancelTransfer, saveAttachment, uploadAttachment } from './messenger/attachments.ts';
import { AttachmentUi } from './messenger/attachment-ui.ts';
import { lockVault, UnlockedSession, type Registration, type SessionAccess } from './messenger/session.ts';
import { nicknameProblem, Trust } from './messenger/trust.ts';

export interface MessengerOptions {
  profileDir: string;
  /** A relay descriptor file to use when `register` is called without one. */
  serverDescriptorPath?: string;
  /** Argon2id parameters for createVault (tests pass TEST_KDF). */
  kdf?: KdfParams;
  /** How long calls that need the relay wait for a connection before RELAY_UNREACHABLE (default 15 s). */
  relayTimeoutMs?: number;
  /** Accept passwords and backup passphrases the strength policy calls weak (tests only). */
  allowWeakSecrets?: boolean;
  /**
   * For one-shot commands (the CLI's vault, search and backup commands): unlocking neither
   * connects to the relay nor resumes queued sends, so nothing arrives or leaves.
   */
  offline?: boolean;
}

export async function openMessenger(opts: MessengerOptions): Promise<Messenger> {
  return new Messenger(opts);
}

const DEFAULT_RELAY_TIMEOUT_MS = 15_000;

export class Messenger implements EphemeraService {
  readonly profileDir: string;
  private readonly opts: MessengerOptions;
  /** Everything that exists only while unlocked (vault, search, registration, connection). */
  private session: UnlockedSession | undefined;
  private readonly events = new Listeners();
  private readonly emit = this.events.emit;
  /** Lifecycle changes (create, unlock, lock, register) run one at a time. */
  private readonly lifecycle = new PQueue({ concurrency: 1 });
  private readonly autoLock = new AutoLock(() => this.serial(() => this.lockNow()));
  private readonly counters = new ConversationCounters(() => this.requireSession().vault, this.emit);
  private readonly access: SessionAccess = {
    require: () => this.requireSession(),
    current: () => this.session,
    registration: () => this.requireRegistration(),
    activity: (fn) => this.asActivity(fn),
  };
  private readonly receipts = new ReceiptSender(this.access, (fn) => this.sender.enqueue(fn));
  private readonly searchCatchUp = new SearchCatchUp(() => this.session);
  private readonly trust = new Trust({
    access: this.access,
    emit: this.emit,
    announce: (conversationId) => this.counters.announce(conversationId),
    readyConnection: () => this.account.readyConnection(),
    releaseHeld: (e2e, handle) => this.receiver.releaseHeld(e2e, handle),
  });
  /** Disappearing-message timers (messenger/expiry.ts), from unlock to lock. */
  private timers: DisappearingTimers | undefined;
  private closed = false;
  /** Registration, the relay descriptor, the connection's opening and prekey upkeep. */
  private readonly account: Account;
  /** Decrypt, store, acknowledge, announce (messenger/receiving.ts). */
  private readonly receiver: Receiver;
  /** The send queue, texts, durable outcomes, resume at unlock (messenger/sending.ts). */
  private readonly sender: Sender;
  /** Delete for me and for everyone (messenger/deleting.ts). */
  private readonly deleter: Deleter;
  private readonly backups = new BackupJobs((p) => this.emit('backupProgress', p));
  private readonly attachmentUi = new AttachmentUi({
    vault: () => this.requireSession().vault,
    relay: () => this.session?.connection?.client,
    handleOf: (conversationId) => {
      const contactId = contactIdOfConversation(conversationId);
      const contact = contactId ? this.requireSession().vault.getContact(contactId) : undefined;
      if (!contact) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
      return contact.handle;
    },
    announce: (conversationId, up, caption) => this.sender.sendUploaded(conversationId, up, caption),
    progress: (jobId, done, total) => this.emit('attachmentProgress', { jobId, done, total }),
  });
  /** Group chats (messenger/groups.ts), on this messenger's unlocked parts and gates. */
  private readonly groups = new GroupService({
    vault: () => this.requireSession().vault,
    e2e: () => this.requireRegistration().e2e,
    self: () => this.requireRegistration().account.handle,
    connection: () => this.account.readyConnection(),
    link: () => this.session?.connection,
    activity: (fn) => this.asActivity(fn),
    withIdKey: (fn) => this.withIdKey(fn),
    changed: (info) => this.emit('group', info),
    stored: () => {
      try {
        this.session?.search.catchUp();
      } catch {
        // The next search catches up.
      }
    },
  });

  constructor(opts: MessengerOptions) {
    this.opts = opts;
    this.profileDir = opts.profileDir;
    this.account = new Account(
      { serverDescriptorPath: opts.serverDescriptorPath, relayTimeoutMs: opts.relayTimeoutMs ?? DEFAULT_RELAY_TIMEOUT_MS },
      this.access,
      this.emit,
      { onDurable: (o) => this.sender.onDurable(o), onEnvelope: (env) => this.receiver.onEnvelope(env) },
    );
    // What receiving and sending both use.
    const parts = {
      access: this.access,
      emit: this.emit,
      trust: this.trust,
      groups: this.groups,
      touchConversation: (conversationId: string, at: number, unreadDelta: number) => this.counters.touch(conversationId, at, unreadDelta),
      setState: (messageId: string, state: MessageState) => this.setState(messageId, state),
      viewOf: (m: StoredMessage) => this.viewOf(m),
      scheduleSearchCatchUp: () => this.searchCatchUp.schedule(),
    };
    this.receiver = new Receiver({ ...parts, receipts: this.receipts, afterTombstones: (conversationId, changed) => this.deleter.afterTombstones(conversationId, changed) });
    this.sender = new Sender({ ...parts, timers: () => this.timers });
    this.deleter = new Deleter({ access: this.access, emit: this.emit, counters: this.counters, sender: this.sender, viewOf: (m) => this.viewOf(m) });
  }

  // ------------------------------------------------------------------ events

  subscribe(listener: (event: ApiEvent) => void): () => void {
    return this.events.subscribe(listener);
  }

  /**
   * Runs an API method: maps errors to ApiError codes and resets the auto-lock timer. `about`
   * names the handle a relay refusal concerns, for its sentence.
   */
  private async api<T>(fn: () => Promise<T> | T, about?: RefusalContext): Promise<T> {
    if (this.closed) throw new ApiError('DISCONNECTED', 'The messenger was closed.');
    this.touch();
    try {
      return await fn();
    } catch (e) {
      throw toServiceError(e, about);
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.lifecycle.add(fn);
  }

  // ------------------------------------------------------------------ vault lifecycle

  vaultStatus(): Promise<VaultStatus> {
    return this.api(() => this.status());
  }

  private status(): VaultStatus {
    const unlocked = this.session?.vault.isUnlocked === true;
    const account = this.session?.registration?.account;
    return {
      // A vault.db whose header was lost is a locked vault: the phrase opens it (recovery-copy.ts).
      vault: unlocked ? 'unlocked' : Vault.exists(this.profileDir) || Vault.headerMissing(this.profileDir) ? 'locked' : 'none',
      recoveryConfirmed: readSettings(this.profileDir).recoveryConfirmed,
      account: unlocked && account ? { handle: account.handle, relayUrl: account.descriptor.url } : null,
    };
  }

  createVault(params: ParamsOf<'createVault'>): Promise<ResultOf<'createVault'>> {
    return this.api(() =>
      this.serial(async () => {
        if (this.session?.vault.isUnlocked) throw new ApiError('VAULT_EXISTS', 'A vault is already open in this profile.');
        refuseWeakSecret(params.password, 'password', this.opts.allowWeakSecrets === true);
        const { vault, recoveryPhrase, setAside } = await Vault.create(this.profileDir, params.password, this.opts.kdf ? { kdf: this.opts.kdf } : undefined);
        writeSettings(this.profileDir, { ...readSettings(this.profileDir), recoveryConfirmed: false });
        await this.afterUnlock(vault);
        return { recoveryPhrase, ...(setAside === undefined ? {} : { setAside }) };
      }),
    );
  }

  confirmRecoveryPhrase(params: ParamsOf<'confirmRecoveryPhrase'>): Promise<ResultOf<'confirmRecoveryPhrase'>> {
    return this.api(() => {
      // Checked against the vault's recovery wrap, so the phrase need not stay in memory and the
      // check works in any later session too.
      const confirmed = this.requireSession().vault.checkRecoveryPhrase(params.recoveryPhrase);
      if (confirmed) {
        writeSettings(this.profileDir, { ...readSettings(this.profileDir), recoveryConfirmed: true });
        this.emit('vault', this.status());
      }
      return { confirmed };
    });
  }

  unlock(params: ParamsOf<'unlock'>): Promise<VaultStatus> {
    return this.api(() =>
      this.serial(async () => {
        if (!this.session?.vault.isUnlocked) await this.afterUnlock(await Vault.unlock(this.profileDir, params.password));
        return this.status();
      }),
    );
  }

  unlockWithRecovery(params: ParamsOf<'unlockWithRecovery'>): Promise<VaultStatus> {
    return this.api(() =>
      this.serial(async () => {
        if (this.session?.vault.isUnlocked) throw new ApiError('VAULT_EXISTS', 'The vault is already unlocked.');
        refuseWeakSecret(params.newPassword, 'password', this.opts.allowWeakSecrets === true);
        const vault = await Vault.unlockWithRecovery(this.profileDir, params.recoveryPhrase, params.newPassword);
        writeSettings(this.profileDir, { ...readSettings(this.profileDir), recoveryConfirmed: true });
        await this.afterUnlock(vault);
        return this.status();
      }),
    );
  }

  lock(): Promise<void> {
    return this.api(() => this.serial(() => this.lockNow()));
  }

  changePassword(params: ParamsOf<'changePassword'>): Promise<void> {
    return this.api(async () => {
      const vault = this.requireSession().vault;
      refuseWeakSecret(params.newPassword, 'password', this.opts.allowWeakSecrets === true);
      await vault.changePassword(params.oldPassword, params.newPassword);
    });
  }

  wipeProfile(params: ParamsOf<'wipeProfile'>): Promise<ResultOf<'wipeProfile'>> {
    return this.api(() =>
      this.serial(async () => {
        if (!this.session?.vault.isUnlocked) {
          // Not open here: the profile lock first (a profile open in another process is refused
          // before any password check), held through the check and the wipe.
          const summary = await wipeClosedProfile(this.profileDir, params.password);
          this.emit('vault', this.status());
          return summary;
        }
        // Open here (this process holds the lock). Checked before anything closes: a wrong
        // password leaves the app as it was.
        await verifyPassword(this.profileDir, params.password);
        // Pinned first: closing deletes the WAL and replaces the search snapshot (wipe.ts).
        const pins = pinProfileFiles(this.profileDir);
        let summary: ResultOf<'wipeProfile'>;
        try {
          // Closes the connection, search (its snapshot is written now, then wiped) and the vault.
          await this.lockNow();
          summary = wipeVerifiedProfile(this.profileDir);
        } catch (e) {
          pins.release();
          throw e;
        }
        this.emit('vault', this.status());
        return summary;
      }),
    );
  }

  /** Locks and releases the profile; the object is unusable afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.serial(() => this.lockNow());
    this.closed = true;
    this.events.clear();
  }

  private async afterUnlock(vault: Vault): Promise<void> {
    let session: UnlockedSession;
    let counting: Expiring[];
    try {
      ({ session, counting } = await openSession(vault));
    } catch (e) {
      await this.lockNow();
      if (await lockVault(vault)) {
        this.emit('vault', this.status());
        this.emit('connection', this.account.offlineState());
      }
      throw e;
    }
    this.session = session;
    this.timers = new DisappearingTimers(vault, counting, {
      deleteExpired: (conversationId, messages) => void this.deleter.forMe(conversationId, messages, false),
      activity: (fn) => this.asActivity(fn),
      announce: (m) => this.emit('message', this.viewOf(m)),
    });
    this.emit('vault', this.status());
    this.emit('settings', this.settings());
    if (session.registration && this.opts.offline !== true) {
      await this.account.connect(session.registration.account.descriptor);
      void this.sender.enqueue(() => this.asActivity(() => this.sender.resumeQueued())).catch(() => undefined);
    } else this.emit('connection', this.account.offlineState());
  }

  /** Runs fn with the account's id key (a sealed vault secret, made on first use), then zeroes it. */
  private withIdKey<T>(fn: (idKey: Uint8Array) => T): T {
    return withIdKey(this.requireSession().vault, fn);
  }

  private async lockNow(): Promise<void> {
    this.timers?.stop();
    this.timers = undefined;
    // Opened backups are decrypted history in RAM: locking drops them too.
    this.backups.closeAll();
    if (this.session) this.attachmentUi.dropAll(this.session.vault);
    this.receipts.stop();
    this.searchCatchUp.stop();
    this.autoLock.stop();
    this.account.stop();
    this.counters.stopTimer();
    const session = this.session;
    await session?.stopConnection();
    await this.sender.idle();
    this.counters.drain(session?.vault.isUnlocked === true);
    this.session = undefined;
    // Search snapshot, vault lock (keys zeroed), then garbage collection (session.ts).
    const wasUnlocked = session ? await session.close() : false;
    if (wasUnlocked) {
      this.emit('vault', this.status());
      this.emit('connection', this.account.offlineState());
    }
  }

  private touch(): void {
    this.autoLock.restart(readSettings(this.profileDir).autoLockMinutes, this.session?.vault.isUnlocked === true);
  }

  // ------------------------------------------------------------------ account and connection

  register(params: ParamsOf<'register'>): Promise<VaultStatus> {
    return this.api(() =>
      this.serial(async () => {
        if (await this.account.register(params.handle, params.serverDescriptor)) {
          this.emit('vault', this.status());
          this.emit('settings', this.settings());
          void this.account.upkeep();
        }
        return this.status();
      }),
      { handle: params.handle },
    );
  }

  connectionState(): Promise<ConnectionState> {
    return this.api(() => this.session?.connection?.state() ?? this.account.offlineState());
  }

  // ------------------------------------------------------------------ contacts

  contactsList(): Promise<Contact[]> {
    return this.api(() => this.requireSession().vault.listContacts().map(contactView));
  }

  contactAdd(params: ParamsOf<'contactAdd'>): Promise<Contact> {
    return this.api(async () => {
      return this.trust.add(params.handle);
    }, { handle: params.handle });
  }

  /** Identity keys as the identity store trusts them (messenger/contacts.ts); no-op when locked or unregistered. */
  private reconcileIdentityKeys(): void {
    const session = this.session;
    const e2e = session?.registration?.e2e;
    if (!e2e || !session.vault.isUnlocked) return;
    reconcileIdentityKeys(session.vault, e2e);
  }

  safetyNumber(params: ParamsOf<'safetyNumber'>): Promise<SafetyNumber> {
    return this.api(() => this.trust.safetyNumber(params.contactId));
  }

  markVerified(params: ParamsOf<'markVerified'>): Promise<Contact> {
    return this.api(() => this.trust.markVerified(params.contactId, params.verified));
  }

  acceptIdentity(params: ParamsOf<'acceptIdentity'>): Promise<Contact> {
    return this.api(() => this.trust.acceptIdentity(params.contactId, params.safetyNumber));
  }

  setNickname(params: ParamsOf<'setNickname'>): Promise<Contact> {
    const refused = nicknameProblem(params.nickname);
    if (refused) return Promise.reject(refused);
    return this.api(() => this.trust.setNickname(params.contactId, params.nickname));
  }

  // ------------------------------------------------------------------ conversations and history

  /** The message as the UI sees it, with the quote it replies to. */
  private viewOf(m: StoredMessage): Message {
    return viewWithQuote(this.requireSession().vault, m);
  }

  messageDetails(params: ParamsOf<'messageDetails'>): Promise<ResultOf<'messageDetails'>> {
    return this.api(() => messageDetails(this.requireSession().vault, params.messageId));
  }

  getDraft(params: ParamsOf<'getDraft'>): Promise<ResultOf<'getDraft'>> {
    return this.api(() => readDraft(this.requireSession().vault, params.conversationId));
  }

  setDraft(params: ParamsOf<'setDraft'>): Promise<void> {
    return this.api(() => this.asActivity(async () => writeDraft(this.requireSession().vault, params.conversationId, params.text)));
  }

  conversationsList(params: ParamsOf<'conversationsList'>): Promise<ConversationSummary[]> {
    return this.api(() => {
      if (params.backupId !== undefined) return this.backups.conversations(params.backupId);
      const vault = this.requireSession().vault;
      return vault.listConversations().map((c) => this.counters.summary(c.id)).filter((s): s is ConversationSummary => s !== undefined);
    });
  }

  historyPage(params: ParamsOf<'historyPage'>): Promise<HistoryPage> {
    return this.api(() => {
      if (params.backupId !== undefined) return this.backups.history(params.backupId, params.conversationId, params.anchor, params.limit);
      const page = historyPage(this.requireSession().vault, params.conversationId, params.anchor, params.limit);
      return this.timers ? this.timers.shown(page, params.anchor) : page;
    });
  }

  sendText(params: ParamsOf<'sendText'>): Promise<Message> {
    return this.api(async () => this.sender.sendText(params.conversationId, params.text, params.replyTo));
  }

  sendFile(params: ParamsOf<'sendFile'>): Promise<Message> {
    return this.api(async () => {
      this.requireRegistration();
      const contactId = contactIdOfConversation(params.conversationId);
      const contact = contactId ? this.requireSession().vault.getContact(contactId) : undefined;
      if (!contact) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
      const conn = this.session?.connection;
      if (!conn) throw new ApiError('NOT_REGISTERED', 'Not connected to a relay.');
      const { jobId } = params;
      const onProgress = jobId === undefined ? undefined : (done: number, total: number): void => this.emit('attachmentProgress', { jobId, done, total });
      // The upload (main/messenger/attachments.ts) runs before the send queue: it may take long.
      const up = await uploadAttachment(conn.client, params.path, contact.handle, params.name, { ...(onProgress ? { onProgress } : {}), ...(jobId !== undefined ? { jobId } : {}) });
      return this.sender.sendUploaded(params.conversationId, up, params.caption);
    });
  }

  attachmentLimits(): Promise<ResultOf<'attachmentLimits'>> {
    return this.api(() => this.attachmentUi.limits());
  }

  attachmentUploadBegin(params: ParamsOf<'attachmentUploadBegin'>): Promise<ResultOf<'attachmentUploadBegin'>> {
    return this.api(() => this.attachmentUi.begin(params));
  }

  attachmentUploadChunk(params: ParamsOf<'attachmentUploadChunk'>): Promise<ResultOf<'attachmentUploadChunk'>> {
    return this.api(() => this.asActivity(async () => this.attachmentUi.chunk(params)));
  }

  attachmentUploadCommit(params: ParamsOf<'attachmentUploadCommit'>): Promise<Message> {
    return this.api(() => this.attachmentUi.commit(params));
  }

  attachmentUploadCancel(params: ParamsOf<'attachmentUploadCancel'>): Promise<ResultOf<'attachmentUploadCancel'>> {
    return this.api(() => this.attachmentUi.cancel(params));
  }

  attachmentDownload(params: ParamsOf<'attachmentDownload'>): Promise<Attachment> {
    return this.api(() => this.asActivity(() => this.attachmentUi.download(params)));
  }

  attachmentRead(params: ParamsOf<'attachmentRead'>): Promise<ResultOf<'attachmentRead'>> {
    return this.api(() => this.asActivity(() => this.attachmentUi.read(params)));
  }

  attachmentsOf(params: ParamsOf<'attachmentsOf'>): Promise<Attachment[]> {
    return this.api(() => attachmentsOf(this.requireSession().vault, params.messageIds));
  }

  saveAttachment(params: ParamsOf<'saveAttachment'>): Promise<ResultOf<'saveAttachment'>> {
    return this.api(async () => {
      const { jobId } = params;
      const onProgress = jobId === undefined ? undefined : (done: number, total: number): void => this.emit('attachmentProgress', { jobId, done, total });
      return this.asActivity(() => saveAttachment(this.requireSession().vault, this.session?.connection?.client, params.attachmentId, params.path, { ...(onProgress ? { onProgress } : {}), ...(jobId !== undefined ? { jobId } : {}) }));
    });
  }

  attachmentCancel(params: ParamsOf<'attachmentCancel'>): Promise<ResultOf<'attachmentCancel'>> {
    return this.api(() => ({ cancelled: cancelTransfer(params.jobId) }));
  }

  /** Moves a message's state forward only (messenger/receipts.ts); a read one starts its disappearing timer. */
  private setState(messageId: string, state: MessageState): StoredMessage | undefined {
    return advanceState(this.requireSession().vault, this.emit, messageId, state, (m) => this.timers?.shownRead(m));
  }

  markRead(params: ParamsOf<'markRead'>): Promise<void> {
    return this.api(() => this.asActivity(async () => {
      const vault = this.requireSession().vault;
      this.counters.flush();
      const { conv, newlyRead } = markReadUpTo(vault, params.conversationId, params.upToMessageId, (id) => this.setState(id, 'read') !== undefined);
      this.counters.announce(conv.id);
      const contact = vault.getContact(conv.contactId);
      if (contact && newlyRead.length > 0 && this.session?.registration) this.receipts.sendRead(contact.handle, newlyRead);
    }));
  }

  // ------------------------------------------------------------------ delete for me

  deleteMessage(params: ParamsOf<'deleteMessage'>): Promise<ResultOf<'deleteMessage'>> {
    if (params.forEveryone === true) return this.api(() => this.deleter.forEveryone(params.conversationId, params.messageId));
    return this.api(() => this.deleter.message(params.conversationId, params.messageId));
  }

  deleteConversation(params: ParamsOf<'deleteConversation'>): Promise<ResultOf<'deleteConversation'>> {
    return this.api(() => this.deleter.conversation(params.conversationId));
  }

  // ------------------------------------------------------------------ disappearing messages

  /** Sets the timer here at once and tells the contact, durably, like a text (messenger/sending.ts). */
  setDisappearingTimer(params: ParamsOf<'setDisappearingTimer'>): Promise<ConversationSummary> {
    return this.api(async () => {
      await this.sender.sendTimerChange(params.conversationId, params.seconds);
      const summary = this.counters.summary(params.conversationId);
      if (!summary) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
      this.emit('conversation', summary);
      return summary;
    });
  }

  // ------------------------------------------------------------------ groups (messenger/groups.ts)

  groupsList(): Promise<ResultOf<'groupsList'>> {
    return this.api(() => this.groups.list());
  }

  groupInfo(params: ParamsOf<'groupInfo'>): Promise<ResultOf<'groupInfo'>> {
    return this.api(() => this.groups.infoOf(params.groupId));
  }

  groupCreate(params: ParamsOf<'groupCreate'>): Promise<ResultOf<'groupCreate'>> {
    return this.api(() => this.sender.enqueue(() => this.groups.create(params)));
  }

  groupAdd(params: ParamsOf<'groupAdd'>): Promise<ResultOf<'groupAdd'>> {
    return this.api(() => this.sender.enqueue(() => this.groups.add(params)));
  }

  groupRemove(params: ParamsOf<'groupRemove'>): Promise<ResultOf<'groupRemove'>> {
    return this.api(() => this.sender.enqueue(() => this.groups.remove(params)));
  }

  groupPromote(params: ParamsOf<'groupPromote'>): Promise<ResultOf<'groupPromote'>> {
    return this.api(() => this.sender.enqueue(() => this.groups.promote(params)));
  }

  groupRename(params: ParamsOf<'groupRename'>): Promise<ResultOf<'groupRename'>> {
    return this.api(() => this.sender.enqueue(() => this.groups.rename(params)));
  }

  groupLeave(params: ParamsOf<'groupLeave'>): Promise<ResultOf<'groupLeave'>> {
    return this.api(() => this.sender.enqueue(() => this.groups.leave(params)));
  }

  groupSend(params: ParamsOf<'groupSend'>): Promise<ResultOf<'groupSend'>> {
    return this.api(() => this.sender.enqueue(() => this.groups.send(params)));
  }

  groupHistory(params: ParamsOf<'groupHistory'>): Promise<ResultOf<'groupHistory'>> {
    return this.api(() => this.groups.history(params));
  }

  // ------------------------------------------------------------------ search and settings

  search(params: ParamsOf<'search'>): Promise<SearchResult> {
    return this.api(() => {
      if (params.backupId !== undefined) {
        return this.backups.search(params.backupId, {
          query: params.query,
          limit: params.limit,
          ...(params.conversationId !== undefined ? { conversationId: params.conversationId } : {}),
          ...(params.from !== undefined ? { from: params.from } : {}),
          ...(params.to !== undefined ? { to: params.to } : {}),
        });
      }
      const { vault, search } = this.requireSession();
      const result = searchHistory(vault, search, params);
      return this.timers ? this.timers.filterHits(result) : result;
    });
  }

  settingsGet(): Promise<Settings> {
    return this.api(() => this.settings());
  }

  private settings(): Settings {
    const relay = this.session?.vault.isUnlocked ? this.account.configuredRelay() : undefined;
    return settingsView(this.profileDir, relay?.url ?? null);
  }

  settingsUpdate(params: ParamsOf<'settingsUpdate'>): Promise<Settings> {
    return this.api(() => {
      if (params.relayDescriptor !== undefined) this.account.setRelay(params.relayDescriptor);
      updatePreferences(this.profileDir, params);
      this.touch();
      const settings = this.settings();
      this.emit('settings', settings);
      return settings;
    });
  }

  // ------------------------------------------------------------------ backup

  backupExport(params: ParamsOf<'backupExport'>): Promise<ResultOf<'backupExport'>> {
    // One vault activity: an import's merge never runs while it reads (it would see rows that
    // might still be rolled back).
    return this.api(() =>
      this.asActivity(async () => {
        const vault = this.requireSession().vault;
        if (params.protection.kind === 'passphrase') refuseWeakSecret(params.protection.passphrase, 'backup passphrase', this.opts.allowWeakSecrets === true);
        this.counters.flush();
        return this.backups.export(vault, params);
      }),
    );
  }

  backupImport(params: ParamsOf<'backupImport'>): Promise<ResultOf<'backupImport'>> {
    return this.api(async () => {
      const result = await this.backups.import(this.requireSession().vault, params);
      // Committed: what follows only announces it, and a lock meanwhile does not undo it (the
      // next unlock replays the change feed into the search index).
      try {
        // Imported contacts name the key the identity store trusts, if it knows one.
        this.reconcileIdentityKeys();
        // A whole history may have arrived: index it in steps, not in one blocking pass.
        await this.session?.search.catchUpInSteps();
        const vault = this.session?.vault;
        if (vault?.isUnlocked) for (const c of vault.listConversations()) this.counters.announce(c.id);
      } catch {
        // locked meanwhile
      }
      return result;
    });
  }

  /** Works without an unlocked vault: a backup can be browsed on a machine with no account. */
  backupOpen(params: ParamsOf<'backupOpen'>): Promise<ResultOf<'backupOpen'>> {
    return this.api(() => this.backups.open(params));
  }

  /**
   * The messenger has no file dialog: the Electron shell answers this around it
   * (main/backup-files.ts with main/app/file-dialogs.ts); browser mode and the CLI have none.
   */
  backupChooseFile(): Promise<ResultOf<'backupChooseFile'>> {
    return Promise.reject(new ApiError('NOT_AVAILABLE', 'There is no file dialog here: give the file name instead.'));
  }

  backupClose(params: ParamsOf<'backupClose'>): Promise<void> {
    return this.api(() => this.backups.close(params.backupId));
  }

  backupCancel(params: ParamsOf<'backupCancel'>): Promise<ResultOf<'backupCancel'>> {
    return this.api(() => ({ cancelled: this.backups.cancel(params.jobId) }));
  }

  // ------------------------------------------------------------------ waiting for the relay

  /** Waits for the connection, an empty outbox, sent receipts and a quiet inbox (messenger/sync.ts). */
  sync(params: ParamsOf<'sync'>): Promise<ResultOf<'sync'>> {
    const parts = { access: this.access, sender: this.sender, receiver: this.receiver, receipts: this.receipts };
    return this.api(async () => ({ done: await waitIdle(parts, params.timeoutMs, params.quietMs ?? 400) }));
  }

  // ------------------------------------------------------------------ helpers

  /** Runs fn as one vault activity (see Vault.activity); without a vault, just runs it. */
  private asActivity<T>(fn: () => Promise<T>): Promise<T> {
    const vault = this.session?.vault;
    return vault ? vault.activity(fn) : fn();
  }

  /** The one check for "unlocked": the session exists from unlock to lock. */
  private requireSession(): UnlockedSession {
    const s = this.session;
    if (s?.vault.isUnlocked) return s;
    if (Vault.exists(this.profileDir)) throw new ApiError('VAULT_LOCKED', 'The vault is locked.');
    throw new ApiError('NO_VAULT', 'There is no vault in this profile yet.');
  }

  private requireRegistration(): Registration {
    const registration = this.requireSession().registration;
    if (!registration) throw new ApiError('NOT_REGISTERED', 'Register this profile on a relay first.');
    return registration;
  }
}

