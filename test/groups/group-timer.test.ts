// A group's disappearing-message timer (main/messenger/groups.ts, group-state.ts 'timer'): an
// admin's signed change every member applies; texts sent under it carry it and disappear at every
// member once it runs out (the disappearing timers of main/messenger/expiry.ts, as 1:1 texts do);
// a non-admin cannot set it; texts from before it stay. Real relay process, real vaults.
import { beforeAll, describe, expect, it } from 'vitest';
import type { GroupMessage } from '../../shared/api.ts';
import type { Messenger } from '../../main/messenger.ts';
import { codeOf, messagingScene, peersOn, waitFor, type Peer } from '../messaging/helpers.ts';

const scene = messagingScene('groupt', ['alice', 'bob', 'carol']);
let alice: Peer, bob: Peer, carol: Peer;
let groupId = '';

async function lines(m: Messenger): Promise<string[]> {
  return (await m.groupHistory({ groupId, limit: 500 })).messages.map((x: GroupMessage) => `${x.system ? '-- ' : ''}${x.sender}:${x.text}`);
}

beforeAll(async () => {
  ({ alice, bob, carol } = await peersOn(scene, ['alice', 'bob', 'carol'], 't_'));
}, 120_000);

describe('group disappearing timer', () => {
  it("an admin's change at every member; texts under it disappear everywhere, earlier ones stay", { timeout: 180_000 }, async () => {
    groupId = (await alice.m.groupCreate({ name: 'Brief', members: ['t_bob', 't_carol'] })).groupId;
    for (const p of [bob, carol]) await waitFor(async () => (await p.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'the group');
    await alice.m.groupSend({ groupId, text: 'kept forever' });

    expect(await codeOf(bob.m.groupSetTimer({ groupId, seconds: 30 }))).toBe('FORBIDDEN');
    expect((await alice.m.groupSetTimer({ groupId, seconds: 30 })).timerSeconds).toBe(30);
    for (const p of [bob, carol]) await waitFor(async () => (await p.m.groupInfo({ groupId })).timerSeconds === 30, 30_000, 'the timer everywhere');
    expect(await lines(carol.m)).toContain('-- t_alice:t_alice set disappearing messages to 30 seconds');

    const before = Date.now();
    await alice.m.groupSend({ groupId, text: 'vanishing from alice' });
    await bob.m.groupSend({ groupId, text: 'vanishing from bob' });
    const vanishing = ['t_alice:vanishing from alice', 't_bob:vanishing from bob'];
    for (const p of [alice, bob, carol]) {
      await waitFor(async () => (await lines(p.m)).filter((t) => t.includes('vanishing')).length === 2, 30_000, 'both texts everywhere');
      expect((await lines(p.m)).filter((t) => t.includes('vanishing')).sort()).toEqual(vanishing);
    }
    // Gone everywhere once the 30 s ran out, with no call; search no longer finds them.
    for (const p of [alice, bob, carol]) await waitFor(async () => !(await lines(p.m)).some((t) => t.includes('vanishing')), 90_000, 'the texts to disappear');
    // Not before the timer ran out: each member stored them after `before`.
    expect(Date.now()).toBeGreaterThanOrEqual(before + 30_000);
    for (const p of [alice, bob, carol]) {
      expect((await p.m.search({ query: 'vanishing', order: 'newest', limit: 10 })).hits).toEqual([]);
      expect(await lines(p.m)).toContain('t_alice:kept forever');
    }

    // Off again: the change is a line too, and the info says so.
    expect((await alice.m.groupSetTimer({ groupId, seconds: 0 })).timerSeconds).toBeUndefined();
    for (const p of [bob, carol]) await waitFor(async () => (await p.m.groupInfo({ groupId })).timerSeconds === undefined, 30_000, 'off everywhere');
    expect(await lines(bob.m)).toContain('-- t_alice:t_alice turned disappearing messages off');
  });
});
