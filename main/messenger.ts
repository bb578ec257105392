// The one service object behind the UI and the CLI: implements shared/api.ts (methods and
// events) by composing the vault (history at rest), main/net (relay connection, sealed outbox),
// main/e2e (Signal sessions) and main/search. It holds no secret of its own: keys live in the
// parts, which drop them on lock. See docs/messaging.md.
import { ApiError, type ApiEvent, type EphemeraService, type Message } from '../shared/api.ts';
import type { MessageState, StoredMessage } from './vault/api.ts';
import type { Envelope as RelayEnvelope } from './net/mailbox.ts';
import type { KdfParams } from './vault/index.ts';
import { Account } from './messenger/account.ts';
import { accountMethods, type AccountMethods } from './messenger/account-api.ts';
import { BackupJobs } from './messenger/backups.ts';
import { ConversationCounters } from './messenger/counters.ts';
import { Listeners } from './messenger/events.ts';
import { viewWithQuote } from './messenger/conversations.ts';
import { conversationMethods, type ConversationMethods } from './messenger/conversations-api.ts';
import { Deleter } from './messenger/deleting.ts';
import { SearchCatchUp } from './messenger/searching.ts';
import { advanceState, ReceiptSender, sendHeldReceipts } from './messenger/receipts.ts';
import { contactIdOfConversation, withIdKey } from './messenger/ids.ts';
import { Receiver } from './messenger/receiving.ts';
import { Sender } from './messenger/sending.ts';
import { GroupService } from './messenger/groups.ts';
import { GroupActivityCounters } from './messenger/group-activity.ts';
import { AttachmentUi } from './messenger/attachment-ui.ts';
import type { SessionAccess } from './messenger/session.ts';
import { SessionLifecycle, type VaultMethods } from './messenger/session-lifecycle.ts';
import { servedFromTables } from './messenger/method-tables.ts';
import { groupMethods, type GroupMethods } from './messenger/groups-api.ts';
import { BacklogWatch } from './messenger/group-receipt-batch.ts';
import { GroupReceipts, withFileName } from './messenger/group-receipts.ts';
import { groupReceiptMethods, type GroupReceiptMethods } from './messenger/group-receipts-api.ts';
import { attachmentMethods, type AttachmentMethods } from './messenger/attachments-api.ts';
import { backupMethods, type BackupMethods } from './messenger/backups-api.ts';
import { contactMethods, type ContactMethods } from './messenger/contacts-api.ts';
import { Trust } from './messenger/trust.ts';

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
  /**
   * The scrypt work factor of passphrase backups that name none (default 18). Tests lower it;
   * the contract's BackupProtection cannot go below 18, so no renderer can weaken a backup.
   */
  backupWorkFactor?: number;
}

export async function openMessenger(opts: MessengerOptions): Promise<Messenger> {
  return new Messenger(opts);
}

const DEFAULT_RELAY_TIMEOUT_MS = 15_000;

/** The contract methods the facade takes whole from its jobs' tables (messenger/method-tables.ts). */
type TableMethods = VaultMethods & AccountMethods & ContactMethods & ConversationMethods & GroupMethods & GroupReceiptMethods & AttachmentMethods & BackupMethods;

export class Messenger extends servedFromTables<TableMethods>() implements EphemeraService {
  readonly profileDir: string;
  private readonly opts: MessengerOptions;
  private readonly events = new Listeners();
  private readonly emit = this.events.emit;
  /** The unlocked session, lock and unlock, auto-lock (messenger/session-lifecycle.ts). */
  private readonly life: SessionLifecycle;
  private readonly counters = new ConversationCounters(() => this.life.require().vault, this.emit);
  private readonly access: SessionAccess = {
    require: () => this.life.require(),
    current: () => this.life.current(),
    registration: () => this.life.registration(),
    activity: (fn) => this.life.activity(fn),
  };
  private readonly receipts = new ReceiptSender(this.access, (fn) => this.sender.enqueue(fn));
  private readonly searchCatchUp = new SearchCatchUp(() => this.life.current());
  private readonly trust = new Trust({
    access: this.access,
    emit: this.emit,
    announce: (conversationId) => this.counters.announce(conversationId),
    readyConnection: () => this.account.readyConnection(),
    releaseHeld: (e2e, handle) => this.receiver.releaseHeld(e2e, handle),
  });
  /** Registration, the relay descriptor, the connection's opening and prekey upkeep. */
  private readonly account: Account;
  /** Decrypt, store, acknowledge, announce (messenger/receiving.ts). */
  private readonly receiver: Receiver;
  /** The send queue, texts, durable outcomes, resume at unlock (messenger/sending.ts). */
  private readonly sender: Sender;
  /** Delete for me and for everyone (messenger/deleting.ts). */
  private readonly deleter: Deleter;
  private readonly backups: BackupJobs;
  private readonly attachmentUi = new AttachmentUi({
    vault: () => this.life.require().vault,
    relay: () => this.life.current()?.connection?.calls,
    handleOf: (conversationId) => {
      const contactId = contactIdOfConversation(conversationId);
      const contact = contactId ? this.life.require().vault.getContact(contactId) : undefined;
      if (!contact) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
      return contact.handle;
    },
    announce: (conversationId, up, caption) => this.sender.sendUploaded(conversationId, up, caption),
    progress: (jobId, done, total) => this.emit('attachmentProgress', { jobId, done, total }),
  });
  /** Group chats (messenger/groups.ts), on this messenger's unlocked parts and gates. */
  private readonly groups = new GroupService({
    vault: () => this.life.require().vault,
    e2e: () => this.life.registration().e2e,
    self: () => this.life.registration().account.handle,
    connection: () => this.account.readyConnection(),
    link: () => this.life.current()?.connection,
    activity: (fn) => this.life.activity(fn),
    enqueue: (fn) => this.sender.enqueue(fn),
    withIdKey: (fn) => this.withIdKey(fn),
    changed: (info) => {
      this.emit('group', info);
      this.groupActivity.changed(info.groupId);
    },
    sent: (messageId, groupId, to) => this.groupAcks.sent(messageId, groupId, to),
    received: (m) => {
      this.groupAcks.received({ ...m, backlog: this.receivingBacklog });
      this.groupActivity.received(m.groupId, m.id);
    },
    timers: () => this.life.timers,
    // As for 1:1 texts: one catch-up for the texts of a moment (a search drains the feed first anyway).
    stored: () => this.searchCatchUp.schedule(),
  });
  /** Whether the envelope being received came with the backlog the relay kept while this device was away. */
  private readonly backlog = new BacklogWatch();
  /**
   * Set per envelope before it is received: the mailbox hands envelopes over one at a time and
   * waits for each (net/mailbox.ts), so the receive hooks of a group text read its envelope's.
   */
  private receivingBacklog = false;
  /** Receipts, read marking and chat-list activity of groups (messenger/group-receipts.ts). */
  private readonly groupAcks = new GroupReceipts({
    vault: () => this.life.require().vault,
    e2e: () => this.life.registration().e2e,
    link: () => this.life.current()?.connection,
    activity: (fn) => this.life.activity(fn),
    enqueue: (fn) => this.sender.enqueue(fn),
    withIdKey: (fn) => this.withIdKey(fn),
    groups: this.groups,
    changed: (info) => this.emit('group', info),
  });
  /** Each group's place in the chat list, kept between changes and pushed (messenger/group-activity.ts). */
  private readonly groupActivity = new GroupActivityCounters({
    groups: () => this.groups.list(),
    compute: (g) => this.groupAcks.activityOf(g),
    // With the name of a file message's file: the chat list's line reads "File: name" (group-receipts.ts).
    newest: (groupId) => withFileName(this.life.require().vault, this.groups.newest(groupId)),
    stored: (messageId) => this.life.require().vault.getMessage(messageId) !== undefined,
    emit: this.emit,
  });

  constructor(opts: MessengerOptions) {
    super();
    // Deletions, expiries and lock reach the groups' chat-list entries through the events.
    this.events.subscribe((e) => this.groupActivity.follow(e));
    this.events.subscribe((e) => {
      if (e.name === 'connection') this.backlog.connection(e.payload);
    });
    this.opts = opts;
    this.profileDir = opts.profileDir;
    this.backups = new BackupJobs((p) => this.emit('backupProgress', p), opts.backupWorkFactor);
    this.account = new Account(
      { serverDescriptorPath: opts.serverDescriptorPath, relayTimeoutMs: opts.relayTimeoutMs ?? DEFAULT_RELAY_TIMEOUT_MS },
      this.access,
      this.emit,
      { onDurable: (o) => this.sender.onDurable(o), onEnvelope: (env) => this.receiveEnvelope(env) },
    );
    // What receiving and sending both use.
    const parts = {
      access: this.access,
      emit: this.emit,
      trust: this.trust,
      groups: this.groups,
      touchConversation: (conversationId: string, at: number, unreadDelta: number) => this.counters.touch(conversationId, at, unreadDelta),
      setState: (messageId: string, state: MessageState, known?: StoredMessage) => this.setState(messageId, state, known),
      viewOf: (m: StoredMessage) => this.viewOf(m),
      scheduleSearchCatchUp: () => this.searchCatchUp.schedule(),
    };
    this.receiver = new Receiver({ ...parts, receipts: this.receipts, groupReceiptStored: (groupId) => this.groupAcks.stored(groupId), afterTombstones: (conversationId, changed) => this.deleter.afterTombstones(conversationId, changed) });
    this.sender = new Sender({ ...parts, timers: () => this.life.timers });
    this.deleter = new Deleter({ access: this.access, emit: this.emit, counters: this.counters, sender: this.sender, viewOf: (m) => this.viewOf(m) });
    this.life = new SessionLifecycle(
      { profileDir: opts.profileDir, kdf: opts.kdf, allowWeakSecrets: opts.allowWeakSecrets === true, offline: opts.offline === true },
      {
        emit: this.emit, account: this.account, sender: this.sender, deleter: this.deleter, searchCatchUp: this.searchCatchUp,
        receipts: {
          sendHeld: (maxMs) => sendHeldReceipts(this.access, [this.receipts, this.groupAcks], maxMs),
          stop: () => (this.receipts.stop(), this.groupAcks.stop()),
          resendKept: async () => {
            await this.receipts.resendKept();
            await this.groupAcks.resendKept();
          },
        },
        counters: this.counters, backups: this.backups, attachmentUi: this.attachmentUi, viewOf: (m) => this.viewOf(m),
      },
    );
    // Whole groups of contract methods, from the tables their jobs build (messenger/method-tables.ts).
    const call = this.life.call;
    const vaultMethods = this.life.methods();
    Object.assign(
      this,
      vaultMethods,
      contactMethods(call, this.access, this.trust),
      groupMethods(call, this.groups, this.sender),
      groupReceiptMethods(call, this.groupAcks, this.groups, this.groupActivity),
      attachmentMethods({ call, access: this.access, emit: this.emit, ui: this.attachmentUi, backups: this.backups, sendUploaded: (id, up, caption) => this.sender.sendUploaded(id, up, caption) }),
      backupMethods({ call, access: this.access, backups: this.backups, counters: this.counters, allowWeakSecrets: opts.allowWeakSecrets === true, vault: vaultMethods }),
      accountMethods({
        call, life: this.life, account: this.account, emit: this.emit, profileDir: opts.profileDir,
        // Group receipts waiting for their batch count as receipts not yet out.
        sync: {
          access: this.access, sender: this.sender, receiver: this.receiver,
          receipts: { idle: () => this.receipts.idle() && this.groupAcks.idle(), flushHeld: () => (this.receipts.flushHeld(), this.groupAcks.flushHeld()) },
        },
      }),
      conversationMethods({
        call, life: this.life, emit: this.emit, counters: this.counters, backups: this.backups, sender: this.sender, deleter: this.deleter,
        groups: this.groups, receipts: this.receipts, setState: (messageId, state) => this.setState(messageId, state),
      }),
    );
  }

  // ------------------------------------------------------------------ events and closing

  subscribe(listener: (event: ApiEvent) => void): () => void {
    return this.events.subscribe(listener);
  }

  /** Locks and releases the profile; the object is unusable afterwards. */
  async close(): Promise<void> {
    if (await this.life.close()) this.events.clear();
  }

  // ------------------------------------------------------------------ what the jobs share

  /** Receives one envelope (messenger/receiving.ts), noting first whether it is of a backlog (group delivered receipts wait less). */
  private receiveEnvelope(env: RelayEnvelope): Promise<void> {
    const client = this.life.current()?.connection?.client;
    this.receivingBacklog = client !== undefined && this.backlog.isBacklog(env.sentAt, client.relayNow() - Date.now());
    return this.receiver.onEnvelope(env);
  }

  /** Runs fn with the account's id key (a sealed vault secret, made on first use), then zeroes it. */
  private withIdKey<T>(fn: (idKey: Uint8Array) => T): T {
    return withIdKey(this.life.require().vault, fn);
  }

  /** The message as the UI sees it, with the quote it replies to. */
  private viewOf(m: StoredMessage): Message {
    return viewWithQuote(this.life.require().vault, m);
  }

  /**
   * Moves a message's state forward only (messenger/receipts.ts); a read one starts its
   * disappearing timer. `known`: the message as the caller just read it (not read again).
   */
  private setState(messageId: string, state: MessageState, known?: StoredMessage): StoredMessage | undefined {
    return advanceState(this.life.require().vault, this.emit, messageId, state, (m) => this.life.timers?.shownRead(m), known);
  }
}
