// E2eKv's per-operation read memo (issue 18): within one staged operation a record is read from
// the vault once, however often libsignal asks; a durable write in between is seen; after the
// operation every read goes to the vault again, and the memo's copies are zeroed. The identity
// store keeps contact records between operations only until an identity record is written.
import { describe, expect, it } from 'vitest';
import { Direction, IdentityKeyPair, ProtocolAddress } from '@signalapp/libsignal-client';
import { E2eKv, NS } from '../../main/e2e/kv.ts';
import { VaultIdentityKeyStore } from '../../main/e2e/stores.ts';
import { MemoryVault } from './helpers.ts';

class CountingVault extends MemoryVault {
  reads = 0;
  override kvGet(ns: string, key: string): Uint8Array | undefined {
    this.reads++;
    return super.kvGet(ns, key);
  }
}

describe('E2eKv reads during a staged operation', () => {
  it('reads each record from the vault once per operation, and sees durable writes made in it', async () => {
    const vault = new CountingVault();
    const kv = new E2eKv(vault);
    vault.kvSet(NS.session, 'bob', new Uint8Array([1]));
    let held: Uint8Array | undefined;
    await kv.staged(async () => {
      expect(kv.get(NS.session, 'bob')).toEqual(new Uint8Array([1]));
      const again = kv.get(NS.session, 'bob');
      expect(again).toEqual(new Uint8Array([1]));
      again!.fill(9); // a caller wiping what it got must not change what the next one reads
      expect(kv.get(NS.session, 'bob')).toEqual(new Uint8Array([1]));
      expect(kv.get(NS.identity, 'nobody')).toBeUndefined();
      expect(kv.get(NS.identity, 'nobody')).toBeUndefined();
      expect(vault.reads).toBe(2);
      kv.setDurable(NS.identity, 'nobody', new Uint8Array([7]));
      expect(kv.get(NS.identity, 'nobody')).toEqual(new Uint8Array([7]));
      kv.set(NS.session, 'bob', new Uint8Array([2]));
      expect(kv.get(NS.session, 'bob')).toEqual(new Uint8Array([2]));
      held = kv.get(NS.identity, 'nobody');
    });
    expect(held).toEqual(new Uint8Array([7]));
    // Outside an operation nothing is remembered: a change made meanwhile is read.
    vault.kvSet(NS.session, 'bob', new Uint8Array([3]));
    const before = vault.reads;
    expect(kv.get(NS.session, 'bob')).toEqual(new Uint8Array([3]));
    expect(kv.get(NS.session, 'bob')).toEqual(new Uint8Array([3]));
    expect(vault.reads).toBe(before + 2);
  });
});

describe('identity records kept between operations', () => {
  class IdentityCountingVault extends MemoryVault {
    identityReads = 0;
    override kvGet(ns: string, key: string): Uint8Array | undefined {
      if (ns === NS.identity) this.identityReads++;
      return super.kvGet(ns, key);
    }
  }
  const bob = ProtocolAddress.new('bob', 1);

  it('reads a contact record once while nothing writes one, and never serves one from before a write', async () => {
    const vault = new IdentityCountingVault();
    const kv = new E2eKv(vault);
    const store = new VaultIdentityKeyStore(kv);
    const first = IdentityKeyPair.generate().publicKey;
    const second = IdentityKeyPair.generate().publicKey;
    await store.saveIdentity(bob, first);
    const reads = vault.identityReads;
    for (let i = 0; i < 5; i++) expect(await store.isTrustedIdentity(bob, first, Direction.Receiving)).toBe(true);
    expect(vault.identityReads).toBe(reads + 1);
    // A different key: recorded as pending (durable), and seen at once.
    expect(await store.isTrustedIdentity(bob, second, Direction.Receiving)).toBe(false);
    expect(store.status(bob).pending).toEqual(second.serialize());
    expect(store.accept(bob)).toEqual(second.serialize());
    expect(store.status(bob)).toMatchObject({ trusted: second.serialize(), pending: undefined });
    // A staged write that is discarded: the record read afterwards is the stored one.
    const staged = await kv.staged(async () => {
      kv.set(NS.identity, kv.addressKey(bob.toString()), new TextEncoder().encode(JSON.stringify({ address: bob.toString(), trusted: Buffer.from(first.serialize()).toString('base64') })));
      expect(store.status(bob).trusted).toEqual(first.serialize());
    });
    staged.discard();
    expect(store.status(bob).trusted).toEqual(second.serialize());
    expect(await store.isTrustedIdentity(bob, first, Direction.Receiving)).toBe(false);
  });
});
