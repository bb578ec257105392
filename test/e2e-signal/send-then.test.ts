// E2e.sendContentThen (issue 18): a send's own writes and its ratchet step are one vault
// transaction. A store that fails keeps neither (the next send reuses the same message key
// counter); one that succeeds keeps both, across lock and unlock, and the peer decrypts it.
import { SignalMessage } from '@signalapp/libsignal-client';
import { describe, expect, it } from 'vitest';
import { E2e, type Envelope } from '../../main/e2e/index.ts';
import { PreKeyDirectory } from './helpers.ts';
import { vaultParties, type VaultParty } from './vault-parties.ts';

const { register: registerParty, unlockAgain } = vaultParties('send-then');
const register = (relay: PreKeyDirectory, name: string): Promise<VaultParty> => registerParty(relay, name, 3);

const counterOf = (e: Envelope): number => {
  expect(e.type).toBe('message');
  return SignalMessage.deserialize(new Uint8Array(e.body)).counter();
};

describe('sendContentThen', () => {
  it('a failing store keeps neither its writes nor the ratchet step; a good one keeps both', async () => {
    const relay = new PreKeyDirectory();
    const alice = await register(relay, 'alice');
    const bob = await register(relay, 'bob');
    await alice.e2e.startSession('bob', relay.fetchBundle('bob'));
    // One round trip, so alice is past the PreKey messages and her envelopes carry a counter.
    await bob.e2e.decryptFrom('alice', await alice.e2e.sendContent('bob', { v: 1, kind: 'text', id: 'c0', sentAt: 0, text: 'hi' }));
    await alice.e2e.decryptFrom('bob', await bob.e2e.sendContent('alice', { v: 1, kind: 'text', id: 'c1', sentAt: 0, text: 'hello' }));

    const store = (id: string) => (): void => {
      alice.vault.appendMessages([{ id, conversationId: 'conv-bob', direction: 'out', sender: 'self', sentAt: 1, text: id, state: 'queued' }]);
    };
    let failed: Envelope | undefined;
    await expect(
      alice.e2e.sendContentThen('bob', { v: 1, kind: 'text', id: 'm1', sentAt: 1, text: 'lost' }, (envelope) => {
        failed = envelope;
        store('m1')();
        throw new Error('the outbox write failed');
      }),
    ).rejects.toThrow('the outbox write failed');
    expect(alice.vault.getMessage('m1')).toBeUndefined();

    const sent = await alice.e2e.sendContentThen('bob', { v: 1, kind: 'text', id: 'm2', sentAt: 2, text: 'kept' }, (envelope) => {
      store('m2')();
      return envelope;
    });
    // The failed attempt's ratchet step was not kept: the same message key counter again.
    expect(counterOf(sent)).toBe(counterOf(failed!));

    alice.vault.lock();
    alice.vault = await unlockAgain(alice.dir);
    alice.e2e = E2e.open(alice.vault);
    expect(alice.vault.getMessage('m2')?.text).toBe('m2');
    expect(alice.vault.getMessage('m1')).toBeUndefined();
    expect(new TextDecoder().decode(await bob.e2e.decryptFrom('alice', sent))).toContain('kept');
    // The committed step is the one after it: the next send moves on.
    const next = await alice.e2e.sendContentThen('bob', { v: 1, kind: 'text', id: 'm3', sentAt: 3, text: 'next' }, (envelope) => envelope);
    expect(counterOf(next)).toBe(counterOf(sent) + 1);
  });

  it('identityGeneration moves when an identity record may change, and stays put over an ordinary exchange', async () => {
    const relay = new PreKeyDirectory();
    const alice = await register(relay, 'alice');
    const bob = await register(relay, 'bob');
    const g0 = bob.e2e.identityGeneration;
    await alice.e2e.startSession('bob', relay.fetchBundle('bob'));
    // bob learns alice's key with her first message: a new record.
    await bob.e2e.decryptFrom('alice', await alice.e2e.sendContent('bob', { v: 1, kind: 'text', id: 'a0', sentAt: 0, text: 'hi' }));
    const g1 = bob.e2e.identityGeneration;
    expect(g1).not.toBe(g0);
    await alice.e2e.decryptFrom('bob', await bob.e2e.sendContent('alice', { v: 1, kind: 'text', id: 'b0', sentAt: 0, text: 'hello' }));
    for (let i = 1; i <= 3; i++) {
      await bob.e2e.decryptFrom('alice', await alice.e2e.sendContent('bob', { v: 1, kind: 'text', id: `a${i}`, sentAt: i, text: 'again' }));
      await alice.e2e.decryptFrom('bob', await bob.e2e.sendContent('alice', { v: 1, kind: 'text', id: `b${i}`, sentAt: i, text: 'again' }));
    }
    expect(bob.e2e.identityGeneration).toBe(g1);
    // alice re-registers (a new identity key): bob records it as pending, then accepts it.
    const alice2 = await register(relay, 'alice');
    await alice2.e2e.startSession('bob', relay.fetchBundle('bob'));
    await expect(bob.e2e.decryptFrom('alice', await alice2.e2e.sendContent('bob', { v: 1, kind: 'text', id: 'n0', sentAt: 9, text: 'new key' }))).rejects.toThrow();
    const g2 = bob.e2e.identityGeneration;
    expect(g2).not.toBe(g1);
    await bob.e2e.acceptIdentity('alice');
    expect(bob.e2e.identityGeneration).not.toBe(g2);
  });
});
