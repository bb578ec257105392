/** The vault and relay steps of sending a text; sending.ts orders them (sendTextNow, resumeQueued). */
import { sendOutboxItem } from '../net/mailbox.ts';
import type { OutboxItem } from '../net/stores.ts';
import type { StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import type { RelayConnection } from './connection.ts';
import { OUTGOING_CONTENT_IDS, PENDING_SENDS, QUOTABLE_CONTENT_IDS, REPLY_TO } from './ids.ts';

export interface QueuedText {
  id: string;
  conversationId: string;
  contentId: string;
  at: number;
  text: string;
  replyToId: string | undefined;
}

/** The content id a reply to `messageId` names (ours or theirs), if it has one. */
export function quotableContentId(vault: Vault, messageId: string): string | undefined {
  // Our texts (storeQueued) and received ones (inbound.ts) keep it in their sealed entry; texts
  // stored by older builds, and attachments, in a kv entry of their own.
  const inEntry = vault.getMessage(messageId)?.contentId;
  if (inEntry !== undefined) return inEntry;
  const cid = vault.kvGet(OUTGOING_CONTENT_IDS, messageId) ?? vault.kvGet(QUOTABLE_CONTENT_IDS, messageId);
  return cid ? Buffer.from(cid).toString('utf8') : undefined;
}

/**
 * The content id we sent our message `m` under: its sealed entry's (storeQueued), or, for an
 * attachment or a text stored by an older build, its OUTGOING_CONTENT_IDS entry. Undefined for
 * a received message and for a tombstone (a delete for everyone drops both).
 */
export function ownContentId(vault: Vault, m: StoredMessage): string | undefined {
  if (m.direction !== 'out') return undefined;
  if (m.contentId !== undefined) return m.contentId;
  const cid = vault.kvGet(OUTGOING_CONTENT_IDS, m.id);
  return cid ? Buffer.from(cid).toString('utf8') : undefined;
}

/**
 * Stores a text as 'queued', and its quote link when it is a reply (the caller took the quoted
 * content id before encrypting: nothing is read back here).
 */
export function storeQueued(vault: Vault, q: QueuedText): StoredMessage {
  // The content id rides in the text's sealed entry (a resume at unlock re-sends a queued
  // message under it; a reply or a delete for everyone names it): one seal and one row for both,
  // so a queued message always has it.
  const [stored] = vault.appendMessages([
    { id: q.id, conversationId: q.conversationId, direction: 'out', sender: 'self', sentAt: q.at, receivedAt: q.at, text: q.text, state: 'queued', contentId: q.contentId },
  ]);
  if (!stored) throw new Error('the vault did not store the message');
  if (q.replyToId !== undefined) vault.kvSet(REPLY_TO, q.id, Buffer.from(q.replyToId, 'utf8'));
  return stored;
}

/**
 * Durable: in the sealed outbox until the relay accepted it (onDurable then marks it 'sent');
 * the pending record maps the idempotency key back to the content id. `ttlSec` (a disappearing
 * message's timer): the relay does not keep it undelivered longer than that.
 */
export function handToRelay(vault: Vault, conn: RelayConnection, handle: string, body: Uint8Array, idem: string, contentId: string, ttlSec?: number): void {
  vault.kvSet(PENDING_SENDS, idem, Buffer.from(contentId, 'utf8'));
  conn.mailbox.send(handle, body, idem, ttlSec).catch(() => undefined);
}

/**
 * As handToRelay, but vault writes only, inside the caller's transaction (the text's relaxed
 * commit): the outbox entry and pending record commit with the message and its ratchet step,
 * and the relay client gets the entry only later, from handOffQueued, once that commit is durable.
 */
export function queueForRelay(vault: Vault, q: { to: string; body: Uint8Array; idem: string; contentId: string; createdAt: number; ttlSec: number | undefined }): OutboxItem {
  vault.kvSet(PENDING_SENDS, q.idem, Buffer.from(q.contentId, 'utf8'));
  const item = sendOutboxItem(q.to, q.body, q.idem, q.createdAt, q.ttlSec);
  vault.outboxPut(item);
  return item;
}

/**
 * The relay client takes the send queued under `idem`, as the outbox holds it now: one deleted
 * meanwhile (for me, expired: deletion-journal.ts forgetSend takes it out of the outbox) never
 * goes. Only once the commit that queued it is durable (DurableHandoff).
 */
export function handOffQueued(vault: Vault, conn: RelayConnection, idem: string): void {
  const item = vault.outboxGet(idem);
  if (item) conn.mailbox.adoptSends([item]);
}

/**
 * As handOffQueued, for the caller that kept the item it queued (queueForRelay): the outbox is
 * asked only whether the entry is still there (a point read; a deletion meanwhile took it out),
 * not read back and unsealed.
 */
export function handOffKept(vault: Vault, conn: RelayConnection, item: OutboxItem): void {
  if (vault.outboxHas(item.id)) conn.mailbox.adoptSends([item]);
}

/**
 * Hands texts to the relay once what they stored is durable. A text commits without waiting for
 * the disk (its message, timer, outbox entry and ratchet step) and queues its hand-off here; one
 * fsync off the main thread (`sync`) then covers every commit made before it, and the hand-offs
 * queued before it run, in order. Texts that commit while an fsync runs wait for the next one:
 * one fsync for many texts, none on the main thread, and nothing reaches the relay before it is
 * durable. When the sync or a hand-off fails (the vault locked meanwhile), the entries concerned
 * stay in the outbox, which the next relay client sends at its start (the next unlock). A batch
 * whose sync failed is dropped and the next one asks `sync` again: after a failed fsync the
 * vault refuses every later sync until the lock (WriteGate.durabilityLost), so none goes.
 */
export class DurableHandoff {
  private waiting: (() => void)[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly sync: () => Promise<void>) {}

  /** True while a hand-off waits or runs. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Runs `handOff` once every commit made before this call is durable, after the hand-offs queued before it. */
  after(handOff: () => void): void {
    this.waiting.push(handOff);
    this.running ??= this.pump();
  }

  /** Resolves when no hand-off waits or runs (at once when none does). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async pump(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting;
        this.waiting = [];
        try {
          await this.sync();
        } catch {
          continue; // not durable: none of the batch may go (their entries wait in the outbox)
        }
        for (const handOff of batch) {
          try {
            handOff();
          } catch {
            // this one waits in the outbox for the next client; the others go on
          }
        }
      }
    } finally {
      // In the same turn as the last check of `waiting`: a hand-off queued after it starts a new pump.
      this.running = undefined;
    }
  }
}
