// The rest of a withdrawn receipt, acknowledged again (receipt-withdraw.ts keeps the intents): a
// 1:1 receipt to the sender of our stored messages, or a group receipt to a group text's author.
// Each intent leaves the vault in the same commit as the receipt's outbox entry (and the record a
// later deletion withdraws it by), so a lock, a crash or a missing connection (the unlock purge
// runs before the connection is up; offline mode) keeps it for the next try: after a deletion,
// after a receipt sent, and once connected after unlock. A member's group receipts are sent (and
// recorded, so they are withdrawn the same way) by sendGroupReceipt.
import { encodeEnvelope, type E2e, type GroupReceiptContent, type MessageContent } from '../e2e/index.ts';
import type { Vault } from '../vault/index.ts';
import type { RelayConnection } from './connection.ts';
import { incomingMessageId, receiptIdempotencyKey } from './ids.ts';
import { sendInChunks } from './receipt-batch.ts';
import { dropResend, dueResends, pruneReceiptRecords, recordReceipt, type DueResend } from './receipt-withdraw.ts';

/** What a resend needs of the session (SessionAccess has it; groups lend theirs). */
export interface ResendAccess {
  current(): { vault: Vault; connection: RelayConnection | undefined; registration?: { e2e: E2e } | undefined } | undefined;
}

/** Whether a receipt may go to `handle` now: a contact (1:1), key not changed unaccepted, a session. */
async function sendable(vault: Vault, e2e: E2e, r: DueResend): Promise<boolean> {
  if (r.groupId === undefined) {
    const contact = vault.findContactByHandle(r.to);
    if (!contact || contact.identityChanged) return false;
  }
  return !e2e.identityStatus(r.to).pending && (await e2e.hasSession(r.to));
}

/** One chunk of the receipt, recorded like the first one; `last`: the intent goes in the same commit. */
async function sendChunk(vault: Vault, e2e: E2e, conn: RelayConnection, r: DueResend, from: number, ids: string[], last: boolean): Promise<void> {
  const idem = receiptIdempotencyKey();
  const content: MessageContent =
    r.groupId === undefined ? { v: 1, kind: 'receipt', type: r.type, ids } : { v: 1, kind: 'group-receipt', groupId: r.groupId, type: r.type, ids };
  const messages = r.messages.slice(from, from + ids.length);
  await e2e.sendContentThen(r.to, content, (envelope) => {
    conn.mailbox.send(r.to, encodeEnvelope(envelope), idem).catch(() => undefined);
    recordReceipt(vault, idem, { to: r.to, type: r.type, ids, messages, ...(r.groupId !== undefined ? { groupId: r.groupId } : {}) });
    if (last) dropResend(vault, r.key);
  });
}

/**
 * Receipts withdrawn because a message they named was deleted: the rest of each, acknowledged
 * again (the caller runs it in the send queue, as a vault activity). Without a connection the
 * intents stay for the next connect.
 */
export async function resendWithdrawnReceipts(access: ResendAccess): Promise<void> {
  // Runs after every receipt sent (receipts.ts), as a turn of its own: a catch-up's burst of
  // receipts (one per sender, each an encrypt and a durable commit, chained through libsignal's
  // callbacks without reaching the timers) held the main thread from the first to the last, up
  // to 1.3 s for 50 senders at load 20 (bench/catchup, docs/protocol.md §12a).
  await new Promise((resolve) => setImmediate(resolve));
  const vault = access.current()?.vault;
  if (!vault?.isUnlocked) return;
  // Records of receipts the relay no longer holds go (receipt-withdraw.ts).
  pruneReceiptRecords(vault);
  for (const r of dueResends(vault)) {
    const session = access.current();
    const conn = session?.connection;
    const e2e = session?.registration?.e2e;
    if (session?.vault !== vault || !vault.isUnlocked || !conn || !e2e) return;
    if (!(await sendable(vault, e2e, r))) {
      dropResend(vault, r.key);
      continue;
    }
    const chunks: string[][] = [];
    sendInChunks(r.ids, (chunk) => chunks.push(chunk));
    let from = 0;
    for (const [i, chunk] of chunks.entries()) {
      await sendChunk(vault, e2e, conn, r, from, chunk, i === chunks.length - 1);
      from += chunk.length;
    }
  }
}

/**
 * A member's group receipt to a text's author, recorded like a 1:1 receipt (receipt-withdraw.ts)
 * in the commit of its outbox entry: deleting one of the texts it names (delete for me, expiry)
 * withdraws it where the relay still holds it, and the rest is acknowledged again.
 */
export async function sendGroupReceipt(
  vault: Vault, e2e: E2e, conn: RelayConnection, author: string, content: GroupReceiptContent, withIdKey: <T>(fn: (idKey: Uint8Array) => T) => T,
): Promise<void> {
  const idem = receiptIdempotencyKey();
  // The id each named text is stored under (groups.ts: the group's conversation and its author).
  const messages = withIdKey((k) => content.ids.map((cid) => incomingMessageId(k, `g${content.groupId}:${author}`, cid)));
  await e2e.sendContentThen(author, content, (envelope) => {
    conn.mailbox.send(author, encodeEnvelope(envelope), idem).catch(() => undefined);
    recordReceipt(vault, idem, { to: author, type: content.type, ids: content.ids, messages, groupId: content.groupId });
  });
}
