// Signal sessions through the Messenger on a real relay process: the first messages take the
// PreKey path (envelope type 3 in the relay's queue), messages after a reply take the normal
// path (type 2); sessions survive lock/unlock, closing and reopening the profile, and a CLI
// child process. Then the contact re-registers with a new identity: it is detected, sending is
// held (API and CLI exit code 13) until accepted, and nothing is silently re-trusted.
import { describe, expect, it } from 'vitest';
import { openMessenger } from '../../main/messenger.ts';
import { PERMANENT_KEY_SECRET } from '../../main/net/stores.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { cli, fullHistory, messagingScene, newPeer, PASSWORD, queuedEnvelopes, reopen, waitFor, codeOf } from './helpers.ts';

const scene = messagingScene('s', ['alice', 'bob', 'bob2']);
const { dirs, peers } = scene;

const PREKEY = 3;
const NORMAL = 2;

describe('sessions and identity changes', () => {
  it('PreKey then normal path; survive lock/unlock, reopen and a CLI process; identity change held until accepted', async () => {
    const started = await scene.startRelay();
    let alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    let bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    peers.push(alice, bob);
    const bobContact = await alice.m.contactAdd({ handle: 'bob' });
    const conv = bobContact.conversationId;
    await bob.m.close();

    // Bob offline: Alice's first messages wait at the relay as PreKey envelopes.
    await alice.m.sendText({ conversationId: conv, text: 'p1' });
    await alice.m.sendText({ conversationId: conv, text: 'p2' });
    expect(await alice.m.sync({ timeoutMs: 30_000 })).toEqual({ done: true });
    expect(queuedEnvelopes(dirs.relay).map((b) => b[0])).toEqual([PREKEY, PREKEY]);

    bob = await reopen(dirs.bob);
    peers.push(bob);
    await waitFor(async () => (await bob.m.contactsList()).length === 1 && (await fullHistory(bob.m, (await bob.m.contactsList())[0]!.conversationId)).length === 2, 60_000, 'bob receives');
    const aliceContact = (await bob.m.contactsList())[0]!;
    await bob.m.sendText({ conversationId: aliceContact.conversationId, text: 'r1' });
    await waitFor(async () => (await fullHistory(alice.m, conv)).some((m) => m.text === 'r1'), 60_000, 'alice receives r1');
    expect(await bob.m.sync({ timeoutMs: 30_000 })).toEqual({ done: true });
    await bob.m.close();

    // Lock and unlock, then close and reopen: the session is still there (normal path).
    await alice.m.lock();
    expect(await codeOf(alice.m.sendText({ conversationId: conv, text: 'nope' }))).toBe('VAULT_LOCKED');
    await alice.m.unlock({ password: PASSWORD });
    await alice.m.sendText({ conversationId: conv, text: 'n1' });
    expect(await alice.m.sync({ timeoutMs: 30_000 })).toEqual({ done: true });
    await alice.m.close();
    alice = await reopen(dirs.alice);
    peers.push(alice);
    await alice.m.sendText({ conversationId: conv, text: 'n2' });
    expect(await alice.m.sync({ timeoutMs: 30_000 })).toEqual({ done: true });
    await alice.m.close();
    // And from another process.
    const sent = await cli(dirs.alice, 'send', 'bob', 'n3');
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.json.state).toBe('sent');
    const types = queuedEnvelopes(dirs.relay).map((b) => b[0]);
    expect(types.length).toBeGreaterThanOrEqual(3);
    expect(types.every((t) => t === NORMAL)).toBe(true);

    bob = await reopen(dirs.bob);
    peers.push(bob);
    await waitFor(async () => (await fullHistory(bob.m, aliceContact.conversationId)).length === 6, 60_000, 'bob receives n1..n3');
    expect((await fullHistory(bob.m, aliceContact.conversationId)).map((m) => m.text)).toEqual(['p1', 'p2', 'r1', 'n1', 'n2', 'n3']);
    expect(await bob.m.sync({ timeoutMs: 30_000 })).toEqual({ done: true });
    await bob.m.close();
    const bobVault = await Vault.unlock(dirs.bob, PASSWORD);
    const bobSeed = bobVault.getAccountSecret(PERMANENT_KEY_SECRET);
    bobVault.lock();
    expect(bobSeed?.length).toBe(32);

    alice = await reopen(dirs.alice);
    peers.push(alice);
    const before = await alice.m.safetyNumber({ contactId: bobContact.id });
    await alice.m.markVerified({ contactId: bobContact.id, verified: true });

    // Bob reinstalls: same device key (so the relay keeps his handle), new Signal identity.
    const { vault } = await Vault.create(dirs.bob2, PASSWORD, { kdf: TEST_KDF });
    vault.setAccountSecret(PERMANENT_KEY_SECRET, bobSeed!);
    vault.lock();
    const bob2 = { m: await openMessenger({ profileDir: dirs.bob2 }), dir: dirs.bob2, events: [] };
    peers.push(bob2);
    await bob2.m.unlock({ password: PASSWORD });
    await bob2.m.register({ handle: 'bob', serverDescriptor: started.descriptorText });
    const bob2Alice = await bob2.m.contactAdd({ handle: 'alice' });
    await bob2.m.sendText({ conversationId: bob2Alice.conversationId, text: 'i am the new bob' });

    // Alice detects the change; the message is held, not shown; sending is refused.
    await waitFor(async () => (await alice.m.contactsList())[0]!.identityChanged, 60_000, 'identity change detected');
    const changed = (await alice.m.contactsList())[0]!;
    expect(changed.verified).toBe(false);
    expect((await fullHistory(alice.m, conv)).some((m) => m.text === 'i am the new bob')).toBe(false);
    expect(await codeOf(alice.m.sendText({ conversationId: conv, text: 'blocked' }))).toBe('IDENTITY_CHANGED');
    expect(await codeOf(alice.m.markVerified({ contactId: bobContact.id, verified: true }))).toBe('IDENTITY_CHANGED');
    const pending = await alice.m.safetyNumber({ contactId: bobContact.id });
    expect(pending.identityChanged).toBe(true);
    expect(pending.digits).not.toBe(before.digits);
    expect((await alice.m.conversationsList({}))[0]!.identityChanged).toBe(true);
    // The CLI says so with its exit code, and reopening does not re-trust anything.
    await alice.m.close();
    expect((await cli(dirs.alice, 'send', 'bob', 'blocked too')).code).toBe(13);
    alice = await reopen(dirs.alice);
    peers.push(alice);
    expect(await codeOf(alice.m.sendText({ conversationId: conv, text: 'still blocked' }))).toBe('IDENTITY_CHANGED');

    // Accept: the held message appears, sending works, safety numbers agree again.
    const accepted = await alice.m.acceptIdentity({ contactId: bobContact.id, safetyNumber: pending.digits });
    expect(accepted).toMatchObject({ identityChanged: false, verified: false });
    expect((await fullHistory(alice.m, conv)).at(-1)!.text).toBe('i am the new bob');
    await alice.m.sendText({ conversationId: conv, text: 'welcome back' });
    await waitFor(async () => (await fullHistory(bob2.m, bob2Alice.conversationId)).some((m) => m.text === 'welcome back'), 60_000, 'new bob receives');
    expect((await alice.m.safetyNumber({ contactId: bobContact.id })).digits).toBe((await bob2.m.safetyNumber({ contactId: bob2Alice.id })).digits);
    expect(blockedNeverSent(await fullHistory(bob2.m, bob2Alice.conversationId))).toBe(true);
  }, 400_000);
});

function blockedNeverSent(history: { text: string }[]): boolean {
  return !history.some((m) => m.text.startsWith('blocked') || m.text === 'still blocked');
}
