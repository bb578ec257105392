// The messages a group chat shows (screens/GroupChat.tsx): the newest page, reloaded on every
// change, joined to older pages loaded on request ("Show older messages"). Pure functions,
// unit-tested in test/renderer/group-window.test.ts.
import type { GroupMessage } from '../../../shared/api.ts';

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
