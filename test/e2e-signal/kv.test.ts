import { describe, expect, it } from 'vitest';
import { E2eKv, NS } from '../../main/e2e/kv.ts';
import { MemoryVault } from './helpers.ts';

describe('E2eKv staged writes', () => {
  it('reads its own staged writes, hands out copies, and flushes on commit only', async () => {
    const vault = new MemoryVault();
    const kv = new E2eKv(vault);
    kv.set(NS.preKey, '1', new Uint8Array([1]));
    const { result, commit } = await kv.staged(async () => {
      kv.set(NS.session, 'a', new Uint8Array([7, 7]));
      kv.delete(NS.preKey, '1');
      const seen = kv.get(NS.session, 'a')!;
      seen.fill(0); // a caller zeroing what it read must not change the staged value
      expect(kv.get(NS.session, 'a')).toEqual(new Uint8Array([7, 7]));
      expect(kv.get(NS.preKey, '1')).toBeUndefined();
      expect(kv.keys(NS.preKey)).toEqual([]);
      expect(kv.keys(NS.session)).toEqual(['a']);
      return 'done';
    });
    expect(result).toBe('done');
    expect(vault.kvGet(NS.session, 'a')).toBeUndefined();
    expect(vault.kvGet(NS.preKey, '1')).toEqual(new Uint8Array([1]));
    commit();
    expect(vault.kvGet(NS.session, 'a')).toEqual(new Uint8Array([7, 7]));
    expect(vault.kvGet(NS.preKey, '1')).toBeUndefined();
  });

  it('writes nothing when the staged operation throws, except durable writes', async () => {
    const vault = new MemoryVault();
    const kv = new E2eKv(vault);
    await expect(
      kv.staged(async () => {
        kv.set(NS.session, 'a', new Uint8Array([1]));
        kv.setDurable(NS.identity, 'x', new Uint8Array([2]));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(vault.kvKeys(NS.session)).toEqual([]);
    expect(vault.kvGet(NS.identity, 'x')).toEqual(new Uint8Array([2]));
    // Not left in staging mode.
    kv.set(NS.session, 'b', new Uint8Array([3]));
    expect(vault.kvGet(NS.session, 'b')).toEqual(new Uint8Array([3]));
  });

  it('address keys are stable per profile, opaque, and differ between profiles', () => {
    const a = new E2eKv(new MemoryVault());
    const b = new E2eKv(new MemoryVault());
    expect(a.addressKey('bob.1')).toBe(a.addressKey('bob.1'));
    expect(a.addressKey('bob.1')).toMatch(/^[0-9a-f]{32}$/);
    expect(a.addressKey('bob.1')).not.toBe(a.addressKey('bob.2'));
    expect(a.addressKey('bob.1')).not.toBe(b.addressKey('bob.1'));
  });
});
