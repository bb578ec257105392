// "Verified" belongs to one identity key: the mark names the key whose safety number was
// compared, never carries over to another key, and a backup's mark does not travel into a
// profile that did not make it, nor does its identity key: a backup imported on confirmation
// cannot pin the key a first contact trusts (the e2e rule that a restored key differing from the
// one served is a held change: test/e2e-signal/known-identity.test.ts). Real relay process, real libsignal.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { IdentityKeyPair } from '@signalapp/libsignal-client';
import { openMessenger } from '../../main/messenger.ts';
import { PERMANENT_KEY_SECRET } from '../../main/net/stores.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { messagingScene, newPeer, PASSWORD, type Peer, reopen, codeOf } from './helpers.ts';

const scene = messagingScene('vk', ['alice', 'bob', 'bob2', 'carol', 'files']);
const { dirs, peers } = scene;

describe('a verified mark names one identity key', () => {
  it('is kept only for that key: not by another profile importing it, not for a new key met after a restore', async () => {
    const started = await scene.startRelay();
    let alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    peers.push(alice, bob);
    const bobContact = await alice.m.contactAdd({ handle: 'bob' });
    await alice.m.sendText({ conversationId: bobContact.conversationId, text: 'hello bob' });
    const marked = await alice.m.markVerified({ contactId: bobContact.id, verified: true });
    expect(marked.verified).toBe(true);
    expect((await alice.m.safetyNumber({ contactId: bobContact.id })).verified).toBe(true);

    // Alice's own backup: signed by her identity, bob verified (for his key K).
    const file = join(dirs.files, 'alice.age');
    await alice.m.backupExport({ jobId: 'export-1', path: file, protection: { kind: 'passphrase', passphrase: 'tangerine orbit quietly seventeen' }, includeIdentity: false });

    // The vault holds the key that was compared, not a flag: a record whose key is another one
    // (here written directly, as a stale or imported record would be) is not verified, and on
    // unlock the record is brought back to the key the identity store trusts.
    await alice.m.close();
    const aliceVault = await Vault.unlock(dirs.alice, PASSWORD);
    const record = aliceVault.getContact(bobContact.id)!;
    const bobKey = record.identityKey!;
    expect(Buffer.from(record.verifiedKey!)).toEqual(Buffer.from(bobKey));
    const otherKey = IdentityKeyPair.generate().publicKey.serialize();
    aliceVault.upsertContact({ ...record, identityKey: otherKey, verifiedKey: otherKey });
    aliceVault.lock();
    alice = await reopen(dirs.alice);
    peers.push(alice);
    expect((await alice.m.contactsList())[0]).toMatchObject({ handle: 'bob', verified: false });
    expect((await alice.m.safetyNumber({ contactId: bobContact.id })).verified).toBe(false);
    // Marking again names the trusted key.
    expect((await alice.m.markVerified({ contactId: bobContact.id, verified: true })).verified).toBe(true);
    await alice.m.close();

    // Carol imports alice's backup (signed by another identity: only with the confirmation).
    const carol = await newPeer(dirs.carol, 'carol', started.descriptorText);
    peers.push(carol);
    const key = { kind: 'passphrase' as const, passphrase: 'tangerine orbit quietly seventeen' };
    expect(await codeOf(carol.m.backupImport({ jobId: 'import-0', path: file, key }))).toBe('BACKUP_UNTRUSTED');
    expect(await carol.m.contactsList()).toEqual([]);
    const imported = await carol.m.backupImport({ jobId: 'import-1', path: file, key, trustUnsigned: true });
    expect(imported).toMatchObject({ signer: 'foreign', contactsAdded: 1 });
    const restoredBob = (await carol.m.contactsList()).find((c) => c.handle === 'bob')!;
    expect(restoredBob.verified).toBe(false);
    const restoredConversation = (await carol.m.conversationsList({})).find((c) => c.contactId === restoredBob.id);
    expect(restoredConversation).toMatchObject({ verified: false, importedUnverified: true });

    // Bob reinstalls: same device key, a new identity key K'. The file named K for bob, but it
    // is not carol's own backup, so K was not kept (whoever wrote the file chose it): carol's
    // first session trusts K' on first use, unverified, as for any new contact.
    await bob.m.close();
    const bobVault = await Vault.unlock(dirs.bob, PASSWORD);
    const seed = bobVault.getAccountSecret(PERMANENT_KEY_SECRET)!;
    bobVault.lock();
    const { vault: fresh } = await Vault.create(dirs.bob2, PASSWORD, { kdf: TEST_KDF });
    fresh.setAccountSecret(PERMANENT_KEY_SECRET, seed);
    fresh.lock();
    const bob2: Peer = { m: await openMessenger({ profileDir: dirs.bob2 }), dir: dirs.bob2, events: [] };
    peers.push(bob2);
    await bob2.m.unlock({ password: PASSWORD });
    await bob2.m.register({ handle: 'bob', serverDescriptor: started.descriptorText });

    expect(await codeOf(carol.m.sendText({ conversationId: restoredBob.conversationId, text: 'to the new bob' }))).toBe('OK');
    expect(await carol.m.safetyNumber({ contactId: restoredBob.id })).toMatchObject({ identityChanged: false, verified: false });
    expect((await carol.m.contactsList()).find((c) => c.id === restoredBob.id)).toMatchObject({ identityChanged: false, verified: false });
  }, 300_000);
});
