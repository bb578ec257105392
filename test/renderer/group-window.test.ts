// The window a group chat shows (renderer/src/chat/group-window.ts): the newest page reloaded
// after older pages were loaded, older pages put before, deletions from main.
import { describe, expect, it } from 'vitest';
import type { GroupMessage } from '../../shared/api.ts';
import { applyDeleted, joinNewest, prependOlder } from '../../renderer/src/chat/group-window.ts';

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
