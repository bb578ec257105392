// A group's creation and the change after it, stored in the same millisecond (a backlog is
// received back to back: net/mailbox.ts), are applied in the order they arrived (real relay,
// real libsignal signatures, real vaults; the two changes are handed to bob's group inbox as his
// 1:1 receive hands them, with the clock held on one millisecond).
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { E2e } from '../../main/e2e/index.ts';
import type { UnlockedSession } from '../../main/messenger/session.ts';
import type { GroupService } from '../../main/messenger/groups.ts';
import { changeHash, creationBody, sign, type ChangeBody, type SignedChange } from '../../main/messenger/group-state.ts';
import { messagingScene, peersOn, waitFor, type Peer } from '../messaging/helpers.ts';

const NAMES = ['alice', 'bob'] as const;
const scene = messagingScene('group-inbox-order', NAMES);
let p: Record<(typeof NAMES)[number], Peer>;

const e2eOf = (x: Peer): E2e => (x.m as unknown as { life: { require(): UnlockedSession } }).life.require().registration!.e2e;
const groupsOf = (x: Peer): GroupService => (x.m as unknown as { groups: GroupService }).groups;

beforeAll(async () => {
  p = await peersOn(scene, NAMES, 'gio_');
  // bob trusts alice's identity key (the changes below are checked with it).
  const warm = await p.alice.m.groupCreate({ name: 'Warm', members: ['gio_bob'] });
  await waitFor(async () => (await p.bob.m.groupsList()).some((g) => g.groupId === warm.groupId), 30_000, 'the first group at bob');
}, 180_000);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the group inbox', () => {
  it("keeps arrival order within one millisecond: a change stored right after its group's creation is not dropped", async () => {
    const alice = e2eOf(p.alice);
    const as = (body: ChangeBody): SignedChange => sign(body, (m) => alice.groups.sign(m));
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
});
