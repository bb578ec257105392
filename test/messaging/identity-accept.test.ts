// Accepting a changed identity binds to the safety number the user was shown: the relay (or
// anyone who can register the handle's device key) cannot swap in another key after the number
// was displayed and have that key trusted. Real relay process, real libsignal, the CLI as a
// child process.
import { describe, expect, it } from 'vitest';
import { formatSafetyNumber } from '../../main/e2e/safety-number.ts';
import { openMessenger } from '../../main/messenger.ts';
import { PERMANENT_KEY_SECRET } from '../../main/net/stores.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { cli, fullHistory, messagingScene, newPeer, PASSWORD, type Peer, reopen, waitFor, codeOf } from './helpers.ts';

const scene = messagingScene('ia', ['alice', 'bob', 'bob2', 'bob3']);
const { dirs, peers } = scene;

/** Bob reinstalls: same device key (the relay keeps his handle), a new Signal identity; says `text` to alice. */
async function reinstall(seed: Uint8Array, dir: string, descriptorText: string, text: string): Promise<Peer> {
  const { vault } = await Vault.create(dir, PASSWORD, { kdf: TEST_KDF });
  vault.setAccountSecret(PERMANENT_KEY_SECRET, seed);
  vault.lock();
  const peer: Peer = { m: await openMessenger({ profileDir: dir }), dir, events: [] };
  peers.push(peer);
  await peer.m.unlock({ password: PASSWORD });
  await peer.m.register({ handle: 'bob', serverDescriptor: descriptorText });
  const alice = await peer.m.contactAdd({ handle: 'alice' });
  await peer.m.sendText({ conversationId: alice.conversationId, text });
  expect(await peer.m.sync({ timeoutMs: 30_000 })).toEqual({ done: true });
  return peer;
}

describe('accepting a changed identity', () => {
  it('accepts only the key whose safety number was shown', async () => {
    const started = await scene.startRelay();
    let alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    peers.push(alice);
    const bobContact = await alice.m.contactAdd({ handle: 'bob' });
    const conv = bobContact.conversationId;
    const original = await alice.m.safetyNumber({ contactId: bobContact.id });
    await bob.m.close();
    const bobVault = await Vault.unlock(dirs.bob, PASSWORD);
    const seed = bobVault.getAccountSecret(PERMANENT_KEY_SECRET)!;
    bobVault.lock();

    // First re-registration: alice sees the change and is shown the new number N2.
    await reinstall(seed, dirs.bob2, started.descriptorText, 'from bob2');
    await waitFor(async () => (await alice.m.safetyNumber({ contactId: bobContact.id })).identityChanged, 60_000, 'first change detected');
    const shown = await alice.m.safetyNumber({ contactId: bobContact.id });
    expect(shown.digits).not.toBe(original.digits);

    // A stale or wrong number is refused and changes nothing.
    for (const wrong of [original.digits, '0'.repeat(60)]) {
      expect(await codeOf(alice.m.acceptIdentity({ contactId: bobContact.id, safetyNumber: wrong }))).toBe('IDENTITY_CHANGED');
    }
    expect(await codeOf(alice.m.acceptIdentity({ contactId: bobContact.id, safetyNumber: 'not digits' }))).toBe('INVALID_ARGUMENT');
    expect(await alice.m.safetyNumber({ contactId: bobContact.id })).toMatchObject({ digits: shown.digits, identityChanged: true, verified: false });
    expect(await codeOf(alice.m.sendText({ conversationId: conv, text: 'blocked' }))).toBe('IDENTITY_CHANGED');
    expect((await fullHistory(alice.m, conv)).some((msg) => msg.text === 'from bob2')).toBe(false);
    // Verified cannot be set while a key is pending.
    expect(await codeOf(alice.m.markVerified({ contactId: bobContact.id, verified: true }))).toBe('IDENTITY_CHANGED');

    // Second re-registration after N2 was shown: the pending key is replaced by a third one.
    await reinstall(seed, dirs.bob3, started.descriptorText, 'from bob3');
    await waitFor(async () => (await alice.m.safetyNumber({ contactId: bobContact.id })).digits !== shown.digits, 60_000, 'second change detected');
    const third = await alice.m.safetyNumber({ contactId: bobContact.id });
    expect(third.identityChanged).toBe(true);
    // Accepting the number that was shown no longer trusts anything: that key is not pending.
    const refused = await alice.m.acceptIdentity({ contactId: bobContact.id, safetyNumber: shown.digits }).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(refused?.code).toBe('IDENTITY_CHANGED');
    expect(refused?.message).toContain('changed again');
    expect(await alice.m.safetyNumber({ contactId: bobContact.id })).toMatchObject({ digits: third.digits, identityChanged: true });
    expect(await codeOf(alice.m.sendText({ conversationId: conv, text: 'blocked' }))).toBe('IDENTITY_CHANGED');
    await alice.m.close();

    // CLI: without --safety-number it prints the pending number, exits 13 and changes nothing.
    const bare = await cli(dirs.alice, 'accept-identity', 'bob');
    expect(bare.code, bare.stderr).toBe(13);
    expect(bare.json).toMatchObject({ ok: false, code: 'IDENTITY_CHANGED', safetyNumber: { digits: third.digits, identityChanged: true } });
    expect(bare.stderr).toContain(formatSafetyNumber(third.digits));
    // With the number shown before the second change: refused (exit 13).
    const stale = await cli(dirs.alice, 'accept-identity', 'bob', '--safety-number', formatSafetyNumber(shown.digits));
    expect(stale.code, stale.stderr).toBe(13);
    expect(stale.json).toMatchObject({ ok: false, code: 'IDENTITY_CHANGED' });
    // Not 60 digits: a usage error.
    expect((await cli(dirs.alice, 'accept-identity', 'bob', '--safety-number', '12345 67890')).code).toBe(2);
    alice = await reopen(dirs.alice);
    peers.push(alice);
    expect(await alice.m.safetyNumber({ contactId: bobContact.id })).toMatchObject({ digits: third.digits, identityChanged: true });
    await alice.m.close();

    // With the number on screen now (spaces as printed): accepted.
    const right = await cli(dirs.alice, 'accept-identity', 'bob', '--safety-number', formatSafetyNumber(third.digits));
    expect(right.code, right.stderr).toBe(0);
    expect(right.json).toMatchObject({ ok: true, contact: { handle: 'bob', verified: false } });
    // Bob2's message is still held and was sent with the second key, so that key is pending
    // again, and the contact says so rather than looking settled.
    alice = await reopen(dirs.alice);
    peers.push(alice);
    const after = await alice.m.safetyNumber({ contactId: bobContact.id });
    expect(after).toMatchObject({ digits: shown.digits, identityChanged: true });
    expect((await alice.m.contactsList())[0]!.identityChanged).toBe(true);
    expect((right.json.contact as { identityChanged: boolean }).identityChanged).toBe(true);
    await alice.m.close();

    // markVerified checks e2e's pending key itself, not only the contact's flag.
    const aliceVault = await Vault.unlock(dirs.alice, PASSWORD);
    const record = aliceVault.getContact(bobContact.id)!;
    aliceVault.upsertContact({ ...record, identityChanged: false });
    aliceVault.lock();
    alice = await reopen(dirs.alice);
    peers.push(alice);
    expect((await alice.m.contactsList())[0]!.identityChanged).toBe(false);
    expect(await codeOf(alice.m.markVerified({ contactId: bobContact.id, verified: true }))).toBe('IDENTITY_CHANGED');
    expect((await alice.m.contactsList())[0]!.verified).toBe(false);

    // The number on screen now accepts that key; its held message then appears.
    await alice.m.acceptIdentity({ contactId: bobContact.id, safetyNumber: after.digits });
    expect((await fullHistory(alice.m, conv)).some((msg) => msg.text === 'from bob2')).toBe(true);
  }, 400_000);
});
