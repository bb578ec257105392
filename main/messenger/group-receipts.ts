// Receipts in groups (docs/messaging.md "Group receipts"). Each member tells a text's
// author, over their 1:1 session, that the text was delivered and later read ('group-receipt'
// content naming content ids, like a 1:1 receipt). The author keeps, sealed per message, whom it
// was sent to and when each of them had it and read it: the UI shows "read by 2 of 3" and the
// details. A message's own state stays 'sent' (the relay took it once for everyone).
//
// This side of a member also keeps, per received text, who wrote it and its content id (for the
// read receipt), and reads the group's unread count and last activity for the chat list.
import { ApiError, type GroupActivity, type GroupHistoryPage, type GroupInfo, type GroupMessage, type GroupReceiptCounts, type GroupReceiptDetails, type ParamsOf } from '../../shared/api.ts';
import { encodeEnvelope, type E2e, type GroupReceiptContent } from '../e2e/index.ts';
import type { Vault } from '../vault/index.ts';
import type { RelayConnection } from './connection.ts';
import { outgoingMessageId, receiptIdempotencyKey } from './ids.ts';
import { ReceiptBatch, sendInChunks } from './receipt-batch.ts';
import { unreadIncomingBackFrom } from './receipts.ts';

/** Sealed kv: own group message id -> SentRecord. */
export const GROUP_SENT = 'group-receipts-sent';
/** Sealed kv: received group message id -> IncomingRecord, until it is read. */
export const GROUP_INCOMING = 'group-receipts-incoming';

interface SentRecord {
  groupId: string;
  /** The members it was handed to (the "of" in "read by 2 of 3"). */
  to: string[];
  delivered: Record<string, number>;
  read: Record<string, number>;
}
interface IncomingRecord {
  groupId: string;
  from: string;
  contentId: string;
}

/** A member's delivered receipts to one author go out together, this long after the first. */
const DELIVERED_BATCH_MS = 1000;
/** How far back an unread count looks (a group never opened shows at most this many). */
const MAX_UNREAD_SCAN = 5000;
/** History read per step of the unread count: the list asks often, and mostly the newest few decide. */
const UNREAD_PAGE = 50;

export interface GroupReceiptDeps {
  vault(): Vault;
  e2e(): E2e;
  /** The connection as it is: receipts go to its sealed outbox and leave when it is ready. */
  link(): RelayConnection | undefined;
  activity<T>(fn: () => Promise<T>): Promise<T>;
  /** The messenger's send queue (one send at a time, receipts behind the queued texts). */
  enqueue(fn: () => Promise<void>): Promise<void>;
  withIdKey<T>(fn: (idKey: Uint8Array) => T): T;
  /** groups.ts GroupService's reading side (named here, not imported: groups.ts reaches this module through the deletion path). */
  groups: { list(): GroupInfo[]; infoOf(groupId: string): GroupInfo; history(p: ParamsOf<'groupHistory'>): GroupHistoryPage };
  /** The `group` event: the open chat reloads. */
  changed(info: GroupInfo): void;
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
function readJson<T>(vault: Vault, ns: string, key: string): T | undefined {
  const raw = vault.kvGet(ns, key);
  return raw ? (JSON.parse(Buffer.from(raw).toString('utf8')) as T) : undefined;
}

/**
 * A member's receipt arriving over the 1:1 session (inside its receive transaction: vault writes
 * only). Applies only to own messages of that group that were sent to this member; the first
 * time counts. Returns the group whose receipts changed.
 */
export function storeGroupReceipt(vault: Vault, from: string, content: GroupReceiptContent, withIdKey: GroupReceiptDeps['withIdKey'], now = Date.now()): string | undefined {
  let changed = false;
  const ids = withIdKey((k) => content.ids.map((cid) => outgoingMessageId(k, cid)));
  for (const id of ids) {
    const rec = readJson<SentRecord>(vault, GROUP_SENT, id);
    if (!rec || rec.groupId !== content.groupId || !rec.to.includes(from)) continue;
    // Read implies delivered (a read receipt may overtake the delivered one).
    const before = JSON.stringify(rec);
    rec.delivered[from] ??= now;
    if (content.type === 'read') rec.read[from] ??= now;
    if (JSON.stringify(rec) === before) continue;
    vault.kvSet(GROUP_SENT, id, utf8(JSON.stringify(rec)));
    changed = true;
  }
  return changed ? content.groupId : undefined;
}

export class GroupReceipts {
  /**
   * Delivered receipts waiting for their batch: "author\ngroup" -> content ids; the batch goes
   * after the receive's transaction committed, DELIVERED_BATCH_MS after its first id. Every
   * member answers every text, so an author's receipt work grows with the group's size: the
   * wait bounds it to one receipt per member per moment, however fast texts come (bench/groups).
   */
  private readonly delivered = new ReceiptBatch(
    (key, ids) => {
      const [author, groupId] = key.split('\n') as [string, string];
      this.sendChunk(author, groupId, 'delivered', ids);
    },
    0,
    DELIVERED_BATCH_MS,
  );

  constructor(private readonly d: GroupReceiptDeps) {}

  // ---------------------------------------------------------------- hooks of groups.ts

  /** An own text was stored and is being handed to `to` (inside the send's vault activity). */
  sent(messageId: string, groupId: string, to: readonly string[]): void {
    const rec: SentRecord = { groupId, to: [...to].sort(), delivered: {}, read: {} };
    this.d.vault().kvSet(GROUP_SENT, messageId, utf8(JSON.stringify(rec)));
  }

  /** A member's text was stored: kept for the read receipt, and a delivered receipt goes out shortly. */
  received(m: { id: string; groupId: string; from: string; contentId: string }): void {
    const rec: IncomingRecord = { groupId: m.groupId, from: m.from, contentId: m.contentId };
    this.d.vault().kvSet(GROUP_INCOMING, m.id, utf8(JSON.stringify(rec)));
    this.delivered.add(`${m.from}\n${m.groupId}`, m.contentId);
  }

  /** A receipt of a member was stored (inbound.ts): the open chat reloads. */
  stored(groupId: string): void {
    try {
      this.d.changed(this.d.groups.infoOf(groupId));
    } catch {
      // Locked meanwhile, or the group is gone: nothing to show.
    }
  }

  // ---------------------------------------------------------------- reading

  /** The counts on own texts of a history page. */
  decorate(page: GroupHistoryPage): GroupHistoryPage {
    const vault = this.d.vault();
    return { ...page, messages: page.messages.map((m) => this.withCounts(vault, m)) };
  }

  withCounts(vault: Vault, m: GroupMessage): GroupMessage {
    if (m.direction !== 'out' || m.system) return m;
    const rec = readJson<SentRecord>(vault, GROUP_SENT, m.id);
    return rec ? { ...m, receipts: counts(rec) } : m;
  }

  details(groupId: string, messageId: string): GroupReceiptDetails {
    this.d.groups.infoOf(groupId);
    const rec = readJson<SentRecord>(this.d.vault(), GROUP_SENT, messageId);
    if (!rec || rec.groupId !== groupId) throw new ApiError('UNKNOWN_MESSAGE', 'There is no such message of yours in this group.');
    const rank = (h: string) => (rec.read[h] !== undefined ? 0 : rec.delivered[h] !== undefined ? 1 : 2);
    const members = [...rec.to]
      .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
      .map((handle) => ({
        handle,
        ...(rec.delivered[handle] !== undefined ? { deliveredAt: rec.delivered[handle] } : {}),
        ...(rec.read[handle] !== undefined ? { readAt: rec.read[handle] } : {}),
      }));
    return { messageId, members };
  }

  /** A group's place in the chat list (newest message, texts from others not yet read), from its history (group-activity.ts keeps it between changes). */
  activityOf(g: { groupId: string; conversationId: string }): GroupActivity {
    const first = this.d.groups.history({ groupId: g.groupId, limit: UNREAD_PAGE });
    return { groupId: g.groupId, conversationId: g.conversationId, unread: this.unread(g.groupId, first), ...newestFields(first.messages.at(-1)) };
  }

  /** Incoming texts after the newest incoming message already read (as 1:1 unread counts). */
  private unread(groupId: string, first: GroupHistoryPage): number {
    let count = 0;
    let scanned = 0;
    let page = first;
    while (scanned < MAX_UNREAD_SCAN) {
      for (let i = page.messages.length - 1; i >= 0; i--) {
        const m = page.messages[i]!;
        if (m.direction !== 'in') continue;
        if (m.state === 'read') return count;
        if (!m.system) count++;
      }
      scanned += page.messages.length;
      if (!page.hasOlder || page.messages.length === 0) break;
      page = this.d.groups.history({ groupId, limit: UNREAD_PAGE, before: page.messages[0]!.id });
    }
    return count;
  }

  // ---------------------------------------------------------------- read marking

  /** Marks the group's incoming messages up to `upToMessageId` read and tells their authors. */
  async markRead(groupId: string, upToMessageId: string): Promise<void> {
    const byAuthor = await this.d.activity(async () => this.markReadUpTo(groupId, upToMessageId));
    for (const [author, ids] of byAuthor) sendInChunks(ids, (chunk) => this.sendChunk(author, groupId, 'read', chunk));
    // The chat list's unread count follows the event.
    this.stored(groupId);
  }

  private markReadUpTo(groupId: string, upToMessageId: string): Map<string, string[]> {
    this.d.groups.infoOf(groupId);
    const vault = this.d.vault();
    const conv = `g${groupId}`;
    const target = vault.getMessage(upToMessageId);
    if (!target || target.conversationId !== conv) throw new ApiError('UNKNOWN_MESSAGE', 'There is no such message in this group.');
    const byAuthor = new Map<string, string[]>();
    for (const m of unreadIncomingBackFrom(vault, conv, target.orderKey)) {
      vault.updateMessageState(m.id, 'read');
      const rec = readJson<IncomingRecord>(vault, GROUP_INCOMING, m.id);
      if (!rec) continue; // a membership line: no one to tell
      vault.kvDelete(GROUP_INCOMING, m.id); // read is final
      byAuthor.set(rec.from, [rec.contentId, ...(byAuthor.get(rec.from) ?? [])]);
    }
    return byAuthor;
  }

  // ---------------------------------------------------------------- sending

  private sendChunk(author: string, groupId: string, type: 'delivered' | 'read', ids: string[]): void {
    void this.d.enqueue(() => this.d.activity(() => this.send(author, { v: 1, kind: 'group-receipt', groupId, type, ids }))).catch(() => undefined);
  }

  private async send(author: string, content: GroupReceiptContent): Promise<void> {
    const conn = this.d.link();
    const e2e = this.d.e2e();
    // A changed, unaccepted key gets nothing new; without a session there is no one to tell.
    if (!conn || e2e.identityStatus(author).pending || !(await e2e.hasSession(author))) return;
    const envelope = await e2e.sendContent(author, content);
    conn.mailbox.send(author, encodeEnvelope(envelope), receiptIdempotencyKey()).catch(() => undefined);
  }

  /** No receipt waits for its batch (sync). */
  idle(): boolean {
    return this.delivered.idle();
  }

  /** At lock: batches not yet sent are dropped (the author's copy shows fewer receipts). */
  stop(): void {
    this.delivered.stop();
  }
}

function counts(rec: SentRecord): GroupReceiptCounts {
  return {
    delivered: rec.to.filter((h) => rec.delivered[h] !== undefined).length,
    read: rec.to.filter((h) => rec.read[h] !== undefined).length,
    of: rec.to.length,
  };
}

/** The entry's fields that follow the newest message. */
export function newestFields(newest: GroupMessage | undefined): Pick<GroupActivity, 'lastActivity' | 'lastMessage'> {
  return {
    lastActivity: newest ? Math.max(0, Math.floor(newest.receivedAt)) : 0,
    lastMessage: newest
      ? { text: newest.text.slice(0, 200), direction: newest.direction, sentAt: newest.sentAt, state: newest.state, sender: newest.sender, ...(newest.system ? { system: true as const } : {}) }
      : null,
  };
}
