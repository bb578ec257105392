import { describe, expect, it } from 'vitest';
import type { ConnectionState, Message } from '../../shared/api.ts';
import {
  buildTimeline,
  describeConnection,
  estimatePasswordStrength,
  groupSafetyNumber,
  mergeMessages,
  MIN_PASSWORD_SCORE,
  newJobId,
  normalizePhrase,
} from '../../renderer/src/logic.ts';
import { estimateStrength, MIN_STRENGTH_SCORE } from '../../shared/api/password-policy.ts';

const day = 86_400_000;
const base = new Date(2026, 10, 20, 12, 0, 0).getTime();
function msg(id: string, orderKey: number, sentAt: number, direction: 'in' | 'out' = 'in'): Message {
  return { id, conversationId: 'c', orderKey, direction, sender: direction === 'in' ? 'bob' : 'self', sentAt, receivedAt: sentAt, text: id, state: 'received' };
}

describe('password strength', () => {
  it('is the shared policy main and the CLI enforce (the same function and minimum)', () => {
    expect(estimatePasswordStrength).toBe(estimateStrength);
    expect(MIN_PASSWORD_SCORE).toBe(MIN_STRENGTH_SCORE);
  });
  it('rates short, repetitive and common passwords below the minimum', () => {
    for (const weak of ['', 'abc', 'password', 'aaaaaaaaaaaa', 'abcdefghijkl', '12345678', 'Password1']) {
      expect(estimatePasswordStrength(weak).score, weak).toBeLessThan(MIN_PASSWORD_SCORE);
    }
  });
  it('rates long random-word passwords as good or strong', () => {
    expect(estimatePasswordStrength('correct horse battery staple').score).toBeGreaterThanOrEqual(3);
    expect(estimatePasswordStrength('vG7#qL2!xR9$mT4').score).toBeGreaterThanOrEqual(3);
  });
});

describe('recovery phrase and safety number helpers', () => {
  it('normalizes case and spacing', () => {
    expect(normalizePhrase('  Abandon   ABILITY\nable ')).toBe('abandon ability able');
  });
  it('groups 60 digits into 12 blocks of 5', () => {
    const digits = '0123456789'.repeat(6);
    const groups = groupSafetyNumber(digits);
    expect(groups).toHaveLength(12);
    expect(groups.every((g) => g.length === 5)).toBe(true);
    expect(groups.join('')).toBe(digits);
  });
  it('makes job ids the API accepts', () => {
    expect(newJobId((n) => new Uint8Array(n).fill(171))).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
  });
});

describe('timeline', () => {
  it('puts one day separator before the first message of each day', () => {
    const rows = buildTimeline([msg('a', 1, base), msg('b', 2, base + 60_000), msg('c', 3, base + day), msg('d', 4, base + 3 * day)], base + 3 * day);
    expect(rows.map((r) => r.kind)).toEqual(['day', 'message', 'message', 'day', 'message', 'day', 'message']);
    expect(rows[rows.length - 2]).toMatchObject({ kind: 'day', label: 'Today' });
  });
  it('merges pages without duplicates, ordered by orderKey', () => {
    const merged = mergeMessages([msg('b', 2, base), msg('c', 3, base)], [msg('a', 1, base), msg('b', 2, base), msg('d', 4, base)]);
    expect(merged.map((m) => m.id)).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('connection indicator text', () => {
  const state: ConnectionState = { phase: 'ready', cause: null, relayUrl: 'wss://relay', tempKeyExpiresAt: base + 23 * 3_600_000, outboxSize: 0, since: base };
  it('names the temp-key state and its expiry', () => {
    expect(describeConnection(state, base)).toMatchObject({ label: 'Ready', tone: 'ok' });
    expect(describeConnection(state, base).detail).toContain('expires in 23 h');
    const rebinding = describeConnection({ ...state, phase: 'rebinding', cause: 'relay_forgot_key', outboxSize: 2 }, base);
    expect(rebinding.label).toBe('Re-binding');
    expect(rebinding.detail).toContain('404');
    expect(rebinding.detail).toContain('2 messages waiting');
    for (const phase of ['offline', 'connecting', 'handshaking', 'binding'] as const) {
      expect(describeConnection({ ...state, phase }, base).label.toLowerCase()).toBe(phase);
    }
  });
});
