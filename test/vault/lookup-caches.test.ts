// The vault's in-memory lookup shortcuts (issue 18): the handle -> contact hint and the memoized
// kv tags must answer exactly what a plain scan / a fresh HMAC would, whatever happened since
// they were filled (rolled-back writes, a handle moving to another contact, deletion, lock).
import { afterEach, describe, expect, it } from 'vitest';
import type { ContactRecord } from '../../main/vault/api.ts';
import { testVaults } from './helpers.ts';

const vaults = testVaults();
afterEach(() => vaults.cleanup());

const contact = (id: string, handle: string): ContactRecord => ({ id, handle, displayName: handle, identityChanged: false, createdAt: 1 });

describe('findContactByHandle with its in-memory hint', () => {
  it('never answers from a contact a rolled-back transaction created', async () => {
    const { vault } = await vaults.fresh();
    expect(() =>
      vault.transaction(() => {
        vault.upsertContact(contact('k1', '@bob'));
        expect(vault.findContactByHandle('@bob')?.id).toBe('k1');
        throw new Error('store failed');
      }),
    ).toThrow('store failed');
    expect(vault.findContactByHandle('@bob')).toBeUndefined();
    vault.upsertContact(contact('k2', '@bob'));
    expect(vault.findContactByHandle('@bob')?.id).toBe('k2');
  });

  it('follows a handle that moved to another contact, and a contact whose handle changed', async () => {
    const { vault } = await vaults.fresh();
    vault.upsertContact(contact('k1', '@bob'));
    vault.upsertContact(contact('k2', '@carol'));
    expect(vault.findContactByHandle('@bob')?.id).toBe('k1');
    expect(vault.findContactByHandle('@carol')?.id).toBe('k2');
    // k1 is renamed away from @bob, and k2 takes @bob: the hint for @bob (k1) must not be used.
    vault.upsertContact(contact('k1', '@dave'));
    vault.upsertContact(contact('k2', '@bob'));
    expect(vault.findContactByHandle('@bob')?.id).toBe('k2');
    expect(vault.findContactByHandle('@carol')).toBeUndefined();
    expect(vault.findContactByHandle('@dave')?.id).toBe('k1');
  });

  it('answers the record as stored now, never one a caller changed or an older version', async () => {
    const { vault } = await vaults.fresh();
    vault.upsertContact({ ...contact('k1', '@bob'), identityKey: new Uint8Array([1, 1]) });
    const first = vault.findContactByHandle('@bob')!;
    first.identityKey!.fill(9);
    first.displayName = 'changed by a caller';
    expect(vault.findContactByHandle('@bob')).toMatchObject({ displayName: '@bob', identityKey: new Uint8Array([1, 1]) });
    // Same handle, new key: the remembered record is not used once the row changed.
    vault.upsertContact({ ...contact('k1', '@bob'), identityKey: new Uint8Array([2, 2]), identityChanged: true });
    expect(vault.findContactByHandle('@bob')).toMatchObject({ identityKey: new Uint8Array([2, 2]), identityChanged: true });
  });

  it('answers the same after lock and unlock (the hint is gone, the contacts are not)', async () => {
    const { vault, dir } = await vaults.fresh();
    vault.upsertContact(contact('k1', '@bob'));
    expect(vault.findContactByHandle('@bob')?.id).toBe('k1');
    vault.lock();
    expect(() => vault.findContactByHandle('@bob')).toThrow();
    const again = await vaults.reopen(dir);
    expect(again.findContactByHandle('@bob')?.id).toBe('k1');
    expect(again.findContactByHandle('@nobody')).toBeUndefined();
  });
});

describe('kv tags memoized', () => {
  it('the same key reads back what was written, across many distinct keys and after unlock', async () => {
    const { vault, dir } = await vaults.fresh();
    // More keys than the memo holds, so it is emptied and refilled on the way.
    vault.transaction(() => {
      for (let i = 0; i < 5000; i++) vault.kvSet('ns', `key-${i}`, new Uint8Array([i & 0xff, i >> 8]));
    });
    for (const i of [0, 1, 4095, 4096, 4999]) expect(vault.kvGet('ns', `key-${i}`)).toEqual(new Uint8Array([i & 0xff, i >> 8]));
    expect(vault.kvGet('other-ns', 'key-1')).toBeUndefined();
    vault.lock();
    const again = await vaults.reopen(dir);
    expect(again.kvGet('ns', 'key-4999')).toEqual(new Uint8Array([4999 & 0xff, 4999 >> 8]));
    expect(again.kvKeys('ns')).toHaveLength(5000);
  });
});

describe('getContact with the record last opened kept', () => {
  it('answers the row as stored now: after a rewrite, a rolled-back rewrite, a caller changing what it got; none for an id without a row', async () => {
    const { vault } = await vaults.fresh();
    vault.upsertContact({ ...contact('k1', '@bob'), identityKey: new Uint8Array([1, 1]) });
    const first = vault.getContact('k1')!;
    first.identityKey!.fill(9);
    first.displayName = 'changed by a caller';
    expect(vault.getContact('k1')).toMatchObject({ displayName: '@bob', identityKey: new Uint8Array([1, 1]) });

    vault.upsertContact({ ...contact('k1', '@bob'), identityKey: new Uint8Array([2, 2]), identityChanged: true });
    expect(vault.getContact('k1')).toMatchObject({ identityKey: new Uint8Array([2, 2]), identityChanged: true });

    expect(() =>
      vault.transaction(() => {
        vault.upsertContact({ ...contact('k1', '@bob'), identityKey: new Uint8Array([3, 3]) });
        expect(vault.getContact('k1')?.identityKey).toEqual(new Uint8Array([3, 3]));
        throw new Error('store failed');
      }),
    ).toThrow('store failed');
    expect(vault.getContact('k1')).toMatchObject({ identityKey: new Uint8Array([2, 2]), identityChanged: true });
    expect(vault.getContact('k2')).toBeUndefined();
  });
});
