// The messages a group chat shows (screens/GroupChat.tsx): the newest page, reloaded on every
// change, joined to older pages loaded on request ("Show older messages"). Pure functions,
// unit-tested in test/renderer/group-window.test.ts. A page is applied to the window as it is when
// the page lands, not as it was when the request left: a reload and an older page can be in flight
// at once, and whichever lands second must keep what the first one put there.
import type { GroupMessage } from '../../../shared/api.ts';
import { withOlderOf, type OlderWindow } from './history-window.ts';

/**
 * The shown window after a reload of the newest page: what is shown before the page's first
 * message stays (older pages loaded earlier), the page replaces the rest. If the page starts
 * after everything shown (more new messages than a page since the last reload), the page alone,
 * so no gap is ever shown as if nothing were missing. `joined` says whether older messages stayed.
 */
export function joinNewest(shown: readonly GroupMessage[], page: readonly GroupMessage[]): { messages: GroupMessage[]; joined: boolean } {
  const first = page[0];
  if (!first) return { messages: [], joined: false };
  const at = shown.findIndex((m) => m.id === first.id);
  if (at <= 0) return { messages: [...page], joined: false };
  const inPage = new Set(page.map((m) => m.id));
  return { messages: [...shown.slice(0, at).filter((m) => !inPage.has(m.id)), ...page], joined: true };
}

/** An older page put before what is shown (a message already shown is not repeated). */
export function prependOlder(shown: readonly GroupMessage[], older: readonly GroupMessage[]): GroupMessage[] {
  const have = new Set(shown.map((m) => m.id));
  return [...older.filter((m) => !have.has(m.id)), ...shown];
}

/** Messages deleted in main (for me, or expired) leave; those deleted for everyone become tombstones. */
export function applyDeleted(shown: readonly GroupMessage[], gone: ReadonlySet<string>, tombstones: ReadonlySet<string>): GroupMessage[] {
  return shown.filter((m) => !gone.has(m.id)).map((m) => (tombstones.has(m.id) && !m.deleted ? { ...m, deleted: true as const, text: '' } : m));
}

/** What a group chat shows: its messages, oldest first, and whether older ones exist before the first. */
export type GroupWindow = OlderWindow<GroupMessage>;

export const EMPTY_WINDOW: GroupWindow = { messages: [], hasOlder: false };

/** A page of groupHistory: its messages, oldest first, and whether older ones exist. */
export interface GroupPage {
  readonly messages: readonly GroupMessage[];
  readonly hasOlder: boolean;
}

/**
 * The window once the newest page (a reload) landed: older pages shown before it stay, and so does
 * what they said about older messages; otherwise the page says it. The same window (===) if nothing
 * a bubble shows changed, so React skips the render.
 */
export function withNewestPage(w: GroupWindow, page: GroupPage): GroupWindow {
  const { messages, joined } = joinNewest(w.messages, page.messages);
  const hasOlder = joined ? w.hasOlder : page.hasOlder;
  const unchanged = sameShown(w.messages, messages);
  if (unchanged && hasOlder === w.hasOlder) return w;
  return { messages: unchanged ? w.messages : messages, hasOlder };
}

/**
 * The window once an older page, asked for with `before` (the id then shown first), landed: as an
 * opened backup's group does (history-window.ts withOlderOf; a window replaced meanwhile stays).
 */
export function withOlderPage(w: GroupWindow, before: string, page: GroupPage): GroupWindow {
  return withOlderOf(w, before, page);
}

/** Whether two windows' messages show the same: ids, order, state, tombstones, timers, receipts, replies. */
export function sameShown(a: readonly GroupMessage[], b: readonly GroupMessage[]): boolean {
  const r = (m: GroupMessage) => (m.receipts ? `${m.receipts.delivered}/${m.receipts.read}` : '');
  return (
    a.length === b.length &&
    a.every((m, i) => {
      const n = b[i]!;
      return m.id === n.id && m.state === n.state && m.deleted === n.deleted && m.expiresAt === n.expiresAt && r(m) === r(n) && (m.replyTo === null) === (n.replyTo === null);
    })
  );
}
