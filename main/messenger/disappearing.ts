// Disappearing messages (docs/messaging.md "Disappearing messages"): a timer per
// conversation, set by either side with a 'timer' content that both apply under one rule; each
// text carries the timer it was sent under; its countdown starts at send (sender) or when first
// shown (recipient); expiry deletes it exactly as "delete for me" does (deletion.ts).
//
// Everything here is kept sealed in the vault kv (no plaintext index): the conversation's timer,
// and per message its timer, expiry time and conversation. The expiry index is rebuilt in memory
// from those records at unlock (expiry.ts).
import { ApiError, type HistoryAnchor, type HistoryPage, type Message, type SearchResult } from '../../shared/api.ts';
import { isDisappearingSeconds } from '../../shared/api/disappearing.ts';
import type { TimerContent } from '../e2e/index.ts';
import type { ContactRecord, StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { readKvJson, writeKvJson } from './kv-json.ts';
import { conversationIdOf, MESSAGE_TIMERS, TIMER_CHANGES } from './ids.ts';

/** Sealed kv namespace: conversation id -> JSON TimerSetting. */
export const CONVERSATION_TIMERS = 'messenger-conversation-timers';

/** A conversation's timer and the change that set it: `at` (sender's clock, ms) and `by` (sender's handle) order changes. */
export interface TimerSetting {
  seconds: number;
  at: number;
  by: string;
}

export const TIMER_NEVER_SET: TimerSetting = { seconds: 0, at: 0, by: '' };

/**
 * The convergence rule both sides apply: of two changes, the one with the larger (at, by,
 * seconds) wins, compared in that order. It is a total order, so "keep the maximum" is
 * commutative, associative and idempotent: whatever order changes arrive in, both devices end on
 * the same setting (test/messaging/disappearing-converge.property.test.ts).
 */
export function laterChange(a: TimerSetting, b: TimerSetting): TimerSetting {
  if (a.at !== b.at) return a.at > b.at ? a : b;
  if (a.by !== b.by) return a.by > b.by ? a : b;
  return a.seconds >= b.seconds ? a : b;
}

/** A message's timer: the seconds it was sent under, when it expires (null: countdown not started) and its conversation. */
export interface MessageTimer {
  seconds: number;
  expiresAt: number | null;
  conversationId: string;
}

const isTime = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/**
 * Per unlocked vault: each conversation's timer as last read or written, so a send does not
 * open its sealed record every time. Kept only while the vault's writeEpoch stays the same: it
 * changes whenever writes may have been undone (a rollback), and then everything is read anew.
 * storeTimer is the only writer of CONVERSATION_TIMERS.
 */
const knownTimers = new WeakMap<Vault, { epoch: number; byConversation: Map<string, TimerSetting> }>();

function timersOf(vault: Vault): Map<string, TimerSetting> {
  const epoch = vault.writeEpoch();
  let known = knownTimers.get(vault);
  if (known?.epoch !== epoch) knownTimers.set(vault, (known = { epoch, byConversation: new Map() }));
  return known.byConversation;
}

function storeTimer(vault: Vault, conversationId: string, setting: TimerSetting): void {
  writeKvJson(vault, CONVERSATION_TIMERS, conversationId, setting);
  timersOf(vault).set(conversationId, setting);
}

export function conversationTimer(vault: Vault, conversationId: string): TimerSetting {
  const known = timersOf(vault);
  const hit = known.get(conversationId);
  if (hit) return hit;
  const v = readKvJson(vault, CONVERSATION_TIMERS, conversationId) as Partial<TimerSetting> | undefined;
  const setting = !v || !isDisappearingSeconds(v.seconds) || !isTime(v.at) || typeof v.by !== 'string' ? TIMER_NEVER_SET : { seconds: v.seconds, at: v.at, by: v.by };
  known.set(conversationId, setting);
  return setting;
}

export function messageTimer(vault: Vault, messageId: string): MessageTimer | undefined {
  const v = readKvJson(vault, MESSAGE_TIMERS, messageId) as Partial<MessageTimer> | undefined;
  if (!v || !isDisappearingSeconds(v.seconds) || v.seconds === 0 || typeof v.conversationId !== 'string') return undefined;
  if (v.expiresAt !== null && !isTime(v.expiresAt)) return undefined;
  return { seconds: v.seconds, expiresAt: v.expiresAt, conversationId: v.conversationId };
}

/**
 * The conversation's newest message not past its expiry (the chat list's line): expired ones
 * wait for their deletion's slices (a burst of expiries), never shown meanwhile.
 */
export function newestNotExpired(vault: Vault, conversationId: string, now: number): StoredMessage | undefined {
  const PAGE = 16;
  // The newest alone first: it is almost always the answer, and each message of a page is a
  // sealed segment opened (each received one is its own segment in a catch-up).
  let size = 1;
  let before: number | undefined;
  for (;;) {
    const page = vault.pageMessages(conversationId, { limit: size, ...(before !== undefined ? { before } : {}) });
    for (let i = page.length - 1; i >= 0; i--) {
      const m = page[i] as StoredMessage;
      const t = messageTimer(vault, m.id);
      if (!(t && t.expiresAt !== null && t.expiresAt <= now)) return m;
    }
    if (page.length < size) return undefined;
    before = (page[0] as StoredMessage).orderKey;
    size = PAGE;
  }
}

/** Records the timer a message was stored under; a sent one's countdown starts now (`startAt`), a received one's when shown. */
export function recordMessageTimer(vault: Vault, messageId: string, conversationId: string, seconds: number, startAt: number | null): MessageTimer {
  const t: MessageTimer = { seconds, expiresAt: startAt === null ? null : startAt + seconds * 1000, conversationId };
  writeKvJson(vault, MESSAGE_TIMERS, messageId, t);
  return t;
}

/** Starts a received message's countdown (first shown); returns its expiry when it was started now. */
export function startCountdown(vault: Vault, messageId: string, now: number): MessageTimer | undefined {
  const t = messageTimer(vault, messageId);
  if (!t || t.expiresAt !== null) return undefined;
  return recordMessageTimer(vault, messageId, t.conversationId, t.seconds, now);
}

/** The message as the API shows it, with its timer, expiry and timer-change line (if any). */
export function withTimer(vault: Vault, view: Message): Message {
  const change = readKvJson(vault, TIMER_CHANGES, view.id) as { seconds?: unknown } | undefined;
  if (change && isDisappearingSeconds(change.seconds)) return { ...view, timerChange: { seconds: change.seconds } };
  const t = messageTimer(vault, view.id);
  return t && isDisappearingSeconds(t.seconds) ? { ...view, timerSeconds: t.seconds, expiresAt: t.expiresAt } : view;
}

/** The timer-change line of a stored message, if it is one (conversation summaries). */
export function timerChangeOf(vault: Vault, messageId: string): number | undefined {
  const change = readKvJson(vault, TIMER_CHANGES, messageId) as { seconds?: unknown } | undefined;
  return change && isDisappearingSeconds(change.seconds) ? change.seconds : undefined;
}

/**
 * Our own change: it always takes effect here (its `at` is moved past the current one's if our
 * clock is behind), is stored as a system line (queued, sent like a text) and returned with the
 * content to send. Runs inside a vault activity.
 */
export function storeOwnTimerChange(
  vault: Vault,
  change: { messageId: string; conversationId: string; contentId: string; seconds: number; now: number; handle: string },
): { content: TimerContent; message: StoredMessage } {
  const current = conversationTimer(vault, change.conversationId);
  const at = Math.max(change.now, current.at + 1);
  return vault.transaction(() => {
    storeTimer(vault, change.conversationId, { seconds: change.seconds, at, by: change.handle });
    writeKvJson(vault, TIMER_CHANGES, change.messageId, { seconds: change.seconds });
    const [message] = vault.appendMessages([
      { id: change.messageId, conversationId: change.conversationId, direction: 'out', sender: 'self', sentAt: at, receivedAt: change.now, text: '', state: 'queued' },
    ]);
    if (!message) throw new Error('the vault did not store the timer change');
    return { content: { v: 1, kind: 'timer', id: change.contentId, sentAt: at, seconds: change.seconds }, message };
  });
}

/**
 * A contact's change, inside e2e.receiveContent (vault writes only). Applied under laterChange;
 * a change that loses (an older one arriving after a newer one) changes nothing and is not
 * shown, so both sides' histories show only the changes that took effect. `id` is the line's
 * stored id (incomingMessageId of the content id): a redelivery finds the stored line. Returns the line and whether it is new, or undefined when it lost.
 */
export function storeInboundTimerChange(
  vault: Vault,
  contact: ContactRecord,
  content: TimerContent,
  id: string,
  now: number,
): { message: StoredMessage; isNew: boolean } | undefined {
  const existing = vault.getMessage(id);
  if (existing) return { message: existing, isNew: false };
  const conversationId = conversationIdOf(contact.id);
  const current = conversationTimer(vault, conversationId);
  const incoming: TimerSetting = { seconds: content.seconds, at: content.sentAt, by: contact.handle };
  if (laterChange(current, incoming) !== incoming) return undefined;
  storeTimer(vault, conversationId, incoming);
  writeKvJson(vault, TIMER_CHANGES, id, { seconds: content.seconds });
  const [message] = vault.appendMessages([
    { id, conversationId, direction: 'in', sender: contact.id, sentAt: content.sentAt, receivedAt: now, text: '', state: 'received' },
  ]);
  if (!message) throw new Error('the vault did not store the timer change');
  return { message, isNew: true };
}

const expired = (m: Message, now: number): boolean => typeof m.expiresAt === 'number' && m.expiresAt <= now;

/**
 * What historyPage hands out: messages past their expiry (deleted within a second, but not yet)
 * are left out, and a jump to one is refused as if it were gone; received messages shown for the
 * first time start their countdown (`start` records it and returns the new expiry).
 */
export function pageAsShown(page: HistoryPage, anchor: HistoryAnchor, now: number, start: (m: Message) => number | undefined): HistoryPage {
  if (anchor.kind === 'around') {
    const a = page.messages.find((m) => m.id === anchor.messageId);
    if (a && expired(a, now)) throw new ApiError('UNKNOWN_MESSAGE', 'There is no such message in this conversation.');
  }
  const messages = page.messages
    .filter((m) => !expired(m, now))
    .map((m) => {
      if (m.direction !== 'in' || m.timerSeconds === undefined || m.expiresAt !== null) return m;
      const expiresAt = start(m);
      return expiresAt === undefined ? m : { ...m, expiresAt };
    });
  return { ...page, messages };
}

/** Search results without messages past their expiry (the index drops them when they are deleted). */
export function hitsNotExpired(vault: Vault, result: SearchResult, now: number): SearchResult {
  const hits = result.hits.filter((h) => {
    const t = messageTimer(vault, h.messageId);
    return !(t && t.expiresAt !== null && t.expiresAt <= now);
  });
  return hits.length === result.hits.length ? result : { ...result, hits };
}
