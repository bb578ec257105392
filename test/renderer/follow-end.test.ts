// Whether a chat keeps following its end (renderer/src/chat/follow-end.ts): only the reader's own
// scroll away from the end stops it; a scroll of the chat's own that falls short of the end, or a
// correction while rows are measured, does not.
import { describe, expect, it } from 'vitest';
import { afterScroll, distanceFromEnd, FOLLOWING, isReaderScroll, NEAR_END_PX, READER_INPUT_MS, type FollowState } from '../../renderer/src/chat/follow-end.ts';

const HEIGHT = 10_000;
const VIEW = 600;
const at = (fromEnd: number, scrollHeight = HEIGHT) => ({ scrollTop: scrollHeight - VIEW - fromEnd, scrollHeight, clientHeight: VIEW });
/** The state after a scroll event at `fromEnd` over content of `scrollHeight`. */
const state = (following: boolean, fromEnd: number, scrollHeight = HEIGHT): FollowState => ({ following, lastTop: at(fromEnd, scrollHeight).scrollTop, lastHeight: scrollHeight });
const noInput = { sinceInputMs: Infinity, pointerHeld: false };
const justNow = { sinceInputMs: 10, pointerHeld: false };

describe('following the end of a chat', () => {
  it('measures the distance from the end of the log', () => {
    expect(distanceFromEnd(at(0))).toBe(0);
    expect(distanceFromEnd(at(250))).toBe(250);
  });

  it('a move down, or no move, is never the reader leaving the end', () => {
    expect(isReaderScroll(state(true, 900), at(400), justNow)).toBe(false);
    expect(isReaderScroll(state(true, 400), at(400), justNow)).toBe(false);
    expect(isReaderScroll(state(true, 900), at(400, HEIGHT + 500), { sinceInputMs: 0, pointerHeld: true })).toBe(false);
  });

  it('a move up over unchanged content is the reader, with or without an input on the log (find in page, a screen reader)', () => {
    expect(isReaderScroll(state(true, 0), at(400), noInput)).toBe(true);
  });

  it('a move up while the content changed is the reader only soon after their input, or while their pointer is held', () => {
    const measured = at(400, HEIGHT + 300);
    expect(isReaderScroll(state(true, 0), measured, noInput)).toBe(false);
    expect(isReaderScroll(state(true, 0), measured, { sinceInputMs: READER_INPUT_MS + 1, pointerHeld: false })).toBe(false);
    expect(isReaderScroll(state(true, 0), measured, justNow)).toBe(true);
    expect(isReaderScroll(state(true, 0), measured, { sinceInputMs: Infinity, pointerHeld: true })).toBe(true);
  });

  it('up by just what the content above shrank (a row measured smaller) is a correction, even right after an input', () => {
    const prev = state(true, 0);
    const shrunk = { scrollTop: prev.lastTop - 40, scrollHeight: HEIGHT - 40, clientHeight: VIEW };
    expect(isReaderScroll(prev, shrunk, justNow)).toBe(false);
    expect(isReaderScroll(prev, { ...shrunk, scrollTop: prev.lastTop - 300 }, justNow)).toBe(true);
  });

  it('a move up near the end stops following too (the end is no longer pinned there)', () => {
    expect(afterScroll(state(true, 0), at(20), noInput).following).toBe(false);
  });

  it('carries where the log was to the next event', () => {
    const first = afterScroll(state(true, 0), at(400, HEIGHT + 300), noInput);
    expect(first).toEqual({ following: true, lastTop: at(400, HEIGHT + 300).scrollTop, lastHeight: HEIGHT + 300 });
    // The next move up over the same content is the reader's.
    expect(afterScroll(first, at(600, HEIGHT + 300), noInput).following).toBe(false);
  });

  it('reaching the end starts following, whoever scrolled', () => {
    expect(afterScroll(state(false, 900), at(NEAR_END_PX - 1), noInput).following).toBe(true);
    expect(afterScroll(state(false, 900), at(NEAR_END_PX - 1), justNow).following).toBe(true);
  });

  it("a scroll of the chat's own that falls short of the end, or a correction up while rows are measured, keeps following", () => {
    expect(afterScroll(state(true, 2000), at(400), noInput).following).toBe(true);
    expect(afterScroll(state(true, 0), at(400, HEIGHT + 300), noInput).following).toBe(true);
  });

  it("the reader's scroll away from the end stops following, and nothing but the end starts it again", () => {
    const away = afterScroll(state(true, 0), at(NEAR_END_PX), justNow);
    expect(away).toEqual({ following: false, lastTop: at(NEAR_END_PX).scrollTop, lastHeight: HEIGHT });
    expect(afterScroll(away, at(40, HEIGHT + 10), noInput).following).toBe(true);
    expect(afterScroll(away, at(400, HEIGHT + 10), noInput).following).toBe(false);
  });

  it('starts out following', () => {
    expect(FOLLOWING.following).toBe(true);
  });
});
