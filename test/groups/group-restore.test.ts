// A group restored from a backup (main/messenger/group-backup.ts, group-rejoin.ts), on a real
// relay process, real libsignal and real vaults: the restored member reads the others' next texts
// without any of them starting a new chain (it asked each for theirs), and a member answers such
// a request only from a current member.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GroupMessage } from '../../shared/api.ts';
import { encodeEnvelope, type E2e } from '../../main/e2e/index.ts';
import type { Messenger } from '../../main/messenger.ts';
import type { RelayConnection } from '../../main/messenger/connection.ts';
import type { GroupRecord } from '../../main/messenger/group-store.ts';
import type { UnlockedSession } from '../../main/messenger/session.ts';
import type { Vault } from '../../main/vault/index.ts';
import { messagingScene, peersOn, waitFor, type Peer } from '../messaging/helpers.ts';

const scene = messagingScene('grestore', ['alice', 'bob', 'carol', 'dave']);
let alice: Peer, bob: Peer, carol: Peer, dave: Peer;
let groupId = '';

const sessionOf = (p: Peer): UnlockedSession => (p.m as unknown as { life: { require(): UnlockedSession } }).life.require();
const e2eOf = (p: Peer): E2e => sessionOf(p).registration!.e2e;
const vaultOf = (p: Peer): Vault => sessionOf(p).vault;
const connOf = (p: Peer): RelayConnection => sessionOf(p).connection!;
const recordOf = (p: Peer): GroupRecord | undefined => {
  const raw = vaultOf(p).kvGet('groups', groupId);
  return raw ? (JSON.parse(Buffer.from(raw).toString('utf8')) as GroupRecord) : undefined;
};

async function texts(m: Messenger): Promise<string[]> {
  return (await m.groupHistory({ groupId, limit: 500 })).messages.filter((x) => !x.system).map((x: GroupMessage) => `${x.sender}:${x.text}`);
}

/** A sender-key-request for the group, from `p` to `to` over their 1:1 session, as a client could send it. */
async function ask(p: Peer, to: string): Promise<void> {
  const env = encodeEnvelope(await e2eOf(p).sendContent(to, { v: 1, kind: 'sender-key-request', groupId }));
  await connOf(p).mailbox.send(to, env);
}

beforeAll(async () => {
  ({ alice, bob, carol, dave } = await peersOn(scene, ['alice', 'bob', 'carol', 'dave'], 'r_'));
}, 120_000);

describe('a group restored from a backup', () => {
  it("reads the others' next texts without any of them starting a new chain", async () => {
    groupId = (await alice.m.groupCreate({ name: 'Restored', members: ['r_bob', 'r_carol'] })).groupId;
    for (const p of [bob, carol]) await waitFor(async () => (await p.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'the group at every member');
    for (const p of [alice, bob, carol]) await p.m.groupSend({ groupId, text: 'before' });
    for (const p of [alice, bob, carol]) await waitFor(async () => (await texts(p.m)).length === 3, 30_000, 'three texts at every member');

    const passphrase = 'group restore passphrase, long enough 4c1d';
    const path = join(scene.dirs.bob, 'restore.age');
    await bob.m.backupExport({ jobId: 'restore-export', path, protection: { kind: 'passphrase', passphrase }, includeIdentity: false });
    const info = await bob.m.groupInfo({ groupId });
    // Bob's profile loses the group and every sender key chain it held (a backup carries none).
    const vault = vaultOf(bob);
    vault.kvDelete('groups', groupId);
    for (const k of vault.kvKeys('e2e-sender-key')) vault.kvDelete('e2e-sender-key', k);
    await bob.m.backupImport({ jobId: 'restore-import', path, key: { kind: 'passphrase', passphrase } });
    expect(await bob.m.groupInfo({ groupId })).toEqual(info);

    // Alice and carol keep their chains (no membership change): bob reads them after asking.
    const chains = { alice: recordOf(alice)!.dist, carol: recordOf(carol)!.dist };
    await waitFor(() => Object.keys(recordOf(bob)?.chains ?? {}).length === 2, 30_000, "both members' chains at bob");
    await alice.m.groupSend({ groupId, text: 'after the restore (alice)' });
    await carol.m.groupSend({ groupId, text: 'after the restore (carol)' });
    await waitFor(async () => {
      const got = await texts(bob.m);
      return got.includes('r_alice:after the restore (alice)') && got.includes('r_carol:after the restore (carol)');
    }, 30_000, "the others' texts at the restored member");
    expect({ alice: recordOf(alice)!.dist, carol: recordOf(carol)!.dist }).toEqual(chains);
    // His own new chain reached them before his next text.
    await bob.m.groupSend({ groupId, text: 'after the restore (bob)' });
    for (const p of [alice, carol]) await waitFor(async () => (await texts(p.m)).includes('r_bob:after the restore (bob)'), 30_000, 'his text after the restore');
    // The marker is done with: nothing is asked again.
    expect(vault.kvKeys('group-restored')).toEqual([]);
  }, 120_000);

  it('a member answers a request only from a current member', async () => {
    // Dave talks to alice 1:1 but is not in the group: his request gets nothing.
    const toAlice = (await dave.m.contactAdd({ handle: 'r_alice' })).conversationId;
    await dave.m.sendText({ conversationId: toAlice, text: 'hello' });
    await waitFor(async () => (await alice.m.contactsList()).some((c) => c.handle === 'r_dave'), 30_000, 'alice knows dave');
    await ask(dave, 'r_alice');
    await dave.m.sendText({ conversationId: toAlice, text: 'after my request' });
    const aliceToDave = (await alice.m.contactsList()).find((c) => c.handle === 'r_dave')!.conversationId;
    await waitFor(async () => (await alice.m.historyPage({ conversationId: aliceToDave, anchor: { kind: 'newest' }, limit: 10 })).messages.some((m) => m.text === 'after my request'), 30_000, 'his marker at alice');
    // Alice's reply leaves after any answer would have (the relay keeps a sender's order).
    await alice.m.sendText({ conversationId: aliceToDave, text: 'reply' });
    await waitFor(async () => (await dave.m.historyPage({ conversationId: toAlice, anchor: { kind: 'newest' }, limit: 10 })).messages.some((m) => m.text === 'reply'), 30_000, 'her reply at dave');
    // A chain for a group he does not hold would wait in his group inbox: there is none.
    expect(vaultOf(dave).kvKeys('group-inbox').filter((k) => k.startsWith('chain-'))).toEqual([]);

    // Once a member, the same request is answered with alice's current chain (she sent nothing meanwhile).
    await alice.m.groupAdd({ groupId, handle: 'r_dave' });
    await waitFor(() => recordOf(dave) !== undefined, 30_000, 'dave joined');
    expect(recordOf(dave)!.chains['r_alice']).toBeUndefined();
    await ask(dave, 'r_alice');
    await waitFor(() => recordOf(dave)?.chains['r_alice'] === recordOf(alice)!.dist, 30_000, "alice's chain at dave");
  }, 120_000);
});
