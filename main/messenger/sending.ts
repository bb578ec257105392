/**
 * The send pipeline: sends run one at a time (one queue, also for receipts, timer changes,
 * files and group changes); their local work (vault, ratchet) runs as vault activities, never
 * split by a backup import's merge, while relay round trips stay outside (they may wait long).
 * A text is stored as 'queued', encrypted and put in the sealed outbox in one commit made
 * without an fsync wait; the relay client gets it once an fsync off the main thread made that
 * commit durable (outgoing.ts DurableHandoff: one fsync for the texts of a burst), and the next
 * text does not wait for it. The relay's durable answer moves it to 'sent' or 'failed'. Sends
 * interrupted by a lock or a crash are resumed at unlock.
 */
import PQueue from 'p-queue';
import { ApiError, type Message } from '../../shared/api.ts';
import { encodeEnvelope, UntrustedIdentity, type E2e } from '../e2e/index.ts';
import type { DurableOutcome } from '../net/client.ts';
import type { OutboxItem } from '../net/stores.ts';
import type { ContactRecord, MessageState, StoredMessage } from '../vault/api.ts';
import { VaultLocked } from '../vault/errors.ts';
import { quotedContentId, readDraft, writeDraft } from './conversations.ts';
import { sendAttachment, type UploadedAttachment } from './attachments.ts';
import { isTombstone } from './delete-for-everyone.ts';
import { storeOwnTimerChange } from './disappearing.ts';
import type { Emit } from './events.ts';
import type { DisappearingTimers } from './expiry.ts';
import type { GroupService } from './groups.ts';
import {
  contactIdOfConversation,
  conversationIdOf,
  newContentId,
  outgoingMessageId,
  PENDING_SENDS,
  textIdempotencyKey,
  withIdKey,
} from './ids.ts';
import { DurableHandoff, handOffKept, handToRelay, ownContentId, queueForRelay, quotableContentId, storeQueued } from './outgoing.ts';
import { storedView } from './stored-view.ts';
import type { SessionAccess } from './session.ts';
import type { Trust } from './trust.ts';

/** Newest messages per conversation checked at unlock for interrupted sends. */
const RESUME_SCAN = 200;
/** Most texts whose message id is kept for the relay's answer (sentIds); past it, answers read the pending record. */
const SENT_IDS_MAX = 4096;

export interface SendingDeps {
  access: SessionAccess;
  emit: Emit;
  trust: Pick<Trust, 'fetchSession' | 'markIdentityChanged'>;
  groups: Pick<GroupService, 'onSent'>;
  /** The disappearing-message timers while unlocked (expiry.ts). */
  timers(): DisappearingTimers | undefined;
  touchConversation(conversationId: string, at: number, unreadDelta: number): void;
  setState(messageId: string, state: MessageState): StoredMessage | undefined;
  /** The message as the UI sees it. */
  viewOf(m: StoredMessage): Message;
  scheduleSearchCatchUp(): void;
}

export class Sender {
  private readonly queue = new PQueue({ concurrency: 1 });
  /** Texts committed, waiting for the fsync that makes them durable before the relay client gets them. */
  private readonly handoff: DurableHandoff;
  /** Outbox creation times of texts, increasing (the client restores the outbox in that order). */
  private lastCreatedAt = 0;
  /**
   * Per unlocked vault, idempotency key -> stored message id of the texts queued for the relay
   * here (both derived once, at the send), so the relay's answer neither opens the sealed pending
   * record nor derives the id again (onDurable). Not secrets: the message id is a plaintext
   * column, the key is what the relay sees, but together they are the link ids.ts keeps behind the
   * id key, so they go at the lock (forgetSent). Bounded; a text not in it is answered as before.
   */
  private sentIds = new WeakMap<object, Map<string, string>>();

  constructor(private readonly deps: SendingDeps) {
    // A sync that fails leaves the texts in the outbox, which the next relay client sends at its
    // start: the vault locked meanwhile, or its durability is lost (a failed fsync or I/O error),
    // after which every sync of that unlock throws DurabilityLost (WriteGate.durabilityLost). A
    // later fsync that succeeds would not prove the earlier pages reached the disk, and a later
    // text's ratchet step builds on the earlier one's, so nothing more is handed over.
    this.handoff = new DurableHandoff(async () => {
      const vault = deps.access.current()?.vault;
      if (!vault?.isUnlocked) throw new VaultLocked();
      await vault.syncCommittedAsync();
    });
  }

  /**
   * Runs fn after every send queued before it (one at a time), and after the texts before it
   * went to the relay client, so the relay gets everything in the order it was sent. When no
   * text waits for its fsync, fn starts as it always did (no extra turn).
   */
  enqueue<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.add(() => (this.handoff.busy ? this.handoff.idle().then(fn) : fn()));
  }

  /** Resolves when no send is queued, running or waiting to go to the relay client. */
  async idle(): Promise<void> {
    await this.queue.onIdle();
    await this.handoff.idle();
  }

  private withIdKey<T>(fn: (idKey: Uint8Array) => T): T {
    return withIdKey(this.deps.access.require().vault, fn);
  }

  sendText(conversationId: string, text: string, replyTo: string | undefined): Promise<Message> {
    const { access } = this.deps;
    access.registration();
    const contactId = contactIdOfConversation(conversationId);
    const contact = contactId ? access.require().vault.getContact(contactId) : undefined;
    if (!contact) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
    if (replyTo !== undefined) {
      const quoted = access.require().vault.getMessage(replyTo);
      if (!quoted || quoted.conversationId !== conversationId) throw new ApiError('UNKNOWN_MESSAGE', 'The message replied to is not in this conversation.');
    }
    // Texts follow each other without waiting for the disk: their hand-offs keep their order.
    return this.queue.add(() => this.sendTextNow(contact, text, replyTo));
  }

  /**
   * A text that fails before anything of it is stored goes back to its conversation's sealed draft
   * (sendTextToDraft): the composer emptied that draft at Enter, and its own restore is refused
   * once a lock began (a first text's session fetch is cut by the lock's connection stop).
   */
  private async sendTextNow(contactRecord: ContactRecord, text: string, replyToId?: string): Promise<Message> {
    const progress = { stored: false };
    try {
      return await this.storeAndSendText(contactRecord, text, replyToId, progress);
    } catch (e) {
      if (!progress.stored) await this.sendTextToDraft(conversationIdOf(contactRecord.id), text);
      throw e;
    }
  }

  /**
   * Writes text as the conversation's sealed draft when that draft is empty (never over newer
   * text, as the composer's restore). A lock drains this queue before the vault closes, so the
   * vault is still open here when a lock cut the send.
   */
  private async sendTextToDraft(conversationId: string, text: string): Promise<void> {
    const vault = this.deps.access.current()?.vault;
    if (!vault?.isUnlocked) return;
    try {
      await this.deps.access.activity(async () => {
        if (readDraft(vault, conversationId).text === '') writeDraft(vault, conversationId, text);
      });
    } catch {
      // The vault locked or failed meanwhile (or the conversation is gone): the send's own error stands.
    }
  }

  private async storeAndSendText(contactRecord: ContactRecord, text: string, replyToId: string | undefined, progress: { stored: boolean }): Promise<Message> {
    const deps = this.deps;
    const access = deps.access;
    const { e2e } = access.registration();
    // Usually the session exists: then the contact is checked (sendable) once, in the activity below.
    if (!(await e2e.hasSession(contactRecord.handle))) await this.sessionFor(e2e, contactRecord);
    return access.activity(async () => {
      const vault = access.require().vault;
      const contact = this.sendable(contactRecord);
      const contentId = newContentId();
      const now = Date.now();
      const conversationId = conversationIdOf(contact.id);
      // One unseal of the id key for both ids.
      const [id, idem] = this.withIdKey((k) => [outgoingMessageId(k, contentId), textIdempotencyKey(k, contentId)] as const);
      const timer = deps.timers()?.timerForSend(conversationId);
      const queued = { id, conversationId, contentId, at: now, text, replyToId };
      const replyTo = replyToId === undefined ? undefined : quotableContentId(vault, replyToId);
      const conn = access.current()?.connection;
      let storing = false;
      let stored: StoredMessage;
      let item: OutboxItem | undefined;
      try {
        // The message as 'queued', its timer, the pending record, the outbox entry and the ratchet
        // step: one commit (e2e.sendContentThen), all or nothing, made without an fsync wait; the
        // relay client gets the entry once an fsync made it durable (handoff, below).
        stored = await e2e.sendContentThen(contact.handle, { v: 1, kind: 'text', id: contentId, sentAt: now, text, ...(replyTo ? { replyTo } : {}), ...(timer ? { timer } : {}) }, (envelope) => {
          storing = true;
          const message = storeQueued(vault, queued);
          deps.timers()?.sent(id, conversationId, timer, now);
          // A disappearing message does not wait at the relay longer than its timer.
          if (conn) item = queueForRelay(vault, { to: contact.handle, body: encodeEnvelope(envelope), idem, contentId, createdAt: this.nextCreatedAt(now), ttlSec: timer });
          return message;
        }, { relaxed: true });
        progress.stored = true;
      } catch (e) {
        if (storing) throw e; // the vault failed: nothing was stored
        // Not encrypted (e.g. the identity changed): shown as a failed message, as before.
        const failed = storeQueued(vault, queued);
        progress.stored = true;
        deps.timers()?.sent(id, conversationId, timer, now);
        vault.updateMessageState(failed.id, 'failed');
        deps.touchConversation(conversationId, now, 0);
        if (e instanceof UntrustedIdentity) deps.trust.markIdentityChanged(contact);
        throw e;
      }
      deps.touchConversation(conversationId, now, 0);
      // Without a connection (offline mode, a lock under way) it is stored 'queued' without an
      // outbox entry, and resumeQueued sends it at the next online unlock: a success all the same
      // (state 'queued'), so the caller does not offer the text again and store a second copy.
      // The entry as queued, kept: the hand-off only checks that the outbox still holds it.
      if (conn && item) {
        const queuedItem = item;
        this.rememberSent(vault, idem, id);
        this.handoff.after(() => handOffKept(vault, conn, queuedItem));
      }
      // Built from what was stored (its timer started now, its quote link), not read back.
      const view = storedView(stored, {
        ...(timer ? { timer: { seconds: timer, expiresAt: now + timer * 1000 } } : {}),
        // Read after the store: deleted or redacted while the text waited to be encrypted, it shows so.
        ...(replyToId !== undefined ? { quoted: vault.getMessage(replyToId) ?? null } : {}),
      });
      deps.emit('message', view);
      deps.scheduleSearchCatchUp();
      return view;
    });
  }

  /**
   * At the lock, once the connection stopped and the queue drained (session-lifecycle.ts): no
   * answer comes for these any more, and the next unlock's answers read their pending records.
   */
  forgetSent(): void {
    this.sentIds = new WeakMap();
  }

  private rememberSent(vault: object, idem: string, messageId: string): void {
    let ids = this.sentIds.get(vault);
    if (!ids) this.sentIds.set(vault, (ids = new Map()));
    if (ids.size >= SENT_IDS_MAX) ids.clear(); // answers not come by now read their pending record
    ids.set(idem, messageId);
  }

  private nextCreatedAt(now: number): number {
    this.lastCreatedAt = Math.max(now, this.lastCreatedAt + 1);
    return this.lastCreatedAt;
  }

  /** A disappearing-timer change: set here at once (messenger/disappearing.ts) and told to the contact, durably, like a text. */
  sendTimerChange(conversationId: string, seconds: number): Promise<void> {
    const deps = this.deps;
    const access = deps.access;
    const { e2e, account } = access.registration();
    const contactId = contactIdOfConversation(conversationId);
    const contact = contactId ? access.require().vault.getContact(contactId) : undefined;
    if (!contact) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
    return this.enqueue(async () => {
      const handle = await this.sessionFor(e2e, contact);
      await access.activity(async () => {
        const vault = access.require().vault;
        const contentId = newContentId();
        const messageId = this.withIdKey((k) => outgoingMessageId(k, contentId));
        const { content, message } = storeOwnTimerChange(vault, { messageId, conversationId, contentId, seconds, now: Date.now(), handle: account.handle });
        const body = encodeEnvelope(await e2e.sendContent(handle, content));
        const conn = access.current()?.connection;
        if (!conn) throw new ApiError('NOT_REGISTERED', 'Not connected to a relay.');
        // Sent like a text (same idempotency-key shape); onDurable marks the line 'sent'.
        handToRelay(vault, conn, handle, body, this.withIdKey((k) => textIdempotencyKey(k, contentId)), contentId);
        deps.emit('message', deps.viewOf(message));
      });
    });
  }

  /** Stores and sends an uploaded attachment through the send queue (the facade's sendFile, attachment-ui.ts). */
  sendUploaded(conversationId: string, up: UploadedAttachment, caption: string | undefined): Promise<Message> {
    const deps = this.deps;
    const access = deps.access;
    const { e2e } = access.registration();
    const contactId = contactIdOfConversation(conversationId);
    const contact = contactId ? access.require().vault.getContact(contactId) : undefined;
    if (!contact) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
    const conn = access.current()?.connection;
    if (!conn) throw new ApiError('NOT_REGISTERED', 'Not connected to a relay.');
    return this.enqueue(async () => {
      if (!(await e2e.hasSession(contact.handle))) await deps.trust.fetchSession(contact.handle);
      return access.activity(async () => {
        const stored = await sendAttachment({
          vault: access.require().vault,
          conn,
          withIdKey: (fn) => this.withIdKey(fn),
          encrypt: async (handle, content) => encodeEnvelope(await e2e.sendContent(handle, content)),
          timerForSend: (id) => deps.timers()?.timerForSend(id),
          sent: (messageId, inConversation, seconds, at) => deps.timers()?.sent(messageId, inConversation, seconds, at),
        }, this.sendable(contact), up, caption);
        deps.touchConversation(stored.conversationId, stored.sentAt, 0);
        const view = deps.viewOf(stored);
        deps.emit('message', view);
        deps.scheduleSearchCatchUp();
        return view;
      });
    });
  }

  /**
   * The contact's handle once it may be sent to (see sendable) and a session with it exists; the
   * relay round trip (a bundle, for a first message) stays outside the vault activity.
   */
  async sessionFor(e2e: E2e, contact: ContactRecord): Promise<string> {
    const handle = (await this.deps.access.activity(async () => this.sendable(contact))).handle;
    if (!(await e2e.hasSession(handle))) await this.deps.trust.fetchSession(handle);
    return handle;
  }

  /** The contact as stored now, if it may be sent to; otherwise marks it and throws IDENTITY_CHANGED. */
  sendable(contactRecord: ContactRecord): ContactRecord {
    const e2e = this.deps.access.registration().e2e;
    const contact = this.deps.access.require().vault.getContact(contactRecord.id) ?? contactRecord;
    if (contact.identityChanged || e2e.identityStatus(contact.handle).pending) {
      if (!contact.identityChanged) this.deps.trust.markIdentityChanged(contact);
      throw new ApiError('IDENTITY_CHANGED', `The identity of ${contact.handle} changed. Compare the new safety number and accept it before sending.`);
    }
    return contact;
  }

  /** The relay's durable answer to a send: the message becomes 'sent' (or 'failed'). */
  onDurable(outcome: DurableOutcome): void {
    this.answered(outcome, false);
  }

  /** onDurable; `deferred`: it waited for a backup import to end (turns went by since the answer). */
  private answered(outcome: DurableOutcome, deferred: boolean): void {
    if (outcome.method === 'sendMany') return this.deps.groups.onSent(outcome.id);
    if (outcome.method !== 'send') return;
    const vault = this.deps.access.current()?.vault;
    if (!vault?.isUnlocked) return;
    if (vault.busy) {
      void this.vaultIdle()
        .then(() => this.answered(outcome, true))
        .catch(() => undefined); // locked meanwhile: the send is resumed at the next unlock
      return;
    }
    // A text queued here: its message id is known, and whether it is still pending is whether
    // its outbox entry is still there (one point read, nothing opened): the pending record and
    // the entry are written in one commit and taken out together (a deletion: deletion-journal.ts
    // forgetSend, delete-for-everyone.ts tombstoneOwn). The client's own delete of the entry for
    // this answer (net/stores.ts) waits for a later turn of the microtask queue, so it has not
    // run yet; an answer that waited for a backup import (above) asks the pending record instead.
    const ids = this.sentIds.get(vault);
    const known = ids?.get(outcome.id);
    if (known !== undefined) ids?.delete(outcome.id);
    let messageId: string;
    if (known !== undefined && !deferred) {
      if (!vault.outboxHas(outcome.id)) return;
      messageId = known;
    } else {
      const pending = vault.kvGet(PENDING_SENDS, outcome.id);
      if (!pending) return;
      messageId = known ?? this.withIdKey((k) => outgoingMessageId(k, Buffer.from(pending).toString('utf8')));
    }
    // No fsync wait and no commit of its own: it joins this turn's batch (Vault.batchedTransaction)
    // with the outbox entry's delete (net/stores.ts) and the other answers and receipts of the
    // turn. If a power cut undoes it, the message is still 'queued' with its pending record, and
    // resumeQueued sends it again under the same idempotency key, which the relay answers from
    // its record (the recipient stores it once either way).
    vault.batchedTransaction(() => {
      vault.kvDelete(PENDING_SENDS, outcome.id);
      this.deps.setState(messageId, outcome.error ? 'failed' : 'sent');
    });
  }

  /** Resolves when no backup import holds the vault (at once when none does). */
  private async vaultIdle(): Promise<void> {
    for (let v = this.deps.access.current()?.vault; v?.busy; v = this.deps.access.current()?.vault) await v.idle();
  }

  /**
   * A message stored as 'queued' whose relay request is not in the outbox was interrupted
   * between the two writes (or accepted just before the state update). It is encrypted again
   * under the same content id and idempotency key: the relay and the recipient store it once.
   * Looks at the newest messages of each conversation only (bounded work at unlock).
   */
  async resumeQueued(): Promise<void> {
    const session = this.deps.access.current();
    const e2e = session?.registration?.e2e;
    const conn = session?.connection;
    if (!session?.vault.isUnlocked || !e2e || !conn) return;
    const vault = session.vault;
    const inOutbox = new Set(vault.outboxList().map((o) => o.id));
    for (const conv of vault.listConversations()) {
      const contact = vault.getContact(conv.contactId);
      if (!contact || contact.identityChanged) continue;
      for (const m of vault.pageMessages(conv.id, { limit: RESUME_SCAN })) {
        // A text's content id is in its sealed entry (storeQueued), an older build's in a kv entry.
        const contentId = m.state === 'queued' ? ownContentId(vault, m) : undefined;
        if (contentId === undefined) continue;
        const idem = this.withIdKey((k) => textIdempotencyKey(k, contentId));
        if (inOutbox.has(idem)) continue;
        // Deleted for everyone while queued (its outbox entry went with the mark): never sent.
        if (isTombstone(vault, m.id)) continue;
        if (e2e.identityStatus(contact.handle).pending || !(await e2e.hasSession(contact.handle))) break;
        const replyTo = quotedContentId(this.deps.access.require().vault, m.id);
        const timer = this.deps.timers()?.timerOf(m.id);
        const envelope = await e2e.sendContent(contact.handle, { v: 1, kind: 'text', id: contentId, sentAt: m.sentAt, text: m.text, ...(replyTo ? { replyTo } : {}), ...(timer ? { timer } : {}) });
        handToRelay(vault, conn, contact.handle, encodeEnvelope(envelope), idem, contentId, timer);
      }
    }
  }
}
