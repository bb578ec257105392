// Pure helpers for the everyday features (unread, avatars, links, shortcuts, notifications): no
// React, no DOM, unit-tested in test/renderer/daily.test.ts.
import type { ConversationSummary, Message } from '../../shared/api.ts';

/** The number the window title and the dock/taskbar badge show. */
export function totalUnread(conversations: readonly Pick<ConversationSummary, 'unread'>[]): number {
  return conversations.reduce((sum, c) => sum + c.unread, 0);
}

export function windowTitle(unread: number): string {
  return unread > 0 ? `(${unread}) Ephemera` : 'Ephemera';
}

/** The first incoming message not yet read: where the "New messages" divider goes. */
export function firstUnreadId(messages: readonly Message[]): string | null {
  return messages.find((m) => m.direction === 'in' && m.state === 'received')?.id ?? null;
}

/** Up to two letters from a name: "Bobby Brown" -> "BB", "carol_x" -> "C". */
export function initials(name: string): string {
  const words = name.split(/[\s_.-]+/u).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => [...w][0] ?? '');
  return letters.join('').toUpperCase() || '?';
}

/**
 * A colour that stays the same for a contact (hashed from its id, not its name, so a nickname
 * does not change it). Hues only; lightness comes from the theme, so contrast holds in both.
 */
export function avatarHue(contactId: string): number {
  let h = 2166136261;
  for (let i = 0; i < contactId.length; i++) {
    h ^= contactId.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % 360;
}

export type TextPart = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string };

// http(s) URLs only; a trailing full stop, comma, quote or closing bracket belongs to the sentence.
const URL_RE = /\bhttps?:\/\/[^\s<>"']+/giu;
const TRAILING = /[.,;:!?'")\]]+$/u;

/** Splits a message's text into plain text and links (http and https only; nothing else is a link). */
export function splitLinks(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    const raw = match[0];
    const url = raw.replace(TRAILING, '');
    const start = match.index;
    let href: string;
    try {
      href = new URL(url).href;
    } catch {
      continue;
    }
    if (start > last) parts.push({ kind: 'text', text: text.slice(last, start) });
    parts.push({ kind: 'link', text: url, href });
    last = start + url.length;
  }
  if (last < text.length) parts.push({ kind: 'text', text: text.slice(last) });
  return parts;
}

export interface Shortcut {
  keys: string;
  /** aria-keyshortcuts form. */
  aria: string;
  action: string;
}

export const SHORTCUTS: readonly Shortcut[] = [
  { keys: 'Ctrl+N', aria: 'Control+N', action: 'New contact' },
  { keys: 'Ctrl+K', aria: 'Control+K', action: 'Search messages' },
  { keys: 'Alt+↑', aria: 'Alt+ArrowUp', action: 'Previous chat' },
  { keys: 'Alt+↓', aria: 'Alt+ArrowDown', action: 'Next chat' },
  { keys: 'Ctrl+Shift+L', aria: 'Control+Shift+L', action: 'Lock' },
  { keys: 'Ctrl+/', aria: 'Control+/', action: 'Show keyboard shortcuts' },
  { keys: 'Esc', aria: 'Escape', action: 'Close a dialog' },
  { keys: 'Enter', aria: 'Enter', action: 'Send (Shift+Enter: new line)' },
];

/** The chat before or after `current` in the list (wrapping), for Alt+Up/Down. */
export function adjacentChat(ids: readonly string[], current: string | null, step: 1 | -1): string | null {
  if (ids.length === 0) return null;
  const at = current === null ? -1 : ids.indexOf(current);
  if (at < 0) return step === 1 ? ids[0]! : ids[ids.length - 1]!;
  return ids[(at + step + ids.length) % ids.length]!;
}

// The notification policy is shared with main (Electron notifications are built there).
export { notificationText, type NotificationText } from '../../shared/api/notifications.ts';
