import { IdentityKeyPair } from '@signalapp/libsignal-client';
import { describe, expect, it } from 'vitest';
import { BadBundle } from '../../shared/protocol/e2e-errors.ts';
import { formatSafetyNumber, safetyNumber } from '../../main/e2e/safety-number.ts';

describe('safety numbers', () => {
  const a = IdentityKeyPair.generate().publicKey.serialize();
  const b = IdentityKeyPair.generate().publicKey.serialize();
  const c = IdentityKeyPair.generate().publicKey.serialize();

  it('are 60 digits, the same from both sides, and change with either key or handle', () => {
    const ab = safetyNumber('alice', a, 'bob', b);
    expect(ab).toMatch(/^\d{60}$/);
    expect(safetyNumber('bob', b, 'alice', a)).toBe(ab);
    expect(safetyNumber('alice', a, 'bob', c)).not.toBe(ab);
    expect(safetyNumber('alice', c, 'bob', b)).not.toBe(ab);
    expect(safetyNumber('alice', a, 'bobby', b)).not.toBe(ab);
    // Half of the number belongs to each side: a change on bob's side keeps alice's half.
    const halves = (s: string) => [s.slice(0, 30), s.slice(30)];
    const changed = halves(safetyNumber('alice', a, 'bob', c));
    expect(halves(ab).filter((h) => changed.includes(h))).toHaveLength(1);
  });

  it('formats as 12 groups of 5', () => {
    const s = formatSafetyNumber(safetyNumber('alice', a, 'bob', b));
    expect(s).toMatch(/^(\d{5} ){11}\d{5}$/);
  });

  it('refuses bytes that are not an identity key', () => {
    expect(() => safetyNumber('alice', a, 'bob', new Uint8Array(33))).toThrow(BadBundle);
    expect(() => safetyNumber('alice', new Uint8Array(5), 'bob', b)).toThrow(BadBundle);
  });
});
