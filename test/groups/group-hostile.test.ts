// Group membership against a hostile member, end to end (real relay process, real libsignal,
// real vaults): a create under someone else's group id is refused and the real add gets
// through; a member removed and added again gets the group back; history lines follow the
// chosen chain only; a removed creator re-signing its creation cannot swap a member's group; a
// crafted chain naming other people's handles costs one key fetch (of the first forged author,
// without its one-time prekeys) and nothing else; the "every member may add" setting; chains for
// unknown groups kept only a few per sender.
import { beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { E2e } from '../../main/e2e/index.ts';
import { newDistributionId } from '../../main/e2e/sender-keys.ts';
import { encodeEnvelope } from '../../main/e2e/index.ts';
import type { RelayConnection } from '../../main/messenger/connection.ts';
import { creationBody, GroupLog, sign, type ChangeBody, type GroupLogData, type GroupOp, type SignedChange } from '../../main/messenger/group-state.ts';
import type { UnlockedSession } from '../../main/messenger/session.ts';
import type { Vault } from '../../main/vault/index.ts';
import { codeOf, messagingScene, peersOn, waitFor, type Peer } from '../messaging/helpers.ts';

const NAMES = ['alice', 'bob', 'carol', 'mallory', 'dave', 'v1', 'v2', 'v3'] as const;
const scene = messagingScene('groups-hostile', NAMES);
let p: Record<(typeof NAMES)[number], Peer>;

const sessionOf = (x: Peer): UnlockedSession => (x.m as unknown as { life: { require(): UnlockedSession } }).life.require();
const e2eOf = (x: Peer): E2e => sessionOf(x).registration!.e2e;
const vaultOf = (x: Peer): Vault => sessionOf(x).vault;
const connOf = (x: Peer): RelayConnection => sessionOf(x).connection!;
const h = (n: string): string => `gh_${n}`;

async function revisionOf(x: Peer, groupId: string): Promise<number> {
  return (await x.m.groupsList()).find((g) => g.groupId === groupId)?.revision ?? 0;
}

async function lines(x: Peer, groupId: string): Promise<string[]> {
  return (await x.m.groupHistory({ groupId, limit: 500 })).messages.filter((m) => m.system).map((m) => m.text);
}

/** Sends a signed change (and what a joiner starts from) over `from`'s own 1:1 session, as a hostile client would. */
async function deliver(from: Peer, to: Peer, change: SignedChange, extra: { chain?: SignedChange[] } = {}): Promise<void> {
  const toHandle = h(NAMES.find((n) => p[n] === to)!);
  const content = { v: 1 as const, kind: 'group-change' as const, change: change as unknown as Record<string, unknown>, ...(extra.chain ? { chain: extra.chain as unknown as Record<string, unknown>[] } : {}) };
  await connOf(from).mailbox.send(toHandle, encodeEnvelope(await e2eOf(from).sendContent(toHandle, content)));
}

beforeAll(async () => {
  p = await peersOn(scene, NAMES, 'gh_');
}, 180_000);

describe('group membership against a hostile member', () => {
  it("a create under a real group's id from someone else is refused; the real admin's add of that member gets through", async () => {
    const real = await p.alice.m.groupCreate({ name: 'Real', members: [h('bob'), h('mallory')] });
    await waitFor(async () => (await revisionOf(p.mallory, real.groupId)) === 1, 30_000, 'the group at mallory');
    // mallory and carol share a 1:1 session (a group of their own).
    const side = await p.mallory.m.groupCreate({ name: 'Side', members: [h('carol')] });
    await waitFor(async () => (await revisionOf(p.carol, side.groupId)) === 1, 30_000, 'the side group at carol');
    const me = e2eOf(p.mallory);
    const squat: ChangeBody = { ...creationBody(h('mallory'), 'Fake', [h('carol')]), groupId: real.groupId };
    await deliver(p.mallory, p.carol, sign(squat, (m) => me.groups.sign(m)));
    await p.mallory.m.groupRename({ groupId: side.groupId, name: 'Side 2' }); // after the squat, per-sender order
    await waitFor(async () => (await revisionOf(p.carol, side.groupId)) === 2, 30_000, 'the marker at carol');
    expect(await codeOf(p.carol.m.groupInfo({ groupId: real.groupId }))).toBe('UNKNOWN_CONVERSATION');

    await p.alice.m.groupAdd({ groupId: real.groupId, handle: h('carol') });
    await waitFor(async () => (await revisionOf(p.carol, real.groupId)) === 2, 30_000, 'the real group at carol');
    expect(await p.carol.m.groupInfo({ groupId: real.groupId })).toEqual(await p.alice.m.groupInfo({ groupId: real.groupId }));
  }, 120_000);

  it('a member removed and then added again gets the group back (the add waited for a parent it never gets before)', async () => {
    const g = (await p.alice.m.groupsList()).find((x) => x.name === 'Real')!;
    await p.alice.m.groupRemove({ groupId: g.groupId, handle: h('carol') });
    await waitFor(async () => !(await p.carol.m.groupInfo({ groupId: g.groupId })).isMember, 30_000, 'the removal at carol');
    await p.alice.m.groupRename({ groupId: g.groupId, name: 'Real again' }); // carol never gets this one
    await p.alice.m.groupAdd({ groupId: g.groupId, handle: h('carol') });
    await waitFor(async () => (await p.carol.m.groupInfo({ groupId: g.groupId })).isMember, 30_000, 'carol back in');
    expect(await p.carol.m.groupInfo({ groupId: g.groupId })).toEqual(await p.alice.m.groupInfo({ groupId: g.groupId }));
    expect(await lines(p.carol, g.groupId)).toContain(`${h('alice')} renamed the group to "Real again"`);
  }, 120_000);

  it('history lines follow the chosen chain: a change that lost to a crossing one shows nowhere (it showed everywhere before)', async () => {
    const g = await p.alice.m.groupCreate({ name: 'Lines', members: [h('bob'), h('carol')] });
    const groupId = g.groupId;
    await p.alice.m.groupPromote({ groupId, handle: h('bob') });
    for (const x of [p.bob, p.carol]) await waitFor(async () => (await revisionOf(x, groupId)) === 2, 30_000, 'bob an admin everywhere');
    await Promise.all([p.alice.m.groupRename({ groupId, name: 'Alpha' }), p.bob.m.groupRename({ groupId, name: 'Beta' })]);
    for (const x of [p.alice, p.bob, p.carol]) await waitFor(async () => (await revisionOf(x, groupId)) === 4, 30_000, 'the re-issued change everywhere');
    const rec = JSON.parse(Buffer.from(vaultOf(p.alice).kvGet('groups', groupId)!).toString('utf8')) as { log: GroupLogData };
    const log = GroupLog.restore(rec.log);
    expect(rec.log.changes.filter((c) => c.body.op.type === 'rename')).toHaveLength(3); // they crossed
    const onChain = log.chainChanges().filter((c) => c.body.op.type === 'rename').map((c) => `${c.body.author} renamed the group to "${(c.body.op as { name: string }).name}"`);
    expect(onChain).toHaveLength(2);
    for (const x of [p.alice, p.bob, p.carol]) {
      await waitFor(async () => (await lines(x, groupId)).filter((t) => t.includes('renamed')).length === 2, 30_000, 'the lines of the chain');
      expect((await lines(x, groupId)).filter((t) => t.includes('renamed')).sort()).toEqual([...onChain].sort());
    }
  }, 120_000);

  it("a crafted chain naming other people's handles as authors is refused at the first forged signature: one identity fetched, no one's one-time prekeys taken", async () => {
    const me = e2eOf(p.mallory);
    const victims = [h('v1'), h('v2'), h('v3')];
    const as = (body: ChangeBody): SignedChange => sign(body, (m) => me.groups.sign(m));
    const create = as(creationBody(h('mallory'), 'Crafted', victims));
    const log = GroupLog.create(create, () => true);
    const chain = [create];
    const push = (author: string, op: GroupOp): void => {
      const c = as({ v: 1, groupId: create.body.groupId, revision: log.state.revision, parent: log.state.head, author, op });
      expect(log.offer(c, () => true).result).toBe('applied');
      chain.push(c);
    };
    for (const v of victims) push(h('mallory'), { type: 'promote', handle: v });
    for (const v of victims) push(v, { type: 'rename', name: `by ${v}` }); // signed by mallory, not by v
    push(h('mallory'), { type: 'add', handle: h('carol') });
    const before = await Promise.all([p.v1, p.v2, p.v3].map((v) => connOf(v).keys.count()));
    await deliver(p.mallory, p.carol, chain[chain.length - 1]!, { chain });
    // carol fetches v1's key for the first forged signature (without a one-time prekey), then refuses the chain.
    await waitFor(() => e2eOf(p.carol).identityStatus(h('v1')).trusted !== undefined, 30_000, "v1's key fetched");
    const side = (await p.mallory.m.groupsList()).find((x) => x.name.startsWith('Side'))!;
    await p.mallory.m.groupRename({ groupId: side.groupId, name: 'Side 3' });
    await waitFor(async () => (await p.carol.m.groupInfo({ groupId: side.groupId })).name === 'Side 3', 30_000, 'the marker at carol');
    await p.carol.m.groupsList(); // drains the inbox again after the fetch
    const after = await Promise.all([p.v1, p.v2, p.v3].map((v) => connOf(v).keys.count()));
    expect(after).toEqual(before);
    for (const v of ['v2', 'v3']) expect(e2eOf(p.carol).identityStatus(h(v)).trusted).toBeUndefined();
    expect(await codeOf(p.carol.m.groupInfo({ groupId: create.body.groupId }))).toBe('UNKNOWN_CONVERSATION');
  }, 120_000);

  it('chains for groups one does not hold are kept a few per sender, not one per made-up group id', async () => {
    const me = e2eOf(p.mallory);
    for (let i = 0; i < 20; i++) {
      const distribution = Buffer.from(await me.groups.distribution(newDistributionId())).toString('base64');
      const content = { v: 1 as const, kind: 'sender-key' as const, groupId: randomBytes(16).toString('hex'), distribution };
      await connOf(p.mallory).mailbox.send(h('carol'), encodeEnvelope(await me.sendContent(h('carol'), content)));
    }
    const side = (await p.mallory.m.groupsList()).find((x) => x.name.startsWith('Side'))!;
    await p.mallory.m.groupRename({ groupId: side.groupId, name: 'Side 4' });
    await waitFor(async () => (await p.carol.m.groupInfo({ groupId: side.groupId })).name === 'Side 4', 30_000, 'the marker at carol');
    const kept = vaultOf(p.carol).kvKeys('group-inbox').filter((k) => k.startsWith('chain-') && k.endsWith(`-${h('mallory')}`));
    expect(kept).toHaveLength(8);
  }, 120_000);

  it("a removed creator re-signing its creation (same id, another hash) with an add of a member does not take over that member's group", async () => {
    const g = await p.mallory.m.groupCreate({ name: 'Takeover', members: [h('bob')] });
    const groupId = g.groupId;
    await waitFor(async () => (await revisionOf(p.bob, groupId)) === 1, 30_000, 'the group at bob');
    await p.mallory.m.groupPromote({ groupId, handle: h('bob') });
    await p.mallory.m.groupAdd({ groupId, handle: h('carol') });
    await waitFor(async () => (await revisionOf(p.carol, groupId)) === 3, 30_000, 'carol joins');
    await waitFor(async () => (await revisionOf(p.bob, groupId)) === 3, 30_000, 'carol added at bob');
    await p.bob.m.groupRemove({ groupId, handle: h('mallory') });
    await waitFor(async () => !(await p.carol.m.groupInfo({ groupId })).members.includes(h('mallory')), 30_000, 'the removal at carol');
    const honest = await p.carol.m.groupInfo({ groupId });

    // mallory signs its creation's body again: the id is the same, the change's hash is not, so
    // none of carol's changes fit onto it; with an add of carol, the chain would replace hers.
    const me = e2eOf(p.mallory);
    const rec = JSON.parse(Buffer.from(vaultOf(p.mallory).kvGet('groups', groupId)!).toString('utf8')) as { log: GroupLogData };
    const original = GroupLog.restore(rec.log).chainChanges()[0]!;
    const resigned = sign(original.body, (m) => me.groups.sign(m));
    const fake = GroupLog.create(resigned, () => true);
    expect(fake.groupId).toBe(groupId);
    const add = sign({ v: 1, groupId, revision: fake.state.revision, parent: fake.state.head, author: h('mallory'), op: { type: 'add', handle: h('carol') } }, (m) => me.groups.sign(m));
    expect(fake.offer(add, () => true).result).toBe('applied');
    await deliver(p.mallory, p.carol, add, { chain: [resigned, add] });
    const side = (await p.mallory.m.groupsList()).find((x) => x.name.startsWith('Side'))!;
    await p.mallory.m.groupRename({ groupId: side.groupId, name: 'Side 5' });
    await waitFor(async () => (await p.carol.m.groupInfo({ groupId: side.groupId })).name === 'Side 5', 30_000, 'the marker at carol');
    await p.carol.m.groupsList(); // drains the inbox again
    expect(await p.carol.m.groupInfo({ groupId })).toEqual(honest);
    expect(honest.members).not.toContain(h('mallory'));
  }, 120_000);

  it('allow-add: a member adds while the setting is on and not once it is off; only an admin changes it', async () => {
    const g = await p.alice.m.groupCreate({ name: 'Open', members: [h('bob'), h('carol')] });
    const groupId = g.groupId;
    expect(g.membersCanAdd).toBe(false);
    await waitFor(async () => (await revisionOf(p.bob, groupId)) === 1, 30_000, 'the group at bob');
    expect(await codeOf(p.bob.m.groupAdd({ groupId, handle: h('dave') }))).toBe('FORBIDDEN');
    expect(await codeOf(p.bob.m.groupAllowAdd({ groupId, on: true }))).toBe('FORBIDDEN');
    expect((await p.alice.m.groupAllowAdd({ groupId, on: true })).membersCanAdd).toBe(true);
    expect(await codeOf(p.alice.m.groupAllowAdd({ groupId, on: true }))).toBe('INVALID_ARGUMENT');
    await waitFor(async () => (await p.bob.m.groupInfo({ groupId })).membersCanAdd === true, 30_000, 'the setting at bob');
    await p.bob.m.groupAdd({ groupId, handle: h('dave') });
    await waitFor(async () => (await revisionOf(p.dave, groupId)) === 3, 30_000, 'dave joins from the chain bob sent');
    for (const x of [p.alice, p.carol, p.dave]) await waitFor(async () => (await x.m.groupInfo({ groupId })).members.includes(h('dave')), 30_000, 'dave everywhere');
    const infos = await Promise.all([p.alice, p.bob, p.carol, p.dave].map((x) => x.m.groupInfo({ groupId })));
    expect(new Set(infos.map((i) => JSON.stringify({ ...i, isMember: true }))).size).toBe(1);
    expect(await lines(p.dave, groupId)).toEqual([`${h('bob')} added ${h('dave')}`]);
    expect(await lines(p.carol, groupId)).toContain(`${h('alice')} let every member add members`);

    await p.alice.m.groupAllowAdd({ groupId, on: false });
    await waitFor(async () => (await p.bob.m.groupInfo({ groupId })).membersCanAdd === false, 30_000, 'the setting off at bob');
    expect(await codeOf(p.bob.m.groupAdd({ groupId, handle: h('v3') }))).toBe('FORBIDDEN');
  }, 120_000);
});
