// Receipts. Read marking: which incoming messages a "read up to here" covers, and the unread
// count after it (vault reads and writes only; the caller runs it as a vault activity and
// announces). Message states moving forward. Sending: delivered receipts batched per sender,
// read receipts for what was read.
import { ApiError } from '../../shared/api.ts';
import { encodeEnvelope, MAX_RECEIPT_IDS } from '../e2e/index.ts';
import { sendOutboxItem } from '../net/mailbox.ts';
import { VaultLocked } from '../vault/errors.ts';
import type { ConversationRecord, MessageState, StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { recordStateTime } from './conversations.ts';
import type { Emit } from './events.ts';
import { INCOMING_CONTENT_IDS, incomingMessageId, QUOTABLE_CONTENT_IDS, receiptIdempotencyKey, withIdKey } from './ids.ts';
import { DurableHandoff, handOffQueued } from './outgoing.ts';
import { resendWithdrawnReceipts } from './receipt-resend.ts';
import { recordReceipt } from './receipt-withdraw.ts';
import { keepReceiptIds, keptReceiptIds, ReceiptBatch, sendInChunks } from './receipt-batch.ts';
import type { SessionAccess } from './session.ts';

/**
 * While texts keep arriving (a catch-up) the batch waits for a quiet moment, up to this long:
 * each receipt costs an encrypt, a durable commit and its outbox entry's delete here, so one per
 * sender per batch, not per text. At 500 ms a catch-up from 50 contacts sent one receipt per
 * ~3.5 texts, a fifth of its main-thread CPU (docs/protocol.md §12a); a sender sees its
 * delivered mark at most this (plus the quiet moment) late, only while texts keep coming.
 */
export const RECEIPT_MAX_WAIT_MS = 2_000;
const STATE_RANK: Record<MessageState, number> = { queued: 0, failed: 0, sent: 1, received: 1, delivered: 2, read: 3 };

/**
 * Moves a message's state forward only (queued -> sent -> delivered -> read), records when it
 * was delivered or read, and announces it; `onRead` sees a message that became read.
 * `known`: the message as the caller just read it in the same synchronous step (a receipt's
 * check of each id), so it is not read and opened a second time.
 */
export function advanceState(
  vault: Vault, emit: Emit, messageId: string, state: MessageState, onRead?: (m: StoredMessage) => void, known?: StoredMessage,
): StoredMessage | undefined {
  const m = known?.id === messageId ? known : vault.getMessage(messageId);
  if (!m) return undefined;
  const forward = state === 'failed' ? m.state === 'queued' : STATE_RANK[state] > STATE_RANK[m.state];
  if (!forward) return undefined;
  vault.updateMessageState(messageId, state);
  // Times are recorded only here, after a move to delivered or read: one below delivered has none to keep.
  if (state === 'delivered' || state === 'read') recordStateTime(vault, messageId, state, { noneYet: STATE_RANK[m.state] < STATE_RANK.delivered });
  if (state === 'read') onRead?.({ ...m, state });
  emit('messageState', { id: messageId, conversationId: m.conversationId, state });
  return { ...m, state };
}

/** Sealed kv: "type\nhandle" -> JSON string[]: receipts that found no connection, sent after the next unlock. */
export const KEPT_RECEIPTS = 'receipts-kept';

/** What a receipt's send came to: `kept` when there was no connection and its ids wait sealed for the next one. */
export type ReceiptOutcome = 'sent' | 'kept' | 'skipped';

/**
 * Receipts travel inside the E2E layer like texts, durably, but are never shown. Delivered
 * receipts are batched per sender for a moment; each batch is sent behind the queued sends.
 */
export class ReceiptSender {
  private readonly delivered = new ReceiptBatch((handle, ids) => this.sendChunk(handle, 'delivered', ids), RECEIPT_MAX_WAIT_MS);
  /** Receipt sends waiting in the send queue or running (a lock waits for them, bounded). */
  private readonly queued = new Set<Promise<void>>();
  /**
   * Receipts committed without an fsync wait, handed to the relay client once one made them
   * durable (as texts are, outgoing.ts): a catch-up sends one per sender every couple of seconds,
   * and each one's commit waited for the disk on the main thread. A failed sync (locked, or the
   * vault's durability lost) leaves them in the sealed outbox for the next relay client.
   */
  private readonly handoff: DurableHandoff;

  /** `enqueue` runs work in the send queue (one send at a time). */
  constructor(
    private readonly access: SessionAccess,
    private readonly enqueue: (fn: () => Promise<void>) => Promise<void>,
  ) {
    this.handoff = new DurableHandoff(async () => {
      const vault = access.current()?.vault;
      if (!vault?.isUnlocked) throw new VaultLocked();
      await vault.syncCommittedAsync();
    });
  }

  /** A delivered receipt for a stored incoming text, sent with the others of the moment. */
  queueDelivered(handle: string, contentId: string): void {
    this.delivered.add(handle, contentId);
  }

  /** Read receipts for the content ids just read (markReadUpTo's newlyRead). */
  sendRead(handle: string, ids: string[]): void {
    sendInChunks(ids, (chunk) => this.sendChunk(handle, 'read', chunk));
  }

  private sendChunk(handle: string, type: 'delivered' | 'read', ids: string[]): void {
    const job = this.enqueue(() => this.access.activity(async () => void (await this.send(handle, type, ids)))).catch(() => undefined);
    this.queued.add(job);
    void job.finally(() => this.queued.delete(job));
  }

  private async send(handle: string, type: 'delivered' | 'read', ids: string[]): Promise<ReceiptOutcome> {
    const session = this.access.current();
    if (!session?.connection) {
      // Locking (the connection stopped before this left the queue) or offline: the next connection sends it.
      if (session?.vault.isUnlocked && session.registration) keepReceiptIds(session.vault, KEPT_RECEIPTS, `${type}\n${handle}`, ids);
      return 'kept';
    }
    const sent = await sendReceipt(this.access, this.handoff, handle, type, ids);
    // A receipt withdrawn meanwhile (receipt-withdraw.ts) may wait for its rest to go again.
    await resendWithdrawnReceipts(this.access);
    return sent ? 'sent' : 'skipped';
  }

  /** Hands the held delivered receipts to the send queue now (lock, sync). */
  flushHeld(): void {
    this.delivered.flushAll();
  }

  /** Resolves once every receipt send queued so far has run (it is then in the sealed outbox, or kept) and those committed were handed over or found not durable. */
  async settled(): Promise<void> {
    await Promise.all([...this.queued]);
    await this.handoff.idle();
  }

  /**
   * After the connection opened at unlock, in the send queue: the receipts kept at the last lock
   * go, naming only texts still stored (a deleted text's receipt is withdrawn, not sent:
   * receipt-withdraw.ts). An entry goes only once all of it was handed over; one kept again (the
   * connection stopped again) stays, so an id may go twice but is never lost.
   */
  async resendKept(): Promise<void> {
    const vault = this.access.current()?.vault;
    if (!vault?.isUnlocked) return;
    for (const key of vault.kvKeys(KEPT_RECEIPTS)) {
      const [type, handle] = key.split('\n') as [string, string | undefined];
      let kept = false;
      if (handle !== undefined && (type === 'delivered' || type === 'read')) {
        // sendReceipt names only texts still stored, and only to a contact we still have.
        const ids = keptReceiptIds(vault, KEPT_RECEIPTS, key);
        for (let i = 0; i < ids.length; i += MAX_RECEIPT_IDS) kept = (await this.send(handle, type, ids.slice(i, i + MAX_RECEIPT_IDS))) === 'kept' || kept;
      }
      if (!kept) vault.kvDelete(KEPT_RECEIPTS, key);
    }
  }

  /** No receipt waits for its batch. */
  idle(): boolean {
    return this.delivered.idle();
  }

  /** At lock, once the connection stopped: what is still held goes to the send queue, which keeps it for the next connection. */
  stop(): void {
    this.delivered.stop();
  }
}

/** Receipts a lock sends before the connection stops (ReceiptSender, GroupReceipts). */
export interface HeldReceipts {
  idle(): boolean;
  flushHeld(): void;
  settled(): Promise<void>;
}

/**
 * At lock, before the connection stops: the held delivered receipts (1:1 and group) go to the
 * send queue now, and the lock waits until they ran (each is then in the sealed outbox, which
 * the next unlock sends if the relay does not take it now) and, while the relay is reachable,
 * until it took them: at most `maxMs`. With nothing held it returns at once, so a lock without
 * held receipts stops the connection as before (test/deletion/withdraw-inflight-lock).
 */
export async function sendHeldReceipts(access: SessionAccess, holders: readonly HeldReceipts[], maxMs: number): Promise<void> {
  const session = access.current();
  const conn = session?.connection;
  if (!conn || !session.vault.isUnlocked || holders.every((h) => h.idle())) return;
  const deadline = Date.now() + maxMs;
  const before = new Set(session.vault.outboxList().map((o) => o.id));
  for (const h of holders) h.flushHeld();
  if (!(await beforeDeadline(Promise.all(holders.map((h) => h.settled())), deadline))) return;
  // Their outbox entries go when the relay answered.
  while (conn.isReady && session.vault.isUnlocked && Date.now() < deadline) {
    if (session.vault.outboxList().every((o) => before.has(o.id))) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** True when `p` settled before `deadline` (ms since the epoch), false when the deadline came first. */
async function beforeDeadline(p: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), Math.max(0, deadline - Date.now()))));
  try {
    return await Promise.race([p.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends one receipt (the caller runs it in the send queue as a vault activity): committed now,
 * handed to the relay client by `handoff` once durable. False when it is not for anyone now.
 */
async function sendReceipt(access: SessionAccess, handoff: DurableHandoff, handle: string, type: 'delivered' | 'read', ids: string[]): Promise<boolean> {
  const session = access.current();
  const e2e = session?.registration?.e2e;
  const conn = session?.connection;
  if (!e2e || !conn) return false;
  const contact = session.vault.findContactByHandle(handle);
  if (!contact || contact.identityChanged || e2e.identityStatus(handle).pending) return false;
  if (!(await e2e.hasSession(handle))) return false;
  // Only texts still stored are named: one deleted while its receipt was held (delete for me,
  // expiry) had its withdraw run already, so a receipt and records naming it would stay.
  const named = withIdKey(session.vault, (k) => ids.map((cid) => ({ cid, id: incomingMessageId(k, contact.id, cid) })))
    .filter((n) => session.vault.getMessage(n.id) !== undefined);
  if (named.length === 0) return false;
  const stored = named.map((n) => n.cid);
  const messages = named.map((n) => n.id);
  const idem = receiptIdempotencyKey();
  // The ratchet step, the outbox entry and the record a later deletion withdraws it by
  // (receipt-withdraw.ts) in one commit (e2e.sendContentThen), without an fsync wait: nothing of
  // it reaches the relay before an fsync made it durable, so a ratchet step a power cut could
  // undo is never used on the wire.
  const vault = session.vault;
  await e2e.sendContentThen(
    handle,
    { v: 1, kind: 'receipt', type, ids: stored },
    (envelope) => {
      vault.outboxPut(sendOutboxItem(handle, encodeEnvelope(envelope), idem, Date.now()));
      recordReceipt(vault, idem, { to: handle, type, ids: stored, messages });
    },
    { relaxed: true },
  );
  handoff.after(() => handOffQueued(vault, conn, idem));
  return true;
}

/**
 * Marks the conversation's incoming messages up to `upToMessageId` read (`setRead` moves one
 * message's state forward and announces it; false when it was not moved) and stores the unread
 * count of what follows. Returns the conversation and the content ids newly read, oldest first.
 */
export function markReadUpTo(
  vault: Vault,
  conversationId: string,
  upToMessageId: string,
  setRead: (messageId: string) => boolean,
): { conv: ConversationRecord; newlyRead: string[] } {
  const conv = vault.getConversation(conversationId);
  if (!conv) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
  const target = vault.getMessage(upToMessageId);
  if (!target || target.conversationId !== conv.id) throw new ApiError('UNKNOWN_MESSAGE', 'There is no such message in this conversation.');
  const newlyRead: string[] = [];
  for (const m of unreadIncomingBackFrom(vault, conv.id, target.orderKey)) {
    if (setRead(m.id)) {
      // A received text has its content id in its sealed entry (inbound.ts) or, stored before
      // that, its quotable entry; an attachment, a tombstone or an older text has the receipt's own.
      const pending = vault.kvGet(INCOMING_CONTENT_IDS, m.id);
      const cid = pending ?? (m.contentId !== undefined ? Buffer.from(m.contentId, 'utf8') : vault.kvGet(QUOTABLE_CONTENT_IDS, m.id));
      if (cid) newlyRead.push(Buffer.from(cid).toString('utf8'));
      if (pending) vault.kvDelete(INCOMING_CONTENT_IDS, m.id); // read is final: no receipt needs it again
    }
  }
  let unread = 0;
  let after = target.orderKey;
  for (;;) {
    const page = vault.pageMessages(conv.id, { after, limit: 500 });
    if (page.length === 0) break;
    unread += page.filter((m) => m.direction === 'in' && m.state === 'received').length;
    after = page.at(-1)!.orderKey;
  }
  vault.upsertConversation({ ...conv, unread });
  return { conv, newlyRead: newlyRead.reverse() };
}

/**
 * The conversation's incoming messages from the one at `orderKey` back to the first one already
 * read (earlier calls marked everything before it), newest first, a page at a time; the caller
 * may mark each read as it goes.
 */
export function* unreadIncomingBackFrom(vault: Vault, conversationId: string, orderKey: number): Generator<StoredMessage> {
  let before = orderKey + 1;
  for (;;) {
    const page = vault.pageMessages(conversationId, { before, limit: 500 });
    if (page.length === 0) return;
    for (let i = page.length - 1; i >= 0; i--) {
      const m = page[i]!;
      if (m.direction !== 'in') continue;
      if (m.state === 'read') return;
      yield m;
    }
    before = page[0]!.orderKey;
  }
}
