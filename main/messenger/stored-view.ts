/**
 * The view of a message the caller has just stored, built from what it stored: the same Message
 * viewWithQuote (conversations.ts) reads back for it, without its sealed reads (tombstone, timer
 * change, timer, quote link, quoted message; about 5 per message, in a catch-up of thousands).
 */
import type { Message } from '../../shared/api.ts';
import type { StoredMessage } from '../vault/api.ts';
import { messageView } from './views.ts';

export interface StoredExtras {
  /** The timer it was stored under (seconds > 0) and its expiry (null until first shown). */
  timer?: { seconds: number; expiresAt: number | null };
  /** The message its quote link was stored for: found (the message) or not found (null). */
  quoted?: StoredMessage | null;
}

/** Never for a tombstone or a timer-change line: those keep viewWithQuote. */
export function storedView(m: StoredMessage, extras: StoredExtras): Message {
  const view = messageView(m, m.orderKey);
  const timed = extras.timer ? { ...view, timerSeconds: extras.timer.seconds, expiresAt: extras.timer.expiresAt } : view;
  if (extras.quoted === undefined) return timed;
  const q = extras.quoted;
  return { ...timed, replyTo: q ? { id: q.id, direction: q.direction, text: q.text.slice(0, 200) } : null };
}
