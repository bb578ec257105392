// A key the profile already knows for a contact (restored from a backup) is the identity store's
// "first use" key: the same key starts a session as usual, a different one is a change that is
// held until accepted, in both directions. Without a known key it is trust on first use.
import { describe, expect, it } from 'vitest';
import { IdentityKeyPair } from '@signalapp/libsignal-client';
import { E2e } from '../../main/e2e/index.ts';
import { UntrustedIdentity } from '../../shared/protocol/e2e-errors.ts';
import { MemoryVault, PreKeyDirectory, str, text } from './helpers.ts';

async function party(dir: PreKeyDirectory, name: string, known?: Record<string, Uint8Array>): Promise<E2e> {
  const { e2e, registration } = await E2e.register(new MemoryVault(), name, { oneTimeCount: 5, knownIdentity: (handle) => known?.[handle] });
  dir.register(name, registration.identity, registration.oneTimePreKeys);
  return e2e;
}

describe('E2E: an identity key known before the first session', () => {
  it('the known key itself: the session starts and the key stays trusted', async () => {
    const dir = new PreKeyDirectory();
    const bob = await party(dir, 'bob');
    const alice = await party(dir, 'alice', { bob: bob.identityKey });
    expect(Buffer.from(alice.identityStatus('bob').trusted!)).toEqual(Buffer.from(bob.identityKey));
    await alice.startSession('bob', dir.fetchBundle('bob'));
    expect(str(await bob.decryptFrom('alice', await alice.encryptFor('bob', text('hi'))))).toBe('hi');
    expect(alice.identityStatus('bob').pending).toBeUndefined();
  });

  it('another key served for the first session: held as a change, trusted only once accepted', async () => {
    const dir = new PreKeyDirectory();
    const bob = await party(dir, 'bob');
    const restored = IdentityKeyPair.generate().publicKey.serialize();
    const alice = await party(dir, 'alice', { bob: restored });
    await expect(alice.startSession('bob', dir.fetchBundle('bob'))).rejects.toThrow(UntrustedIdentity);
    const status = alice.identityStatus('bob');
    expect(Buffer.from(status.trusted!)).toEqual(Buffer.from(restored));
    expect(Buffer.from(status.pending!)).toEqual(Buffer.from(bob.identityKey));
    expect(await alice.hasSession('bob')).toBe(false);
    await alice.acceptIdentity('bob', bob.identityKey);
    await alice.startSession('bob', dir.fetchBundle('bob'));
    expect(str(await bob.decryptFrom('alice', await alice.encryptFor('bob', text('after accepting'))))).toBe('after accepting');
  });

  it('another key on the first message received: held, not trusted on first use', async () => {
    const dir = new PreKeyDirectory();
    const restored = IdentityKeyPair.generate().publicKey.serialize();
    const alice = await party(dir, 'alice', { bob: restored });
    const bob = await party(dir, 'bob');
    await bob.startSession('alice', dir.fetchBundle('alice'));
    const first = await bob.encryptFor('alice', text('hello from a key you do not know'));
    const err = await alice.receive('bob', first, () => undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UntrustedIdentity);
    expect((err as UntrustedIdentity).held).toBe(true);
    expect(Buffer.from(alice.identityStatus('bob').pending!)).toEqual(Buffer.from(bob.identityKey));
  });

  it('nothing known: trust on first use, as before', async () => {
    const dir = new PreKeyDirectory();
    const bob = await party(dir, 'bob');
    const alice = await party(dir, 'alice', {});
    expect(alice.identityStatus('bob').trusted).toBeUndefined();
    await alice.startSession('bob', dir.fetchBundle('bob'));
    expect(Buffer.from(alice.identityStatus('bob').trusted!)).toEqual(Buffer.from(bob.identityKey));
  });
});
