import { useCallback, useEffect, useRef, useState, type PointerEvent, type RefObject } from 'react';
import { afterScroll, distanceFromEnd, FOLLOWING, NEAR_END_PX, type FollowState, type ScrollPosition } from './follow-end.ts';

export interface FollowEnd {
  /** Whether a text arriving now is scrolled to: the chat follows its end, or shows it. */
  followsArrival(el: ScrollPosition | null): boolean;
  /** Whether the chat follows its end (for a log that has already grown by what arrived). */
  isFollowing(): boolean;
  /** The chat scrolls itself to its end: it follows from now on. */
  scrolledToEnd(): void;
  /**
   * The chat scrolls itself to a message (a search hit, a quote, the first unread): it stops
   * following, unless the log is at its end once the scroll is done (it may not move at all).
   */
  scrolledAway(): void;
  /** The reader's inputs on the log element: a scroll soon after one is the reader's. */
  readonly logProps: {
    onWheel(): void;
    onKeyDown(): void;
    onFocus(): void;
    onTouchStart(): void;
    onTouchMove(): void;
    onPointerDown(e: PointerEvent<HTMLElement>): void;
  };
  /** Called from the log's scroll handler. */
  onScroll(el: ScrollPosition): void;
  /** How many texts from others arrived below the view since the reader scrolled away from the end. */
  readonly unseen: number;
  /** Texts from others (by id: one sent again, as a timer starts, counts once) that arrived and were not scrolled to. */
  arrivedUnseen(ids: readonly string[]): void;
  /** Whether any is unseen now (also right after a layout effect counted some, before `unseen` renders). */
  hasUnseen(): boolean;
}

/**
 * The "follow the end" state of a chat log (chat/follow-end.ts decides): set when the chat scrolls
 * to its end or the reader reaches it, cleared only by the reader's own scroll away from it. While
 * it follows, a change of the log's size (a shorter window, the reply bar, rows measured taller)
 * keeps the end in view: `log` and `content` are observed and `toEnd` scrolls there.
 */
export function useFollowEnd(log: RefObject<HTMLElement | null>, toEnd: () => void, content?: RefObject<HTMLElement | null>): FollowEnd {
  const state = useRef<FollowState>(FOLLOWING);
  const [unseen, setUnseen] = useState(0);
  const unseenIds = useRef(new Set<string>());
  const setFollowing = useCallback((following: boolean) => {
    if (following !== state.current.following) state.current = { ...state.current, following };
    // Back at the end, nothing below is unseen.
    if (following && unseenIds.current.size > 0) {
      unseenIds.current.clear();
      setUnseen(0);
    }
  }, []);
  const arrivedUnseen = useCallback((ids: readonly string[]) => {
    for (const id of ids) unseenIds.current.add(id);
    setUnseen(unseenIds.current.size);
  }, []);

  const inputAt = useRef(-Infinity);
  const readerInput = useCallback(() => {
    inputAt.current = performance.now();
  }, []);
  // A drag of the scrollbar can last longer than READER_INPUT_MS: the pointer is the reader's while held.
  const pointerHeld = useRef(false);
  const release = useRef<(() => void) | null>(null);
  const onPointerDown = useCallback(
    (e: PointerEvent<HTMLElement>) => {
      readerInput();
      // Only the primary button drags; a context menu's press may never see its pointerup.
      if (e.button !== 0 || release.current) return;
      pointerHeld.current = true;
      const done = () => {
        pointerHeld.current = false;
        readerInput();
        window.removeEventListener('pointerup', done);
        window.removeEventListener('pointercancel', done);
        release.current = null;
      };
      release.current = done;
      window.addEventListener('pointerup', done);
      window.addEventListener('pointercancel', done);
    },
    [readerInput],
  );
  useEffect(() => () => release.current?.(), []);

  const onScroll = useCallback(
    (el: ScrollPosition) => {
      state.current = afterScroll(state.current, el, { sinceInputMs: performance.now() - inputAt.current, pointerHeld: pointerHeld.current });
      setFollowing(state.current.following);
    },
    [setFollowing],
  );
  const scrolledToEnd = useCallback(() => setFollowing(true), [setFollowing]);
  const scrolledAway = useCallback(() => {
    setFollowing(false);
    // A target already on screen scrolls nothing, and no scroll event says where the log is.
    requestAnimationFrame(() => {
      const el = log.current;
      if (el && distanceFromEnd(el) < NEAR_END_PX) setFollowing(true);
    });
  }, [log, setFollowing]);

  // While following, the end stays in view when the log or its content changes size. (A reader's
  // scroll up is seen first: the browser sends scroll events before it reports sizes in a frame.)
  const latestToEnd = useRef(toEnd);
  latestToEnd.current = toEnd;
  useEffect(() => {
    const observer = new ResizeObserver(() => {
      const el = log.current;
      if (!el) return;
      if (state.current.following) {
        if (distanceFromEnd(el) >= 1) latestToEnd.current();
      } else if (distanceFromEnd(el) < 1) setFollowing(true); // the end came into view (a taller window)
    });
    if (log.current) observer.observe(log.current);
    if (content?.current) observer.observe(content.current);
    return () => observer.disconnect();
  }, [log, content, setFollowing]);

  const followsArrival = useCallback((el: ScrollPosition | null) => !el || state.current.following || distanceFromEnd(el) < NEAR_END_PX, []);
  const isFollowing = useCallback(() => state.current.following, []);
  const logProps = { onWheel: readerInput, onKeyDown: readerInput, onFocus: readerInput, onTouchStart: readerInput, onTouchMove: readerInput, onPointerDown };
  const hasUnseen = useCallback(() => unseenIds.current.size > 0, []);
  return { followsArrival, isFollowing, scrolledToEnd, scrolledAway, logProps, onScroll, unseen, arrivedUnseen, hasUnseen };
}
