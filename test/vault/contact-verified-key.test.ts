// The sealed contact row keeps the identity key that was verified, not a flag: verified holds
// only while it is the contact's key. Rows written before (with `verified: true`) read as
// verified for the key they held then, and for no other.
import { describe, expect, it } from 'vitest';
import { decodeContact, encodeContact, isVerified } from '../../main/vault/records.ts';
import type { ContactRecord } from '../../main/vault/api.ts';

const K = new Uint8Array([5, 1, 2, 3]);
const K2 = new Uint8Array([5, 9, 9, 9]);
const base: ContactRecord = { id: 'c1', handle: 'bob', displayName: 'Bob', identityChanged: false, createdAt: 1 };

describe('contact verified key', () => {
  it('is verified only for the key that was compared, and not while a change is pending', () => {
    expect(isVerified({ ...base, identityKey: K, verifiedKey: K })).toBe(true);
    expect(isVerified({ ...base, identityKey: K2, verifiedKey: K })).toBe(false);
    expect(isVerified({ ...base, verifiedKey: K })).toBe(false);
    expect(isVerified({ ...base, identityKey: K })).toBe(false);
    expect(isVerified({ ...base, identityKey: K, verifiedKey: K, identityChanged: true })).toBe(false);
  });

  it('round-trips through the sealed row encoding', () => {
    const c = { ...base, identityKey: K, verifiedKey: K };
    expect(decodeContact('c1', encodeContact(c))).toEqual(c);
    expect(decodeContact('c1', encodeContact(base))).toEqual(base);
  });

  it('reads rows written with the old flag as verified for the key stored with them', () => {
    const old = (body: object): Buffer => Buffer.from(JSON.stringify({ handle: 'bob', displayName: 'Bob', identityChanged: false, createdAt: 1, ...body }));
    const k = Buffer.from(K).toString('base64');
    expect(decodeContact('c1', old({ identityKey: k, verified: true })).verifiedKey).toEqual(K);
    expect(decodeContact('c1', old({ verified: true })).verifiedKey).toBeUndefined();
    expect(decodeContact('c1', old({ identityKey: k, verified: false })).verifiedKey).toBeUndefined();
  });
});
