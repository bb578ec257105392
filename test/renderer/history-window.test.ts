// The window a 1:1 chat keeps (renderer/src/chat/history-window.ts): older and newer pages put
// beside it, a reload that replaced it while a page was in flight, messages that arrive; and the
// backwards-only window of an opened backup's group.
import { describe, expect, it } from 'vitest';
import type { HistoryPage, Message } from '../../shared/api.ts';
import { EMPTY_HISTORY, fromPage, withArrived, withNewerPage, withNewestReloaded, withOlderOf, withOlderPage, withSent, type HistoryWindow } from '../../renderer/src/chat/history-window.ts';

const msg = (n: number): Message => ({
  id: `m${n}`, conversationId: 'c', orderKey: n, direction: 'in', sender: 'bob', sentAt: n, receivedAt: n, text: `text ${n}`, state: 'received',
});
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => msg(from + i));
const ids = (w: HistoryWindow) => w.messages.map((m) => m.id);
const page = (from: number, to: number, hasOlder: boolean, hasNewer: boolean): HistoryPage => ({ messages: range(from, to), hasOlder, hasNewer });

describe('withOlderPage', () => {
  it('puts the page before the window it was asked for, with what it says about older ones', () => {
    const w = fromPage(page(100, 200, true, false));
    const next = withOlderPage(w, 'm100', page(0, 100, false, false), 1500);
    expect(ids(next)).toEqual(range(0, 200).map((m) => m.id));
    expect(next).toMatchObject({ hasOlder: false, hasNewer: false });
  });

  it('a page that lands after a reload replaced the window leaves the new window as it is', () => {
    // Scrolled to the top of the newest page: the page before m100 is in flight when a search
    // hit far back reloads the window around m5000; both land in one tick, the older page second.
    const before = fromPage(page(100, 200, true, false));
    const around = fromPage(page(4950, 5050, true, true));
    const stale = page(0, 100, false, false);
    expect(withOlderPage(around, before.messages[0]!.id, stale, 1500)).toBe(around);
    // The same after the reload emptied the window and before its page came.
    const emptied = { ...before, messages: [] };
    expect(withOlderPage(emptied, 'm100', stale, 1500)).toBe(emptied);
  });

  it('past the window size, the newest drop and are said to exist (decided on the window it lands on)', () => {
    const w: HistoryWindow = { messages: range(100, 1500), hasOlder: true, hasNewer: false };
    const next = withOlderPage(w, 'm100', page(0, 100, false, false), 1450);
    expect(next.messages).toHaveLength(1450);
    expect(next.messages[0]!.id).toBe('m0');
    expect(next.messages.at(-1)!.id).toBe('m1449');
    expect(next).toMatchObject({ hasOlder: false, hasNewer: true });
    // Overlapping messages are not counted twice: 100 + 50 new ones fit, nothing drops.
    const small: HistoryWindow = { messages: range(50, 150), hasOlder: true, hasNewer: false };
    expect(withOlderPage(small, 'm50', page(0, 100, false, false), 150)).toMatchObject({ hasNewer: false });
  });
});

describe('withNewerPage', () => {
  it('puts the page after the window it was asked for; a stale one is dropped', () => {
    const w = fromPage(page(0, 100, false, true));
    const next = withNewerPage(w, 'm99', page(100, 150, true, false), 1500);
    expect(ids(next)).toEqual(range(0, 150).map((m) => m.id));
    expect(next).toMatchObject({ hasOlder: false, hasNewer: false });
    const replaced = fromPage(page(500, 600, true, true));
    expect(withNewerPage(replaced, 'm99', page(100, 150, true, false), 1500)).toBe(replaced);
  });

  it('past the window size, the oldest drop and are said to exist', () => {
    const w: HistoryWindow = { messages: range(0, 1450), hasOlder: false, hasNewer: true };
    const next = withNewerPage(w, 'm1449', page(1450, 1550, true, false), 1500);
    expect(next.messages[0]!.id).toBe('m50');
    expect(next).toMatchObject({ hasOlder: true, hasNewer: false });
  });
});

describe('withArrived', () => {
  it('shows a new message at the end only while the window reaches the newest messages', () => {
    const newest = fromPage(page(0, 10, false, false));
    expect(ids(withArrived(newest, msg(10)))).toEqual(range(0, 11).map((m) => m.id));
    // A window that ended before the newest when the message came: it would follow a gap.
    const back = fromPage(page(0, 10, false, true));
    expect(withArrived(back, msg(500))).toBe(back);
    expect(withArrived(EMPTY_HISTORY, msg(1)).messages).toEqual([msg(1)]);
  });

  it('decides on the window as it is: a newer page that reached the newest lets the next message in', () => {
    // The page after m9 lands (no more newer) and a message arrives in the same tick, before
    // React rendered the page: a ref of the rendered hasNewer (true) dropped that message.
    const w = fromPage(page(0, 10, false, true));
    const landed = withNewerPage(w, 'm9', page(10, 20, true, false), 1500);
    expect(ids(withArrived(landed, msg(20))).at(-1)).toBe('m20');
  });
});

describe("withNewestReloaded (the page's link to the service came back)", () => {
  const win = (from: number, to: number, hasOlder = true): HistoryWindow => ({ messages: range(from, to), hasOlder, hasNewer: false });

  it("replaces the window's end from the page's first message: new texts, changed states and deletions all show", () => {
    const before = win(0, 150);
    const reloaded = page(60, 160, true, false);
    reloaded.messages[10] = { ...reloaded.messages[10]!, state: 'read' };
    reloaded.messages.splice(20, 1); // m80, deleted meanwhile
    const w = withNewestReloaded(before, reloaded, 1500);
    expect(ids(w)).toEqual([...range(0, 80), ...range(81, 160)].map((m) => m.id));
    expect(w.messages.find((m) => m.id === 'm70')?.state).toBe('read');
    expect(w).toMatchObject({ hasOlder: true, hasNewer: false });
  });

  it('a live text that landed before the reload does not make it drop the page', () => {
    const withLive = withArrived(win(0, 100), msg(100));
    expect(ids(withNewestReloaded(withLive, page(50, 103, true, false), 1500))).toEqual(range(0, 103).map((m) => m.id));
  });

  it('a page that does not reach the window (more arrived than a page holds) marks it as ending before the newest, with no gap', () => {
    const w = withNewestReloaded(win(0, 100), page(500, 600, true, false), 1500);
    expect(ids(w)).toEqual(range(0, 100).map((m) => m.id));
    expect(w.hasNewer).toBe(true);
  });

  it('leaves a window that ends before the newest as it is; an empty one takes the page; past the window size the oldest drop', () => {
    const far: HistoryWindow = { messages: range(0, 100), hasOlder: false, hasNewer: true };
    expect(withNewestReloaded(far, page(500, 600, true, false), 1500)).toBe(far);
    expect(withNewestReloaded(EMPTY_HISTORY, page(0, 3, false, false), 1500)).toEqual(fromPage(page(0, 3, false, false)));
    expect(withNewestReloaded(win(0, 100, false), page(0, 0, false, false), 1500).messages).toEqual([]);
    const cut = withNewestReloaded(win(0, 100, false), page(50, 150, true, false), 120);
    expect(ids(cut)).toEqual(range(30, 150).map((m) => m.id));
    expect(cut.hasOlder).toBe(true);
  });
});

describe('withSent', () => {
  const own = (n: number): Message => ({ ...msg(n), direction: 'out', sender: 'self', state: 'sent' });

  it('sent from a part of history far back: the newest page, which holds the sent text, replaces the window', () => {
    // A search hit around m50 is shown (newer ones exist); the user sends m5000.
    const around = fromPage(page(0, 100, false, true));
    const newest: HistoryPage = { messages: [...range(4901, 5000), own(5000)], hasOlder: true, hasNewer: false };
    const next = withSent(around, own(5000), newest);
    expect(ids(next).at(-1)).toBe('m5000');
    expect(next).toMatchObject({ hasOlder: true, hasNewer: false });
    // The newest page could not be loaded: the window stays (nothing shown after a gap).
    expect(withSent(around, own(5000), undefined)).toBe(around);
  });

  it('a window that reaches the newest messages takes the sent text at its end, loaded page or not', () => {
    const w = fromPage(page(0, 10, false, false));
    expect(ids(withSent(w, own(10), undefined))).toEqual(range(0, 11).map((m) => m.id));
    // Paged down to the newest while the newest page loaded: the window is kept, the text appended once.
    const newest: HistoryPage = { messages: [...range(1, 10), own(10)], hasOlder: true, hasNewer: false };
    const next = withSent(w, own(10), newest);
    expect(ids(next)).toEqual(range(0, 11).map((m) => m.id));
    expect(next.hasOlder).toBe(false);
  });
});

describe('withOlderOf (an opened backup\'s group)', () => {
  const older = (from: number, to: number, hasOlder: boolean) => ({ messages: range(from, to), hasOlder });
  it('puts the page before the window it was asked for', () => {
    const w = older(200, 400, true);
    const next = withOlderOf(w, 'm200', older(0, 200, false));
    expect(next.messages.map((m) => m.id)).toEqual(range(0, 400).map((m) => m.id));
    expect(next.hasOlder).toBe(false);
  });
  it('"Show older messages" clicked twice: the second page for the same anchor repeats nothing', () => {
    const w = older(200, 400, true);
    const once = withOlderOf(w, 'm200', older(0, 200, false));
    expect(withOlderOf(once, 'm200', older(0, 200, false))).toBe(once);
  });
  it('a page that lands after a reload around a search hit leaves the new window as it is', () => {
    const around = older(1000, 1200, true);
    expect(withOlderOf(around, 'm200', older(0, 200, false))).toBe(around);
  });
});
