// A group text under a disappearing timer counts down at a receiving member from when it is
// first shown (groupHistory returns it), as a 1:1 text does (issue #14), not from when it was
// stored; groupHistory carries timerSeconds and expiresAt (null never once shown) for the UI.
// Real relay process, real vaults.
import { beforeAll, describe, expect, it } from 'vitest';
import { messagingScene, peersOn, waitFor, type Peer } from './helpers.ts';

const scene = messagingScene('groupcd', ['alice', 'bob']);
let alice: Peer, bob: Peer;

beforeAll(async () => {
  ({ alice, bob } = await peersOn(scene, ['alice', 'bob'], 'c_'));
}, 120_000);

describe('group countdown', () => {
  it('starts at a receiver when groupHistory first returns the text, and stays put after', { timeout: 180_000 }, async () => {
    const { groupId } = await alice.m.groupCreate({ name: 'Countdown', members: ['c_bob'] });
    await waitFor(async () => (await bob.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'the group at bob');
    await alice.m.groupSetTimer({ groupId, seconds: 3600 });
    await waitFor(async () => (await bob.m.groupInfo({ groupId })).timerSeconds === 3600, 30_000, 'the timer at bob');
    const sentAt = Date.now();
    const sent = await alice.m.groupSend({ groupId, text: 'wobblecountdown from alice' });
    // Stored at bob (search does not count as shown), then some time passes before he looks.
    await waitFor(async () => (await bob.m.search({ query: 'wobblecountdown', order: 'newest', limit: 5 })).hits.length === 1, 30_000, 'stored at bob');
    await new Promise((r) => setTimeout(r, 1500));

    const shownFrom = Date.now();
    const first = (await bob.m.groupHistory({ groupId, limit: 50 })).messages.find((m) => m.text.includes('wobblecountdown'));
    expect(first?.timerSeconds).toBe(3600);
    expect(first?.expiresAt).toBeGreaterThanOrEqual(shownFrom + 3_600_000);
    // Shown again later: the countdown is not restarted.
    const again = (await bob.m.groupHistory({ groupId, limit: 50 })).messages.find((m) => m.text.includes('wobblecountdown'));
    expect(again?.expiresAt).toBe(first?.expiresAt);
    // The sender's own copy counts down from when it was sent.
    const own = (await alice.m.groupHistory({ groupId, limit: 50 })).messages.find((m) => m.id === sent.id);
    expect(own?.timerSeconds).toBe(3600);
    expect(own?.expiresAt).toBeGreaterThanOrEqual(sentAt + 3_600_000);
    expect(own?.expiresAt).toBeLessThan(shownFrom + 3_600_000);
  });
});
