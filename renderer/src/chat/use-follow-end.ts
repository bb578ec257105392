import { useCallback, useRef, useState } from 'react';
import { distanceFromEnd, followsAfterScroll, NEAR_END_PX, type ScrollPosition } from './follow-end.ts';

/** How long after a wheel, key or pointer input a scroll event is taken as the reader's. */
const READER_INPUT_MS = 1000;

export interface FollowEnd {
  /** Whether a text arriving now is scrolled to: the chat follows its end, or shows it. */
  followsArrival(el: ScrollPosition | null): boolean;
  /** Whether the chat follows its end (for a log that has already grown by what arrived). */
  isFollowing(): boolean;
  /** Called when the chat scrolls itself: to its end (true) or to a message (false). */
  scrolledTo(end: boolean): void;
  /** The reader's inputs on the log element: a scroll soon after one is the reader's. */
  readonly logProps: { onWheel(): void; onKeyDown(): void; onPointerDown(): void; onTouchStart(): void };
  /** Called from the log's scroll handler. */
  onScroll(el: ScrollPosition): void;
  /** Texts from others that arrived below the view since the reader scrolled away from the end. */
  readonly unseen: number;
  /** Counts `n` texts from others that arrived and were not scrolled to. */
  arrivedUnseen(n: number): void;
}

/**
 * The "follow the end" state of a chat log: set when the chat scrolls to its end or the reader
 * reaches it, cleared only by the reader's own scroll (wheel, keys, scrollbar, touch) away from it.
 */
export function useFollowEnd(): FollowEnd {
  const following = useRef(true);
  const [unseen, setUnseen] = useState(0);
  // Back at the end, nothing below is unseen (a state set to what it is renders nothing).
  const setFollowing = useCallback((value: boolean) => {
    following.current = value;
    if (value) setUnseen(0);
  }, []);
  const arrivedUnseen = useCallback((n: number) => {
    if (n > 0) setUnseen((count) => count + n);
  }, []);
  const readerInputAt = useRef(-Infinity);
  const readerInput = useCallback(() => {
    readerInputAt.current = performance.now();
  }, []);
  const scrolledTo = useCallback((end: boolean) => setFollowing(end), [setFollowing]);
  // A drag of the scrollbar can last longer than READER_INPUT_MS: the pointer is the reader's while held.
  const pointerHeld = useRef(false);
  const onPointerDown = useCallback(() => {
    pointerHeld.current = true;
    const release = () => {
      pointerHeld.current = false;
      readerInput();
      window.removeEventListener('pointerup', release);
      window.removeEventListener('pointercancel', release);
    };
    window.addEventListener('pointerup', release);
    window.addEventListener('pointercancel', release);
  }, [readerInput]);
  const lastTop = useRef(0);
  const onScroll = useCallback((el: ScrollPosition) => {
    // The reader's scroll away from the end moves up, soon after their input; ours to the end moves down.
    const byReader = el.scrollTop < lastTop.current && (pointerHeld.current || performance.now() - readerInputAt.current < READER_INPUT_MS);
    lastTop.current = el.scrollTop;
    setFollowing(followsAfterScroll(following.current, el, byReader));
  }, [setFollowing]);
  const followsArrival = useCallback((el: ScrollPosition | null) => !el || following.current || distanceFromEnd(el) < NEAR_END_PX, []);
  const logProps = { onWheel: readerInput, onKeyDown: readerInput, onPointerDown, onTouchStart: readerInput };
  const isFollowing = useCallback(() => following.current, []);
  return { followsArrival, isFollowing, scrolledTo, logProps, onScroll, unseen, arrivedUnseen };
}
