// Whether a 1:1 chat keeps following its end (renderer/src/chat/follow-end.ts): only the reader's
// own scroll away from the end stops it; a scroll that falls short of the end does not.
import { describe, expect, it } from 'vitest';
import { distanceFromEnd, followsAfterScroll, NEAR_END_PX } from '../../renderer/src/chat/follow-end.ts';

const at = (fromEnd: number) => ({ scrollTop: 10_000 - 600 - fromEnd, scrollHeight: 10_000, clientHeight: 600 });

describe('following the end of a chat', () => {
  it('measures the distance from the end of the log', () => {
    expect(distanceFromEnd(at(0))).toBe(0);
    expect(distanceFromEnd(at(250))).toBe(250);
  });

  it('reaching the end starts following, whoever scrolled', () => {
    expect(followsAfterScroll(false, at(NEAR_END_PX - 1), true)).toBe(true);
    expect(followsAfterScroll(false, at(0), false)).toBe(true);
  });

  it('a scroll of ours that falls short of the end keeps following', () => {
    expect(followsAfterScroll(true, at(400), false)).toBe(true);
  });

  it("the reader's scroll away from the end stops following, and nothing else starts it there", () => {
    expect(followsAfterScroll(true, at(NEAR_END_PX), true)).toBe(false);
    expect(followsAfterScroll(false, at(400), false)).toBe(false);
  });
});
