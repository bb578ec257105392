import { describe, expect, it } from 'vitest';
import type { Message } from '../../shared/api.ts';
import { adjacentChat, avatarHue, firstUnreadId, initials, notificationText, splitLinks, totalUnread, windowTitle } from '../../renderer/src/daily.ts';

const msg = (id: string, direction: 'in' | 'out', state: Message['state']): Message => ({
  id,
  conversationId: 'c1',
  orderKey: Number(id.slice(1)),
  direction,
  sender: direction === 'in' ? 'k1' : 'self',
  sentAt: 0,
  receivedAt: 0,
  text: id,
  state,
});

describe('everyday helpers', () => {
  it('unread: total, title, first unread incoming message', () => {
    expect(totalUnread([{ unread: 2 }, { unread: 0 }, { unread: 5 }])).toBe(7);
    expect(windowTitle(7)).toBe('(7) Ephemera');
    expect(windowTitle(0)).toBe('Ephemera');
    expect(firstUnreadId([msg('m1', 'in', 'read'), msg('m2', 'out', 'sent'), msg('m3', 'in', 'received'), msg('m4', 'in', 'received')])).toBe('m3');
    expect(firstUnreadId([msg('m1', 'in', 'read')])).toBeNull();
  });

  it('avatars: initials from the name, a colour from the id only', () => {
    expect(initials('Bobby Brown')).toBe('BB');
    expect(initials('carol_x')).toBe('CX');
    expect(initials('alice')).toBe('A');
    expect(initials('  ')).toBe('?');
    expect(avatarHue('k1')).toBe(avatarHue('k1'));
    expect(avatarHue('k1')).not.toBe(avatarHue('k2'));
    expect(avatarHue('k1')).toBeGreaterThanOrEqual(0);
    expect(avatarHue('k1')).toBeLessThan(360);
  });

  it('links: http(s) only, sentence punctuation stays outside', () => {
    expect(splitLinks('see https://example.org/a?q=1. ok')).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://example.org/a?q=1', href: 'https://example.org/a?q=1' },
      { kind: 'text', text: '. ok' },
    ]);
    expect(splitLinks('javascript:alert(1) file:///etc/passwd ftp://x')).toEqual([{ kind: 'text', text: 'javascript:alert(1) file:///etc/passwd ftp://x' }]);
    expect(splitLinks('(http://a.example)')).toEqual([
      { kind: 'text', text: '(' },
      { kind: 'link', text: 'http://a.example', href: 'http://a.example/' },
      { kind: 'text', text: ')' },
    ]);
  });

  it('Alt+Up/Down wraps around the list', () => {
    expect(adjacentChat(['a', 'b', 'c'], 'a', -1)).toBe('c');
    expect(adjacentChat(['a', 'b', 'c'], 'c', 1)).toBe('a');
    expect(adjacentChat(['a', 'b'], null, 1)).toBe('a');
    expect(adjacentChat([], null, 1)).toBeNull();
  });

  it('notifications: the privacy setting, and never more than "New message" while locked', () => {
    expect(notificationText('full', false, 'alice', 'hi there')).toEqual({ title: 'alice', body: 'hi there' });
    expect(notificationText('sender', false, 'alice', 'hi there')).toEqual({ title: 'alice', body: 'New message' });
    expect(notificationText('none', false, 'alice', 'hi there')).toBeNull();
    for (const p of ['full', 'sender'] as const) expect(notificationText(p, true, 'alice', 'hi there')).toEqual({ title: 'New message', body: '' });
    expect(notificationText('full', false, 'alice', 'x'.repeat(500))?.body.length).toBe(200);
  });
});
