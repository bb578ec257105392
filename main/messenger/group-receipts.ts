// Receipts in groups (docs/messaging.md "Group receipts"). Each member tells a text's
// author, over their 1:1 session, that the text was delivered and later read ('group-receipt'
// content naming content ids, like a 1:1 receipt). The author keeps, sealed per message, whom it
// was sent to and when each of them had it and read it: the UI shows "read by 2 of 3" and the
// details. A message's own state stays 'sent' (the relay took it once for everyone).
//
// This side of a member also keeps, per received text, who wrote it and its content id (for the
// read receipt), and reads the group's unread count and last activity for the chat list.
import { ApiError, type GroupActivity, type GroupHistoryPage, type GroupInfo, type GroupMessage, type GroupReceiptCounts, type GroupReceiptDetails, type ParamsOf } from '../../shared/api.ts';
import { MAX_RECEIPT_IDS, type E2e, type GroupReceiptContent } from '../e2e/index.ts';
import { VaultBusy } from '../vault/errors.ts';
import type { Vault } from '../vault/index.ts';
import { recordOf } from './attachment-store.ts';
import type { RelayConnection } from './connection.ts';
import { GroupReceiptBatch } from './group-receipt-batch.ts';
import { foldGroupReceipts, GROUP_SENT, readJson, utf8, type SentRecord } from './group-receipt-log.ts';
import { incomingMessageId } from './ids.ts';
import { keepReceiptIds, keptReceiptIds, sendInChunks } from './receipt-batch.ts';
import { sendGroupReceipt } from './receipt-resend.ts';
import { unreadIncomingBackFrom, type ReceiptOutcome } from './receipts.ts';

export { GROUP_SENT, storeGroupReceipt } from './group-receipt-log.ts';
/** Sealed kv: received group message id -> IncomingRecord, until it is read. */
export const GROUP_INCOMING = 'group-receipts-incoming';
/** Sealed kv: "type\nauthor\ngroup" -> JSON string[]: receipts that found no connection, sent after the next unlock. */
export const KEPT_GROUP_RECEIPTS = 'group-receipts-kept';

interface IncomingRecord {
  groupId: string;
  from: string;
  contentId: string;
}

/**
 * A member's delivered receipt to one author in one group waits while that author's texts keep
 * arriving and goes once none came for this long, or for twice the longest pause between them if
 * that is longer (up to the gap below; half the gap while it holds only the burst's first text):
 * one receipt per member per burst, however long the burst takes to arrive (group-receipt-batch.ts).
 */
const DELIVERED_QUIET_MS = 1500;
/** ... but a stream that never pauses gets a receipt this long after its first id held. */
const DELIVERED_MAX_HOLD_MS = 60_000;
/**
 * A member's next delivered receipt to the same author waits at least this long per member of
 * the group after its previous one (DELIVERED_QUIET_MS to MAX_DELIVERED_GAP_MS): texts spaced just
 * past the quiet time then draw about 10 delivered receipts a second from a group of any size.
 */
const DELIVERED_GAP_PER_MEMBER_MS = 100;
const MAX_DELIVERED_GAP_MS = 20_000;
/**
 * Receipts stored within this long are folded and announced together (one `group` event: the open
 * chat reloads on each). Each fold rewrites every record a receipt touched (a member's receipt
 * names every text since its last one) and the open chat rereads its page, so a busy group's
 * author pays per fold, not per receipt: once a second is as fresh as a count needs to be. A read
 * (history, details) folds first, so nothing it shows is older than the log.
 */
const ANNOUNCE_MS = 1000;
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

export class GroupReceipts {
  /**
   * Delivered receipts waiting for their batch: "author\ngroup" -> content ids; the batch goes
   * after the receive's transaction committed, once that author's texts in that group paused for
   * DELIVERED_QUIET_MS or their pace (at most DELIVERED_MAX_HOLD_MS after its first id), and not sooner than a
   * gap after the previous one that grows with the group (group-receipt-batch.ts).
   */
  private readonly delivered = new GroupReceiptBatch(
    (key, ids) => {
      const [author, groupId] = key.split('\n') as [string, string];
      this.sendChunk(author, groupId, 'delivered', ids);
    },
    { quietMs: DELIVERED_QUIET_MS, maxHoldMs: DELIVERED_MAX_HOLD_MS },
  );
  private announceTimer: NodeJS.Timeout | undefined;
  /** Receipt sends waiting in the send queue or running (a lock waits for them, bounded). */
  private readonly queued = new Set<Promise<void>>();

  constructor(private readonly d: GroupReceiptDeps) {}

  // ---------------------------------------------------------------- hooks of groups.ts

  /** An own text was stored and is being handed to `to` (inside the send's vault activity). */
  sent(messageId: string, groupId: string, to: readonly string[]): void {
    const rec: SentRecord = { groupId, to: [...to].sort(), delivered: {}, read: {} };
    this.d.vault().kvSet(GROUP_SENT, messageId, utf8(JSON.stringify(rec)));
  }

  /**
   * A member's text was stored (`members`: the group's size then; `backlog`: it came with the
   * backlog the relay kept for this device): kept for the read receipt, and a delivered receipt
   * goes out once the author's texts pause.
   */
  received(m: { id: string; groupId: string; from: string; contentId: string; members: number; backlog?: boolean }): void {
    const rec: IncomingRecord = { groupId: m.groupId, from: m.from, contentId: m.contentId };
    this.d.vault().kvSet(GROUP_INCOMING, m.id, utf8(JSON.stringify(rec)));
    const gap = Math.min(MAX_DELIVERED_GAP_MS, Math.max(DELIVERED_QUIET_MS, m.members * DELIVERED_GAP_PER_MEMBER_MS));
    this.delivered.add(`${m.from}\n${m.groupId}`, m.contentId, gap, m.backlog === true);
  }

  /** A receipt of a member was logged (inbound.ts): folded a moment later with the others, and the groups whose counts changed announced. */
  stored(_groupId: string): void {
    this.announceTimer ??= setTimeout(() => {
      this.announceTimer = undefined;
      try {
        this.fold(this.d.vault());
      } catch {
        // Locked meanwhile: folded before the next read.
      }
    }, ANNOUNCE_MS);
  }

  /** The `group` event for the group now. */
  private announce(groupId: string): void {
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
    this.fold(vault);
    return { ...page, messages: page.messages.map((m) => this.withCounts(vault, m)) };
  }

  withCounts(vault: Vault, m: GroupMessage): GroupMessage {
    if (m.direction !== 'out' || m.system) return m;
    const rec = readJson<SentRecord>(vault, GROUP_SENT, m.id);
    return rec ? { ...m, receipts: counts(rec) } : m;
  }

  details(groupId: string, messageId: string): GroupReceiptDetails {
    this.d.groups.infoOf(groupId);
    const vault = this.d.vault();
    this.fold(vault);
    const rec = readJson<SentRecord>(vault, GROUP_SENT, messageId);
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
    const newest = withFileName(this.d.vault(), first.messages.at(-1));
    return { groupId: g.groupId, conversationId: g.conversationId, unread: this.unread(g.groupId, first), ...newestFields(newest) };
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
    this.announce(groupId);
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
    const job = this.d.enqueue(() => this.d.activity(async () => void (await this.send(author, { v: 1, kind: 'group-receipt', groupId, type, ids })))).catch(() => undefined);
    this.queued.add(job);
    void job.finally(() => this.queued.delete(job));
  }

  private async send(author: string, content: GroupReceiptContent): Promise<ReceiptOutcome> {
    const conn = this.d.link();
    if (!conn) {
      // Locking (the connection stopped before this left the queue): the next connection sends it.
      const vault = this.d.vault();
      if (vault.isUnlocked) keepReceiptIds(vault, KEPT_GROUP_RECEIPTS, `${content.type}\n${author}\n${content.groupId}`, content.ids);
      return 'kept';
    }
    const e2e = this.d.e2e();
    // A changed, unaccepted key gets nothing new; without a session there is no one to tell.
    if (e2e.identityStatus(author).pending || !(await e2e.hasSession(author))) return 'skipped';
    // Only texts still stored are named: one deleted while its receipt was held (delete for me,
    // expiry) had its withdraw run already, so a receipt and records naming it would stay.
    const vault = this.d.vault();
    const conv = `g${content.groupId}:${author}`;
    const ids = this.d.withIdKey((k) => content.ids.filter((cid) => vault.getMessage(incomingMessageId(k, conv, cid)) !== undefined));
    if (ids.length === 0) return 'skipped';
    // Recorded in the commit of its outbox entry: deleting a text it names withdraws it (receipt-resend.ts).
    await sendGroupReceipt(vault, e2e, conn, author, { ...content, ids }, (fn) => this.d.withIdKey(fn));
    return 'sent';
  }

  /** Hands the held delivered receipts to the send queue now (lock, sync). */
  flushHeld(): void {
    this.delivered.flushAll();
  }

  /** Resolves once every receipt send queued so far has run (it is then in the sealed outbox, or kept). */
  async settled(): Promise<void> {
    await Promise.all([...this.queued]);
  }

  /**
   * After the connection opened at unlock, in the send queue: the receipts kept at the last lock
   * go, naming only texts still stored (as ReceiptSender.resendKept, receipts.ts).
   */
  async resendKept(): Promise<void> {
    const vault = this.d.vault();
    for (const key of vault.kvKeys(KEPT_GROUP_RECEIPTS)) {
      const [type, author, groupId] = key.split('\n') as [string, string | undefined, string | undefined];
      let kept = false;
      if (author !== undefined && groupId !== undefined && (type === 'delivered' || type === 'read')) {
        // send names only texts still stored.
        const ids = keptReceiptIds(vault, KEPT_GROUP_RECEIPTS, key);
        for (let i = 0; i < ids.length; i += MAX_RECEIPT_IDS) {
          kept = (await this.send(author, { v: 1, kind: 'group-receipt', groupId, type, ids: ids.slice(i, i + MAX_RECEIPT_IDS) })) === 'kept' || kept;
        }
      }
      if (!kept) vault.kvDelete(KEPT_GROUP_RECEIPTS, key);
    }
  }

  /** No receipt waits for its batch (sync). */
  idle(): boolean {
    return this.delivered.idle();
  }

  /**
   * At lock, once the connection stopped: what is still held goes to the send queue, which keeps
   * it for the next connection; the log is folded at the next read.
   */
  stop(): void {
    this.delivered.stop();
    if (this.announceTimer) clearTimeout(this.announceTimer);
    this.announceTimer = undefined;
  }

  /**
   * Receipts logged and not folded yet go into the records (before any read of them), and the
   * groups whose counts changed are announced. During an import's long transaction they wait.
   */
  private fold(vault: Vault): void {
    let changed: Set<string>;
    try {
      changed = foldGroupReceipts(vault);
    } catch (e) {
      if (e instanceof VaultBusy) return;
      throw e;
    }
    for (const g of changed) this.announce(g);
  }
}

function counts(rec: SentRecord): GroupReceiptCounts {
  return {
    delivered: rec.to.filter((h) => rec.delivered[h] !== undefined).length,
    read: rec.to.filter((h) => rec.read[h] !== undefined).length,
    of: rec.to.length,
  };
}

/** A group's newest message with the name of the file it carries, if any (the chat list's line). */
export type NewestGroupMessage = GroupMessage & { file?: string };

/**
 * The newest message with its file's name (a group file is stored as a 1:1 attachment record of
 * its message, group-files.ts), so a file without a caption reads "File: name" in the chat list
 * as a 1:1 one does (conversations.ts previewMarks), not "@alice: ".
 */
export function withFileName(vault: Vault, m: GroupMessage | undefined): NewestGroupMessage | undefined {
  if (!m || m.system || m.deleted) return m;
  const name = recordOf(vault, m.id)?.name;
  return name ? { ...m, file: name } : m;
}

/** The entry's fields that follow the newest message. */
export function newestFields(newest: NewestGroupMessage | undefined): Pick<GroupActivity, 'lastActivity' | 'lastMessage'> {
  return {
    lastActivity: newest ? Math.max(0, Math.floor(newest.receivedAt)) : 0,
    lastMessage: newest
      ? {
          // A tombstone reads as in a 1:1 chat's line (conversations.ts).
          text: newest.deleted ? 'This message was deleted' : newest.text.slice(0, 200),
          direction: newest.direction,
          sentAt: newest.sentAt,
          state: newest.state,
          sender: newest.sender,
          ...(newest.system ? { system: true as const } : {}),
          ...(newest.deleted ? { deleted: true as const } : newest.file ? { file: newest.file.slice(0, 200) } : {}),
        }
      : null,
  };
}
