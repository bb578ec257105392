// The part of a 1:1 conversation a chat keeps in memory (screens/Chat.tsx): a window of messages,
// paged in both directions, with whether older and newer ones exist beyond it. Pure functions,
// unit-tested in test/renderer/history-window.test.ts. Every page is applied to the window as it
// is when the page lands, not as it was when the request left: a reload (another search hit or
// quote to show) can replace the window while a page is in flight, and both can land in one
// tick, before React renders, so nothing here reads what the page rendered last.
import type { HistoryPage, Message } from '../../../shared/api.ts';
import { mergeMessages } from '../logic.ts';

export interface HistoryWindow {
  /** Ascending by orderKey, contiguous: no message between two shown ones is left out. */
  readonly messages: Message[];
  readonly hasOlder: boolean;
  readonly hasNewer: boolean;
}

export const EMPTY_HISTORY: HistoryWindow = { messages: [], hasOlder: false, hasNewer: false };

/** The window a loaded page (newest, or around a message) starts: the page itself. */
export function fromPage(page: HistoryPage): HistoryWindow {
  return { messages: page.messages, hasOlder: page.hasOlder, hasNewer: page.hasNewer };
}

/**
 * The window once an older page, asked for `before` the message then shown first, landed: put
 * before, the newest messages dropped past `max` (they exist again: hasNewer). If the window no
 * longer starts at `before` (a reload replaced it meanwhile), the page would be shown before a
 * gap, so the window stays as it is (the same object).
 */
export function withOlderPage(w: HistoryWindow, before: string, page: HistoryPage, max: number): HistoryWindow {
  if (w.messages[0]?.id !== before) return w;
  const merged = mergeMessages(page.messages, w.messages);
  const cut = merged.length > max;
  return { messages: cut ? merged.slice(0, max) : merged, hasOlder: page.hasOlder, hasNewer: w.hasNewer || cut };
}

/** As withOlderPage, for a newer page asked for `after` the message then shown last. */
export function withNewerPage(w: HistoryWindow, after: string, page: HistoryPage, max: number): HistoryWindow {
  if (w.messages.at(-1)?.id !== after) return w;
  const merged = mergeMessages(w.messages, page.messages);
  const cut = merged.length > max;
  return { messages: cut ? merged.slice(merged.length - max) : merged, hasOlder: w.hasOlder || cut, hasNewer: page.hasNewer };
}

/**
 * The newest page loaded again once the page's link to the service is back (events sent while it
 * was down are lost): it replaces the window's end from its first message on, so texts that
 * arrived, states that changed and messages deleted meanwhile all show, joined to the window's
 * older part. A window that ends before the newest is left as it is (the reader's scroll loads
 * the rest); one the page does not reach (more arrived than a page holds) is marked as ending
 * before the newest, so it shows no gap.
 */
export function withNewestReloaded(w: HistoryWindow, page: HistoryPage, max: number): HistoryWindow {
  if (w.hasNewer) return w;
  const first = page.messages[0];
  const last = w.messages.at(-1);
  // Nothing shown, or nothing left at all: the page is the window.
  if (!last || !first) return fromPage(page);
  if (first.orderKey > last.orderKey && page.hasOlder) return { ...w, hasNewer: true };
  const older = w.messages.filter((m) => m.orderKey < first.orderKey);
  const joined = [...older, ...page.messages];
  const cut = joined.length > max;
  return { messages: cut ? joined.slice(joined.length - max) : joined, hasOlder: cut || (older.length > 0 ? w.hasOlder : page.hasOlder), hasNewer: false };
}

/**
 * A message that just arrived or was sent: shown at the end, unless the window ends before the
 * newest messages (hasNewer), where it would follow a gap; it comes with the pages after.
 */
export function withArrived(w: HistoryWindow, m: Message): HistoryWindow {
  return w.hasNewer ? w : { ...w, messages: mergeMessages(w.messages, [m]) };
}

/**
 * The window once the user's own message `m` was sent: it ends at the newest messages, so the user
 * sees what they sent. Where the window ended before them (a search hit or a quote far back was
 * shown), `newest` (the newest page, loaded after the send, so holding `m`) replaces it; without
 * it (not loaded, or the window had reached the newest when the send began) `m` goes as an arrival.
 */
export function withSent(w: HistoryWindow, m: Message, newest: HistoryPage | undefined): HistoryWindow {
  if (!w.hasNewer) return withArrived(w, m);
  return newest ? fromPage(newest) : w;
}

/** A window paged only backwards (an opened backup's group, screens/OpenedGroupChat.tsx). */
export interface OlderWindow<M extends { readonly id: string }> {
  readonly messages: M[];
  readonly hasOlder: boolean;
}

/**
 * An older page put before the window it was asked for (`before`: the id then shown first). A
 * page for a window that changed meanwhile (a second click's page for the same anchor, or a
 * reload around a search hit) leaves the window as it is: shown again it would repeat messages
 * or sit before a gap.
 */
export function withOlderOf<M extends { readonly id: string }>(w: OlderWindow<M>, before: string, page: { readonly messages: readonly M[]; readonly hasOlder: boolean }): OlderWindow<M> {
  if (w.messages[0]?.id !== before) return w;
  const have = new Set(w.messages.map((m) => m.id));
  return { messages: [...page.messages.filter((m) => !have.has(m.id)), ...w.messages], hasOlder: page.hasOlder };
}
