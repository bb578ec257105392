// The group inbox keeps changes in the order they arrived and waits for what they need (real
// relay, real libsignal signatures, real vaults). A group's creation and the change after it,
// stored in the same millisecond (a backlog is received back to back: net/mailbox.ts), are
// applied in that order (handed to bob's group inbox as his 1:1 receive hands them, with the
// clock held on one millisecond). Another member's change that comes before the group's
// creation (the relay orders per sender only) waits for it, and such changes are kept only a
// few per sender and a bounded number from all senders together (a flood loses its own first),
// for a week. A change made here is answered with the group as stored once its send is done,
// another member's change applied meanwhile included.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GroupInfo } from '../../shared/api.ts';
import { encodeEnvelope, type E2e } from '../../main/e2e/index.ts';
import type { RelayConnection } from '../../main/messenger/connection.ts';
import type { UnlockedSession } from '../../main/messenger/session.ts';
import type { GroupService } from '../../main/messenger/groups.ts';
import { MAX_EARLY, MAX_EARLY_PER_SENDER, WAIT_MS } from '../../main/messenger/group-membership.ts';
import { changeHash, creationBody, GroupLog, sign, type ChangeBody, type GroupOp, type SignedChange } from '../../main/messenger/group-state.ts';
import type { Vault } from '../../main/vault/index.ts';
import { messagingScene, peersOn, waitFor, type Peer } from '../messaging/helpers.ts';

const NAMES = ['alice', 'bob', 'carol'] as const;
const scene = messagingScene('group-inbox-order', NAMES);
let p: Record<(typeof NAMES)[number], Peer>;
let side: string;

const sessionOf = (x: Peer): UnlockedSession => (x.m as unknown as { life: { require(): UnlockedSession } }).life.require();
const e2eOf = (x: Peer): E2e => sessionOf(x).registration!.e2e;
const vaultOf = (x: Peer): Vault => sessionOf(x).vault;
const connOf = (x: Peer): RelayConnection => sessionOf(x).connection!;
const groupsOf = (x: Peer): GroupService => (x.m as unknown as { groups: GroupService }).groups;
const signer =
  (x: Peer) =>
  (body: ChangeBody): SignedChange =>
    sign(body, (m) => e2eOf(x).groups.sign(m));

/** A signed change sent to bob over `from`'s own 1:1 session, as its client sends one. */
async function deliver(from: Peer, change: SignedChange): Promise<void> {
  const content = { v: 1 as const, kind: 'group-change' as const, change: change as unknown as Record<string, unknown> };
  await connOf(from).mailbox.send('gio_bob', encodeEnvelope(await e2eOf(from).sendContent('gio_bob', content)));
}

/** Everything carol sent bob before this has been received (the relay keeps each sender's order). */
let markers = 0;
async function carolMarker(): Promise<void> {
  const name = `Side ${++markers}`;
  await p.carol.m.groupRename({ groupId: side, name });
  await waitFor(async () => (await p.bob.m.groupsList()).some((g) => g.name === name), 30_000, "carol's marker at bob");
}

/** The group ids of the changes waiting in bob's inbox, in arrival order. */
function waitingAtBob(): string[] {
  const vault = vaultOf(p.bob);
  return vault
    .kvKeys('group-inbox')
    .filter((k) => !k.startsWith('chain-'))
    .sort()
    .map((k) => (JSON.parse(Buffer.from(vault.kvGet('group-inbox', k)!).toString('utf8')) as { change: SignedChange }).change.body.groupId);
}

beforeAll(async () => {
  p = await peersOn(scene, NAMES, 'gio_');
  // bob trusts alice's and carol's identity keys (the changes below are checked with them).
  const warm = await p.alice.m.groupCreate({ name: 'Warm', members: ['gio_bob'] });
  side = (await p.carol.m.groupCreate({ name: 'Side', members: ['gio_bob'] })).groupId;
  await waitFor(async () => (await p.bob.m.groupsList()).filter((g) => g.groupId === warm.groupId || g.groupId === side).length === 2, 30_000, 'the first groups at bob');
}, 180_000);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the group inbox', () => {
  it("keeps arrival order within one millisecond: a change stored right after its group's creation is not dropped", async () => {
    const as = signer(p.alice);
    // Ten groups, each a creation and a promotion of bob right after it (per-sender order, as the relay keeps it).
    const pairs = Array.from({ length: 10 }, (_, i) => {
      const create = as(creationBody('gio_alice', `Same ms ${i}`, ['gio_bob']));
      const promote = as({ v: 1, groupId: create.body.groupId, revision: 1, parent: changeHash(create), author: 'gio_alice', op: { type: 'promote', handle: 'gio_bob' } });
      return [create, promote] as const;
    });
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now);
    for (const pair of pairs) for (const change of pair) void groupsOf(p.bob).storeInbound('gio_alice', { v: 1, kind: 'group-change', change: change as unknown as Record<string, unknown> });
    vi.restoreAllMocks();
    const revisions = async (): Promise<number[]> => {
      const held = await p.bob.m.groupsList();
      return pairs.map(([c]) => held.find((g) => g.groupId === c.body.groupId)?.revision ?? 0);
    };
    // Before the fix about half of them stay at revision 1 (the promotion drained first, for a group not held yet, was dropped).
    await waitFor(async () => (await revisions()).every((r) => r > 0), 30_000, 'the ten groups at bob');
    expect(await revisions()).toEqual(pairs.map(() => 2));
  }, 60_000);

  it("keeps another member's change that comes before the group's creation, and applies it once the group is held", async () => {
    const create = signer(p.alice)(creationBody('gio_alice', 'Early', ['gio_bob', 'gio_carol']));
    const log = GroupLog.create(create, () => true);
    const next = (by: Peer, author: string, op: GroupOp): SignedChange => {
      const c = signer(by)({ v: 1, groupId: log.groupId, revision: log.state.revision, parent: log.state.head, author, op });
      expect(log.offer(c, () => true).result).toBe('applied');
      return c;
    };
    const promote = next(p.alice, 'gio_alice', { type: 'promote', handle: 'gio_carol' });
    const rename = next(p.carol, 'gio_carol', { type: 'rename', name: 'Renamed by carol' });
    const add = next(p.carol, 'gio_carol', { type: 'add', handle: 'gio_dave' });
    // carol's two changes reach bob first (her client sent them before alice's reached him).
    await deliver(p.carol, rename);
    await deliver(p.carol, add);
    await carolMarker();
    await deliver(p.alice, create);
    await deliver(p.alice, promote);
    const atBob = async (): Promise<GroupInfo | undefined> => (await p.bob.m.groupsList()).find((g) => g.groupId === log.groupId);
    // Before the fix carol's changes were dropped (a group not held, not a creation): revision 2, no rename, no dave.
    await expect.poll(atBob, { timeout: 30_000, interval: 20 }).toMatchObject({ revision: 4, name: 'Renamed by carol', members: log.state.members, admins: log.state.admins });
    expect(waitingAtBob()).toEqual([]);
  }, 60_000);

  it(`keeps changes for groups not held at most ${MAX_EARLY_PER_SENDER} per sender (the newest) and a week`, async () => {
    const sent: string[] = [];
    for (let i = 0; i < MAX_EARLY_PER_SENDER + 4; i++) {
      const groupId = randomBytes(16).toString('hex');
      sent.push(groupId);
      await deliver(p.carol, signer(p.carol)({ v: 1, groupId, revision: 1, parent: randomBytes(32).toString('hex'), author: 'gio_carol', op: { type: 'rename', name: `Made up ${i}` } }));
    }
    await carolMarker();
    await p.bob.m.groupsList(); // drains the inbox
    expect(waitingAtBob()).toEqual(sent.slice(4));
    // A week and a minute later they are gone.
    vi.spyOn(Date, 'now').mockReturnValue(Date.now() + WAIT_MS + 60_000);
    groupsOf(p.bob).drain();
    vi.restoreAllMocks();
    expect(waitingAtBob()).toEqual([]);
  }, 60_000);

  it(`keeps changes for groups not held at most ${MAX_EARLY} from all senders together, a flood losing its own first`, async () => {
    // One change from a sender of its own, then one more flooding sender than the bound needs, each
    // at its own bound, arriving in turn; handed to bob's group inbox as his 1:1 receive hands them,
    // in one transaction (each handle would be an account).
    const flooders = Math.ceil(MAX_EARLY / MAX_EARLY_PER_SENDER) + 1;
    const sign = signer(p.carol);
    const made = (author: string, name: string): { groupId: string; change: SignedChange } => {
      const groupId = randomBytes(16).toString('hex');
      return { groupId, change: sign({ v: 1, groupId, revision: 1, parent: randomBytes(32).toString('hex'), author, op: { type: 'rename', name } }) };
    };
    const store = (author: string, change: SignedChange): unknown => groupsOf(p.bob).storeInbound(author, { v: 1, kind: 'group-change', change: change as unknown as Record<string, unknown> });
    const lone = made('gio_lone', 'Early');
    const sent: string[][] = Array.from({ length: flooders }, () => []);
    vaultOf(p.bob).transaction(() => {
      store('gio_lone', lone.change);
      for (let i = 0; i < MAX_EARLY_PER_SENDER; i++) {
        for (let s = 0; s < flooders; s++) {
          const { groupId, change } = made(`gio_many${s}`, `Made up ${i}`);
          sent[s]!.push(groupId);
          store(`gio_many${s}`, change);
        }
      }
    });
    await p.bob.m.groupsList(); // drains the inbox
    const waiting = waitingAtBob();
    // Without the global bound all 1 + 9 x 32 were kept; with the oldest of all first, the lone change went.
    expect(waiting).toHaveLength(MAX_EARLY);
    expect(waiting).toContain(lone.groupId);
    // Each flooder keeps its newest, as many as the others give or take one.
    const kept = sent.map((mine) => mine.filter((g) => waiting.includes(g)));
    kept.forEach((k, s) => expect(k).toEqual(sent[s]!.slice(sent[s]!.length - k.length)));
    const counts = kept.map((k) => k.length);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    vi.spyOn(Date, 'now').mockReturnValue(Date.now() + WAIT_MS + 60_000);
    groupsOf(p.bob).drain();
    vi.restoreAllMocks();
    expect(waitingAtBob()).toEqual([]);
  }, 60_000);

  it("answers a change with the group as stored after its send: another member's change applied during the send is in it", async () => {
    const { groupId } = await p.alice.m.groupCreate({ name: 'Answer', members: ['gio_bob'] });
    // While alice's rename is being encrypted for bob, bob's leave on top of it reaches her and is drained.
    const e2e = e2eOf(p.alice);
    const sendContent = e2e.sendContent.bind(e2e);
    let left = false;
    vi.spyOn(e2e, 'sendContent').mockImplementation(async (to, content) => {
      const rename = content.kind === 'group-change' ? (content.change as unknown as SignedChange) : undefined;
      if (!left && rename?.body.groupId === groupId) {
        left = true;
        const leave = signer(p.bob)({ v: 1, groupId, revision: rename.body.revision + 1, parent: changeHash(rename), author: 'gio_bob', op: { type: 'leave' } });
        void groupsOf(p.alice).storeInbound('gio_bob', { v: 1, kind: 'group-change', change: leave as unknown as Record<string, unknown> });
        groupsOf(p.alice).drain();
      }
      return sendContent(to, content);
    });
    const answer = await p.alice.m.groupRename({ groupId, name: 'Answered' });
    vi.restoreAllMocks();
    expect(left).toBe(true);
    // Before, the answer was the group as the rename left it (revision 2, bob still a member).
    expect(answer).toMatchObject({ name: 'Answered', revision: 3, members: ['gio_alice'] });
    expect(answer).toEqual(await p.alice.m.groupInfo({ groupId }));
  }, 60_000);
});
