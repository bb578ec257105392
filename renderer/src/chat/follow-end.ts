/** Within this many pixels of its end, a chat log counts as showing its end. */
export const NEAR_END_PX = 80;

/** How long after a wheel, key, pointer, touch or focus input a scroll is taken as the reader's. */
export const READER_INPUT_MS = 1000;

export interface ScrollPosition {
  readonly scrollTop: number;
  readonly scrollHeight: number;
  readonly clientHeight: number;
}

export function distanceFromEnd(el: ScrollPosition): number {
  return el.scrollHeight - el.scrollTop - el.clientHeight;
}

/** Whether a chat follows its end, and where its log was at the last scroll event. */
export interface FollowState {
  readonly following: boolean;
  readonly lastTop: number;
  readonly lastHeight: number;
}

export const FOLLOWING: FollowState = { following: true, lastTop: 0, lastHeight: 0 };

/** The reader's inputs on the log as a scroll event sees them. */
export interface ReaderInput {
  /** Milliseconds since the reader's last wheel, key, pointer, touch or focus input on the log. */
  readonly sinceInputMs: number;
  /** A pointer (a scrollbar drag) is held down on the log. */
  readonly pointerHeld: boolean;
}

/**
 * Whether a scroll event is the reader's move away from the end. The chat's own scrolls to the end
 * move down. An upward move over unchanged content is the reader's whatever moved it (find in
 * page, a screen reader, focus returning to a bubble); one while the content changed (rows
 * measured, a page put before) is the reader's only soon after their input.
 */
export function isReaderScroll(prev: FollowState, el: ScrollPosition, input: ReaderInput): boolean {
  if (el.scrollTop >= prev.lastTop) return false;
  if (el.scrollHeight === prev.lastHeight) return true;
  // Up by just what the content above shrank (a row measured smaller): the same place, kept.
  if (Math.abs(prev.lastTop - el.scrollTop - (prev.lastHeight - el.scrollHeight)) < 1) return false;
  return input.pointerHeld || input.sinceInputMs < READER_INPUT_MS;
}

/**
 * The state after a scroll event. Only the reader stops following, by any move up (even one that
 * stays near the end: the end is then no longer pinned there, though a text arriving while near it
 * is still scrolled to). A scroll of the chat's own to the end can fall short for a moment (rows
 * are drawn at an estimated height and grow when measured), and a text arriving in that moment must
 * still be followed, so "at the end" is a state kept across events rather than read off the DOM
 * when a text arrives. Any other scroll that ends near the end starts following.
 */
export function afterScroll(prev: FollowState, el: ScrollPosition, input: ReaderInput): FollowState {
  const following = !isReaderScroll(prev, el, input) && (prev.following || distanceFromEnd(el) < NEAR_END_PX);
  return { following, lastTop: el.scrollTop, lastHeight: el.scrollHeight };
}
