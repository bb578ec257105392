/** Within this many pixels of its end, a chat log counts as showing its end. */
export const NEAR_END_PX = 80;

export interface ScrollPosition {
  readonly scrollTop: number;
  readonly scrollHeight: number;
  readonly clientHeight: number;
}

export function distanceFromEnd(el: ScrollPosition): number {
  return el.scrollHeight - el.scrollTop - el.clientHeight;
}

/**
 * Whether the chat still follows its end after a scroll event. Only the reader stops it: a scroll
 * of ours to the end can fall short for a moment (rows are drawn at an estimated height and grow
 * when measured), and a text arriving in that moment must still be followed, so "at the end" is a
 * state kept across events rather than read off the DOM when a text arrives.
 */
export function followsAfterScroll(following: boolean, el: ScrollPosition, byReader: boolean): boolean {
  if (distanceFromEnd(el) < NEAR_END_PX) return true;
  return following && !byReader;
}
