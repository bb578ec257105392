// Group chats end to end: real relay process, real libsignal, real vaults on disk. Three members
// exchange messages (each exactly once, in per-sender order); a removed member whose client is
// still connected cannot decrypt what is sent after the removal even when handed the ciphertext;
// a joiner cannot decrypt what came before; forged and replayed changes change nothing.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GroupInfo, GroupMessage } from '../../shared/api.ts';
import { encodeEnvelope, type E2e } from '../../main/e2e/index.ts';
import type { Messenger } from '../../main/messenger.ts';
import type { GroupService } from '../../main/messenger/groups.ts';
import { GroupLog, sign, type ChangeBody, type GroupLogData } from '../../main/messenger/group-state.ts';
import type { Vault } from '../../main/vault/index.ts';
import { E2eError } from '../../shared/protocol/e2e-errors.ts';
import type { RelayConnection } from '../../main/messenger/connection.ts';
import type { UnlockedSession } from '../../main/messenger/session.ts';
import { codeOf, messagingScene, peersOn, queuedEnvelopes, waitFor, type Peer } from '../messaging/helpers.ts';

const scene = messagingScene('groups', ['alice', 'bob', 'carol', 'dave']);
let alice: Peer, bob: Peer, carol: Peer, dave: Peer;
let groupId = '';

// The parts a hostile member or a forwarding relay would use, reached inside the real messenger.
const groupsOf = (p: Peer): GroupService => (p.m as unknown as { groups: GroupService }).groups;
const sessionOf = (p: Peer): UnlockedSession => (p.m as unknown as { life: { require(): UnlockedSession } }).life.require();
const e2eOf = (p: Peer): E2e => sessionOf(p).registration!.e2e;
const vaultOf = (p: Peer): Vault => sessionOf(p).vault;
const connOf = (p: Peer): RelayConnection => sessionOf(p).connection!;

async function texts(m: Messenger): Promise<string[]> {
  return (await m.groupHistory({ groupId, limit: 500 })).messages.filter((x) => !x.system).map((x: GroupMessage) => `${x.sender}:${x.text}`);
}

async function revisionOf(p: Peer): Promise<number> {
  return (await p.m.groupsList()).find((g) => g.groupId === groupId)?.revision ?? 0;
}

beforeAll(async () => {
  ({ alice, bob, carol, dave } = await peersOn(scene, ['alice', 'bob', 'carol', 'dave'], 'g_'));
}, 120_000);

describe('group chat', () => {
  it('three members: create, everyone converges, messages exactly once in per-sender order', async () => {
    // The `group` event tells the UI what changed: bob's when he joins and when a text arrives.
    const bobEvents: GroupInfo[] = [];
    const offBob = bob.m.subscribe((e) => {
      if (e.name === 'group') bobEvents.push(e.payload);
    });
    const created = await alice.m.groupCreate({ name: 'Team', members: ['g_bob', 'g_carol'] });
    groupId = created.groupId;
    expect(created).toMatchObject({ name: 'Team', creator: 'g_alice', members: ['g_alice', 'g_bob', 'g_carol'], admins: ['g_alice'], revision: 1, isMember: true });
    for (const p of [bob, carol]) await waitFor(async () => (await revisionOf(p)) === 1, 30_000, 'the group at every member');
    expect((await bob.m.groupInfo({ groupId })).members).toEqual(['g_alice', 'g_bob', 'g_carol']);

    for (let i = 0; i < 3; i++) {
      await alice.m.groupSend({ groupId, text: `a${i}` });
      await bob.m.groupSend({ groupId, text: `b${i}` });
      await carol.m.groupSend({ groupId, text: `c${i}` });
    }
    for (const p of [alice, bob, carol]) await waitFor(async () => (await texts(p.m)).length === 9, 30_000, 'nine messages at every member');
    offBob();
    expect(bobEvents[0]).toMatchObject({ groupId, name: 'Team', revision: 1, isMember: true });
    // The join, his own three sends once the relay took them, and the six texts from the others.
    expect(bobEvents.length).toBeGreaterThanOrEqual(1 + 6);
    for (const p of [alice, bob, carol]) {
      const got = await texts(p.m);
      for (const who of ['g_alice', 'g_bob', 'g_carol']) {
        expect(got.filter((t) => t.startsWith(`${who}:`))).toEqual([0, 1, 2].map((i) => `${who}:${who[2]}${i}`));
      }
    }
    // Sent messages reach 'sent' once the relay has the one request.
    await waitFor(async () => (await alice.m.groupHistory({ groupId, limit: 500 })).messages.filter((m) => m.direction === 'out').every((m) => m.state === 'sent'), 30_000, 'sent');
    // Group messages are searchable like any other.
    const hits = await bob.m.search({ query: 'c2', order: 'newest', limit: 10 });
    expect(hits.hits.map((h) => h.conversationId)).toContain(`g${groupId}`);
    // A backup holds them as well-formed message lines: it exports and opens.
    const passphrase = 'group backup passphrase, long enough 7f3a9c';
    const path = join(scene.dirs.bob, 'group.age');
    await bob.m.backupExport({ jobId: 'group-export-1', path, protection: { kind: 'passphrase', passphrase }, includeIdentity: false });
    const opened = await bob.m.backupOpen({ jobId: 'group-open-1', path, key: { kind: 'passphrase', passphrase } });
    expect(opened.messages).toBeGreaterThanOrEqual(9);
    await bob.m.backupClose({ backupId: opened.backupId });
    // It carries the group (name and signed log): a profile that lost it gets it back from its own backup.
    const info = await bob.m.groupInfo({ groupId });
    vaultOf(bob).kvDelete('groups', groupId);
    expect(await codeOf(bob.m.groupInfo({ groupId }))).toBe('UNKNOWN_CONVERSATION');
    // Not from someone else's backup, even one the user chose to trust: a log names who our texts go to.
    const alicePath = join(scene.dirs.alice, 'group.age');
    await alice.m.backupExport({ jobId: 'group-export-2', path: alicePath, protection: { kind: 'passphrase', passphrase }, includeIdentity: false });
    await bob.m.backupImport({ jobId: 'group-import-0', path: alicePath, key: { kind: 'passphrase', passphrase }, trustUnsigned: true });
    expect(await codeOf(bob.m.groupInfo({ groupId }))).toBe('UNKNOWN_CONVERSATION');
    await bob.m.backupImport({ jobId: 'group-import-1', path, key: { kind: 'passphrase', passphrase } });
    expect(await bob.m.groupInfo({ groupId })).toEqual(info);
    // With a new chain of his own, given to the others with his next text.
    await bob.m.groupSend({ groupId, text: 'back from the backup' });
    for (const p of [alice, carol]) await waitFor(async () => (await texts(p.m)).includes('g_bob:back from the backup'), 30_000, 'his text after the import');
  }, 120_000);

  it('only an admin changes the group; a non-admin is refused and nothing is sent', async () => {
    expect(await codeOf(bob.m.groupRename({ groupId, name: 'Mine' }))).toBe('FORBIDDEN');
    expect(await codeOf(bob.m.groupAdd({ groupId, handle: 'g_dave' }))).toBe('FORBIDDEN');
    expect((await alice.m.groupInfo({ groupId })).name).toBe('Team');
  });

  it('a forged or replayed change is refused by every member and shown nowhere', async () => {
    const before = await alice.m.groupInfo({ groupId });
    const be = e2eOf(bob);
    // The log as bob holds it (sealed in his vault): its head is what a change must name.
    const raw = vaultOf(bob).kvGet('groups', groupId);
    const rec = JSON.parse(Buffer.from(raw!).toString('utf8')) as { log: GroupLogData };
    const head = GroupLog.restore(rec.log).state.head;
    const body = (author: string): ChangeBody => ({ v: 1, groupId, revision: before.revision, parent: head, author, op: { type: 'remove', handle: 'g_alice' } });
    // bob (not an admin) signs a removal of alice; and one that names alice as its author.
    const forgedAdmin = sign(body('g_bob'), (m) => be.groups.sign(m));
    const forgedAuthor = sign(body('g_alice'), (m) => be.groups.sign(m));
    // A replay of the creation, as an old change sent again.
    const replay = rec.log.rootChange;
    for (const change of [forgedAdmin, forgedAuthor, replay]) {
      for (const to of ['g_alice', 'g_carol']) {
        const env = encodeEnvelope(await be.sendContent(to, { v: 1, kind: 'group-change', change: change as unknown as Record<string, unknown> }));
        await connOf(bob).mailbox.send(to, env);
      }
    }
    // A message after them proves they were handled (per-sender order at the relay).
    await bob.m.groupSend({ groupId, text: 'after the forgeries' });
    for (const p of [alice, carol]) {
      await waitFor(async () => (await texts(p.m)).includes('g_bob:after the forgeries'), 30_000, 'the marker');
      expect(await p.m.groupInfo({ groupId })).toEqual(before);
    }
  }, 60_000);

  it('removal: the removed member, still connected, cannot decrypt what follows; a joiner cannot decrypt what came before', async () => {
    await alice.m.groupRemove({ groupId, handle: 'g_carol' });
    await waitFor(async () => (await bob.m.groupInfo({ groupId })).members.join() === 'g_alice,g_bob', 30_000, 'the removal at bob');
    await waitFor(async () => !(await carol.m.groupInfo({ groupId })).isMember, 30_000, 'the removal at carol');
    expect(await codeOf(carol.m.groupSend({ groupId, text: 'still here?' }))).toBe('FORBIDDEN');

    // bob offline, so alice's next group message stays queued at the relay where we can take it.
    await bob.m.lock();
    const seen = new Set(queuedEnvelopes(scene.dirs.relay).map((b) => b.toString('hex')));
    await alice.m.groupSend({ groupId, text: 'after the removal' });
    let captured: Buffer[] = [];
    await waitFor(() => {
      captured = queuedEnvelopes(scene.dirs.relay).filter((b) => b[0] === 7 && !seen.has(b.toString('hex')));
      return captured.length > 0;
    }, 30_000, 'the group message queued for bob');
    // A relay that forwards it to carol anyway: alice started a new chain at the removal, so
    // carol holds no key to decrypt it with.
    for (const body of captured) {
      await expect(e2eOf(carol).groups.receive('g_alice', body, (p) => p.slice())).rejects.toThrow(E2eError);
      expect(await groupsOf(carol).receiveEnvelope({ id: 1_000_000, from: 'g_alice', body, sentAt: Date.now() })).toBe('dropped');
    }
    expect(await texts(carol.m)).not.toContain('g_alice:after the removal');

    await bob.m.unlock({ password: 'correct horse battery staple' });
    await waitFor(async () => (await texts(bob.m)).includes('g_alice:after the removal'), 30_000, 'bob reads it');

    // dave joins: he gets the group as it is now and only the chains from now on.
    await alice.m.groupAdd({ groupId, handle: 'g_dave' });
    await waitFor(async () => (await revisionOf(dave)) > 0, 30_000, 'the group at dave');
    expect((await dave.m.groupInfo({ groupId })).members).toEqual(['g_alice', 'g_bob', 'g_dave']);
    // He checked the whole signed chain from the creation, not a state vouched for by alice alone.
    const daveLog = (JSON.parse(Buffer.from(vaultOf(dave).kvGet('groups', groupId)!).toString('utf8')) as { log: GroupLogData }).log;
    expect(daveLog.rootChange.body.op.type).toBe('create');
    expect(daveLog.changes.map((c) => c.body.op.type)).toEqual(['remove', 'add']);
    await alice.m.groupSend({ groupId, text: 'welcome dave' });
    await waitFor(async () => (await texts(dave.m)).includes('g_alice:welcome dave'), 30_000, 'dave reads what follows');
    for (const body of captured) {
      await expect(e2eOf(dave).groups.receive('g_alice', body, (p) => p.slice())).rejects.toThrow(E2eError);
      expect(await groupsOf(dave).receiveEnvelope({ id: 1_000_001, from: 'g_alice', body, sentAt: Date.now() })).toBe('dropped');
    }
    expect(await texts(dave.m)).toEqual(['g_alice:welcome dave']);
    await waitFor(async () => (await texts(bob.m)).includes('g_alice:welcome dave'), 30_000, 'bob too');
    expect(await texts(carol.m)).not.toContain('g_alice:welcome dave');
  }, 120_000);

  it('two admins changing the group at once: one change wins everywhere, the other is issued again on top', async () => {
    await alice.m.groupPromote({ groupId, handle: 'g_bob' });
    await waitFor(async () => (await bob.m.groupInfo({ groupId })).admins.includes('g_bob'), 30_000, 'bob an admin');
    await waitFor(async () => (await revisionOf(dave)) === (await revisionOf(alice)), 30_000, 'dave up to date');
    const r = await revisionOf(alice);
    // Both sign on revision r before either hears of the other: the changes cross.
    await Promise.all([alice.m.groupRename({ groupId, name: 'Alpha' }), bob.m.groupRename({ groupId, name: 'Beta' })]);
    for (const p of [alice, bob, dave]) await waitFor(async () => (await revisionOf(p)) === r + 2, 30_000, 'the re-issued change everywhere');
    const infos = await Promise.all([alice, bob, dave].map((p) => p.m.groupInfo({ groupId })));
    expect(new Set(infos.map((i) => JSON.stringify(i))).size).toBe(1);
    expect(['Alpha', 'Beta']).toContain(infos[0]!.name);
    // They did cross: two renames were made on the same revision, one of them lost and came back.
    const rec = JSON.parse(Buffer.from(vaultOf(alice).kvGet('groups', groupId)!).toString('utf8')) as { log: GroupLogData };
    const renames = rec.log.changes.filter((c) => c.body.op.type === 'rename');
    expect(renames.filter((c) => c.body.revision === r)).toHaveLength(2);
    expect(renames.filter((c) => c.body.revision === r + 1)).toHaveLength(1);
  }, 60_000);

  it('leave: the member is gone everywhere and what follows is on chains it never gets', async () => {
    const left = await dave.m.groupLeave({ groupId });
    expect(left.isMember).toBe(false);
    for (const p of [alice, bob]) await waitFor(async () => !(await p.m.groupInfo({ groupId })).members.includes('g_dave'), 30_000, 'the leave everywhere');
    await dave.m.lock(); // nothing reaches dave's client now; the relay copy is taken below instead
    await bob.m.lock();
    const seen = new Set(queuedEnvelopes(scene.dirs.relay).map((b) => b.toString('hex')));
    await alice.m.groupSend({ groupId, text: 'after dave left' });
    let captured: Buffer[] = [];
    await waitFor(() => {
      captured = queuedEnvelopes(scene.dirs.relay).filter((b) => b[0] === 7 && !seen.has(b.toString('hex')));
      return captured.length > 0;
    }, 30_000, 'the message queued for bob');
    await dave.m.unlock({ password: 'correct horse battery staple' });
    for (const body of captured) await expect(e2eOf(dave).groups.receive('g_alice', body, (p) => p.slice())).rejects.toThrow(E2eError);
    await bob.m.unlock({ password: 'correct horse battery staple' });
    await waitFor(async () => (await texts(bob.m)).includes('g_alice:after dave left'), 30_000, 'bob reads it');
    expect(await codeOf(dave.m.groupSend({ groupId, text: 'x' }))).toBe('FORBIDDEN');
  }, 60_000);

  it('a change that arrives before its parent is kept and applied once the parent is in', async () => {
    const ae = e2eOf(alice);
    const rec = JSON.parse(Buffer.from(vaultOf(alice).kvGet('groups', groupId)!).toString('utf8')) as { log: GroupLogData };
    const head = GroupLog.restore(rec.log).state;
    await waitFor(async () => (await revisionOf(bob)) === head.revision, 30_000, 'bob up to date');
    const first = sign({ v: 1, groupId, revision: head.revision, parent: head.head, author: 'g_alice', op: { type: 'rename', name: 'First' } }, (m) => ae.groups.sign(m));
    const log = GroupLog.restore(rec.log);
    log.offer(first, () => true);
    const second = sign({ v: 1, groupId, revision: log.state.revision, parent: log.state.head, author: 'g_alice', op: { type: 'rename', name: 'Second' } }, (m) => ae.groups.sign(m));
    // The child first, then its parent, over alice's own session (as a relay reordering senders would deliver them).
    for (const change of [second, first]) {
      const env = encodeEnvelope(await ae.sendContent('g_bob', { v: 1, kind: 'group-change', change: change as unknown as Record<string, unknown> }));
      await connOf(alice).mailbox.send('g_bob', env);
    }
    await waitFor(async () => (await revisionOf(bob)) === head.revision + 2, 30_000, 'both changes at bob');
    expect((await bob.m.groupInfo({ groupId })).name).toBe('Second');
  }, 60_000);
});
