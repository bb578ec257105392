// When disappearing messages expire (messenger/disappearing.ts). The index of expiry times lives
// only in memory: it is rebuilt at unlock from the sealed per-message timer records (there is no
// plaintext expiry column; docs/threat-model.md). At unlock everything already expired is deleted
// before the vault counts as unlocked; while unlocked one timer is armed for the next expiry.
import type { HistoryAnchor, HistoryPage, SearchResult } from '../../shared/api.ts';
import type { StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { deleteMessagesInSlicesForMe } from './deletion-slices.ts';
import { ID_KEY_SECRET, MESSAGE_TIMERS, textIdempotencyKey } from './ids.ts';
import { conversationTimer, hitsNotExpired, messageTimer, pageAsShown, recordMessageTimer, startCountdown } from './disappearing.ts';

export interface Expiring {
  id: string;
  conversationId: string;
  expiresAt: number;
}

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days; a 4-week timer is longer): the timer re-arms. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Every message whose countdown runs, from the sealed records. */
export function loadExpiring(vault: Vault): Expiring[] {
  const out: Expiring[] = [];
  for (const id of vault.kvKeys(MESSAGE_TIMERS)) {
    const t = messageTimer(vault, id);
    if (t?.expiresAt !== null && t !== undefined) out.push({ id, conversationId: t.conversationId, expiresAt: t.expiresAt });
  }
  return out;
}

function byConversation(items: readonly Expiring[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const e of items) {
    const list = map.get(e.conversationId);
    if (list) list.push(e.id);
    else map.set(e.conversationId, [e.id]);
  }
  return map;
}

/** The stored messages among `ids` (one deleted meanwhile is skipped). */
export function storedMessages(vault: Vault, ids: readonly string[]): StoredMessage[] {
  return ids.map((id) => vault.getMessage(id)).filter((m): m is StoredMessage => m !== undefined);
}

/**
 * At unlock, before anything can be shown: deletes every message whose expiry has passed (while
 * locked, or while the app was not running) exactly as "delete for me" does (re-sealed segments,
 * truncated WAL, outbox entry), and returns the ones still counting down. Our sends among them
 * the relay may still hold are withdrawn once the connection is up (a withdraw in the outbox).
 * Search is opened after this, so its snapshot replays the deletions. In slices (a burst of
 * thousands must not hold the event loop): the first page still waits for all of them.
 */
export async function purgeExpiredAtUnlock(vault: Vault, now: number): Promise<Expiring[]> {
  const all = loadExpiring(vault);
  const due = all.filter((e) => e.expiresAt <= now);
  if (due.length > 0) {
    const idKey = vault.getAccountSecret(ID_KEY_SECRET);
    try {
      // Without an id key nothing was ever sent, so no outbox entry can name these messages.
      const sendIdOf = (contentId: string): string => (idKey ? textIdempotencyKey(idKey, contentId) : '');
      // Our sends the relay may still hold get a withdraw in the sealed outbox (deletion.ts), sent once connected.
      for (const [conversationId, ids] of byConversation(due)) await deleteMessagesInSlicesForMe(vault, sendIdOf, conversationId, storedMessages(vault, ids));
    } finally {
      idKey?.fill(0);
    }
  }
  return all.filter((e) => e.expiresAt > now);
}

/**
 * One timer for the earliest expiry. `onDue` deletes what is due (grouped by conversation); the
 * timer is armed again afterwards, and when a message with an earlier expiry is added.
 */
export class ExpiryScheduler {
  private readonly pending = new Map<string, Expiring>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly onDue: (byConversation: Map<string, string[]>) => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {}

  add(items: readonly Expiring[]): void {
    for (const e of items) this.pending.set(e.id, e);
    const earliest = Math.min(...items.map((e) => e.expiresAt));
    if (earliest < this.armedFor) this.arm(earliest);
  }

  /** Number of messages counting down (tests). */
  get size(): number {
    return this.pending.size;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private arm(at: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(() => void this.fire(), Math.min(MAX_DELAY_MS, Math.max(0, at - this.now())));
    this.timer.unref();
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.now();
    const due: Expiring[] = [];
    for (const e of this.pending.values()) if (e.expiresAt <= now) due.push(e);
    for (const e of due) this.pending.delete(e.id);
    try {
      if (due.length > 0) await this.onDue(byConversation(due));
    } catch {
      // Locked meanwhile (or the vault failed): the records stay sealed and the next unlock purges them.
    }
    let next = Number.POSITIVE_INFINITY;
    for (const e of this.pending.values()) next = Math.min(next, e.expiresAt);
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  }
}

/** What the facade lends the timers: deleting (as "delete for me", announced), vault activities, and the message event. */
export interface TimerSteps {
  /** In slices; expired messages not yet deleted are hidden from pages, search and the chat list meanwhile. */
  deleteExpired(conversationId: string, messages: readonly StoredMessage[]): void | Promise<void>;
  activity<T>(fn: () => Promise<T>): Promise<T>;
  announce(message: StoredMessage): void;
}

/** The disappearing-message timers of one unlocked session (made after purgeExpiredAtUnlock, stopped by lock). */
export class DisappearingTimers {
  private readonly scheduler: ExpiryScheduler;

  constructor(
    private readonly vault: Vault,
    counting: readonly Expiring[],
    private readonly steps: TimerSteps,
  ) {
    this.scheduler = new ExpiryScheduler((due) =>
      steps.activity(async () => {
        if (!vault.isUnlocked) return;
        for (const [conversationId, ids] of due) {
          const messages = storedMessages(vault, ids);
          if (messages.length > 0) await steps.deleteExpired(conversationId, messages);
        }
      }),
    );
    if (counting.length > 0) this.scheduler.add(counting);
  }

  /** The timer a text sent now carries (seconds), or undefined when off. */
  timerForSend(conversationId: string): number | undefined {
    const s = conversationTimer(this.vault, conversationId).seconds;
    return s > 0 ? s : undefined;
  }

  /** A text we sent under `seconds`: its countdown starts at `at` (in the same activity as its store). */
  sent(messageId: string, conversationId: string, seconds: number | undefined, at: number): void {
    if (seconds === undefined) return;
    const t = recordMessageTimer(this.vault, messageId, conversationId, seconds, at);
    if (t.expiresAt !== null) this.scheduler.add([{ id: messageId, conversationId, expiresAt: t.expiresAt }]);
  }

  /** A group text received under `seconds`: its countdown starts when first shown, as a 1:1 text's (shownStored). */
  received(messageId: string, conversationId: string, seconds: number | undefined): void {
    if (seconds === undefined || seconds <= 0) return;
    recordMessageTimer(this.vault, messageId, conversationId, seconds, null);
  }

  /**
   * groupHistory's hook: with `start` (the page is shown: the contract's groupHistory) the
   * received texts whose countdown has not started start it now; returns the timer of every
   * message of the page that has one (the caller leaves out the expired ones and shows the rest's
   * expiry). Internal reads (chat list, unread counts) pass start = false.
   */
  shownStored(messages: readonly StoredMessage[], start: boolean, now: number = Date.now()): Map<string, { seconds: number; expiresAt: number | null }> {
    const out = new Map<string, { seconds: number; expiresAt: number | null }>();
    for (const m of messages) {
      const t = messageTimer(this.vault, m.id);
      if (!t) continue;
      const expiresAt = start && m.direction === 'in' && t.expiresAt === null ? (this.start(m.id, now) ?? null) : t.expiresAt;
      out.set(m.id, { seconds: t.seconds, expiresAt });
    }
    return out;
  }

  /** The timer a stored message was sent under (a queued one re-sent at unlock carries it again). */
  timerOf(messageId: string): number | undefined {
    return messageTimer(this.vault, messageId)?.seconds;
  }

  /**
   * historyPage's hook: the recipient's countdown starts when a message is first returned by
   * historyPage (the UI loading a page; CLI `history`), or when it is marked read (shownRead),
   * whichever comes first. Writes run as one vault activity.
   */
  async shown(page: HistoryPage, anchor: HistoryAnchor): Promise<HistoryPage> {
    const now = Date.now();
    const toStart = page.messages.some((m) => m.direction === 'in' && m.timerSeconds !== undefined && m.expiresAt === null);
    if (!toStart) return pageAsShown(page, anchor, now, () => undefined);
    return this.steps.activity(async () => pageAsShown(page, anchor, now, (m) => this.start(m.id, now)));
  }

  /** A received message marked read counts as shown: its countdown starts and the UI hears the expiry. */
  shownRead(m: StoredMessage): void {
    if (m.direction !== 'in') return;
    if (this.start(m.id, Date.now()) !== undefined) this.steps.announce(m);
  }

  /** Search results without expired messages. */
  filterHits(result: SearchResult): SearchResult {
    return hitsNotExpired(this.vault, result, Date.now());
  }

  stop(): void {
    this.scheduler.stop();
  }

  private start(messageId: string, now: number): number | undefined {
    const t = startCountdown(this.vault, messageId, now);
    if (!t || t.expiresAt === null) return undefined;
    this.scheduler.add([{ id: messageId, conversationId: t.conversationId, expiresAt: t.expiresAt }]);
    return t.expiresAt;
  }
}
