// The window a group chat shows (renderer/src/chat/group-window.ts): the newest page reloaded
// after older pages were loaded, older pages put before, deletions from main; a reload and an older
// page landing in either order.
import { describe, expect, it } from 'vitest';
import type { GroupMessage } from '../../shared/api.ts';
import { applyDeleted, EMPTY_WINDOW, joinNewest, prependOlder, withNewestPage, withOlderPage } from '../../renderer/src/chat/group-window.ts';

const msg = (n: number): GroupMessage => ({
  id: `m${n}`, groupId: 'a'.repeat(32), direction: 'in', sender: 'bob', sentAt: n, receivedAt: n, text: `text ${n}`, state: 'received',
});
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => msg(from + i));
const ids = (ms: readonly GroupMessage[]) => ms.map((m) => m.id);

describe('joinNewest', () => {
  it('on opening (nothing shown) shows the page alone, not joined', () => {
    expect(joinNewest([], range(5, 10))).toEqual({ messages: range(5, 10), joined: false });
  });
  it('keeps the older messages shown before the page and replaces the rest', () => {
    const shown = range(0, 10);
    const page = [...range(5, 10).map((m) => (m.id === 'm7' ? { ...m, state: 'read' as const } : m)), msg(10)];
    const { messages, joined } = joinNewest(shown, page);
    expect(joined).toBe(true);
    expect(ids(messages)).toEqual(ids(range(0, 11)));
    expect(messages.find((m) => m.id === 'm7')?.state).toBe('read');
  });
  it('a page starting where the shown window starts is not joined (what is older is the page\'s to say)', () => {
    expect(joinNewest(range(5, 10), range(5, 11)).joined).toBe(false);
  });
  it('a page past everything shown replaces it rather than leaving a silent gap', () => {
    expect(joinNewest(range(0, 5), range(8, 12))).toEqual({ messages: range(8, 12), joined: false });
  });
  it('an empty page (everything deleted) shows nothing', () => {
    expect(joinNewest(range(0, 5), [])).toEqual({ messages: [], joined: false });
  });
});

describe('prependOlder', () => {
  it('puts an older page before without repeating a message', () => {
    expect(ids(prependOlder(range(3, 6), range(0, 4)))).toEqual(ids(range(0, 6)));
  });
});

describe('applyDeleted', () => {
  it('drops messages deleted in main and turns those deleted for everyone into tombstones', () => {
    const out = applyDeleted(range(0, 4), new Set(['m1']), new Set(['m2']));
    expect(ids(out)).toEqual(['m0', 'm2', 'm3']);
    expect(out[1]).toMatchObject({ id: 'm2', deleted: true, text: '' });
    expect(out[0]).toEqual(msg(0));
  });
});

describe('withNewestPage and withOlderPage (a reload and an older page land in either order)', () => {
  const newest = { messages: range(200, 400), hasOlder: true };
  const older = { messages: range(0, 200), hasOlder: false };
  const opened = withNewestPage(EMPTY_WINDOW, newest);

  it('opening shows the newest page and what it says about older messages', () => {
    expect(ids(opened.messages)).toEqual(ids(range(200, 400)));
    expect(opened.hasOlder).toBe(true);
  });
  it('a reload asked for before the older page landed, landing after it, keeps the older page and its hasOlder', () => {
    const withOlder = withOlderPage(opened, 'm200', older);
    expect(withOlder).toEqual({ messages: range(0, 400), hasOlder: false });
    // The reload's page was fetched before: it starts where the window's newest page started.
    expect(withNewestPage(withOlder, newest)).toBe(withOlder);
    // Or a message came meanwhile: the page moved on by one.
    const moved = withNewestPage(withOlder, { messages: range(201, 401), hasOlder: true });
    expect(ids(moved.messages)).toEqual(ids(range(0, 401)));
    expect(moved.hasOlder).toBe(false);
  });
  it('the older page landing after a reload still goes before it', () => {
    const reloaded = withNewestPage(opened, { messages: range(201, 401), hasOlder: true });
    expect(ids(withOlderPage(reloaded, 'm200', older).messages)).toEqual(ids(range(0, 401)));
  });
  it('an older page asked for before a reload replaced the window is dropped, not shown before a gap', () => {
    const replaced = withNewestPage(opened, { messages: range(500, 700), hasOlder: true });
    expect(withOlderPage(replaced, 'm200', older)).toBe(replaced);
  });
  it('a reload that changes nothing shown returns the same window (no render)', () => {
    expect(withNewestPage(opened, { messages: range(200, 400), hasOlder: true })).toBe(opened);
    const read = withNewestPage(opened, { messages: range(200, 400).map((m) => (m.id === 'm399' ? { ...m, state: 'read' as const } : m)), hasOlder: true });
    expect(read).not.toBe(opened);
    expect(read.messages.at(-1)?.state).toBe('read');
  });
});
