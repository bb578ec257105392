// A member's delivered receipt that the relay still holds for a group text's author is withdrawn
// when the member deletes that text (as a 1:1 receipt is: test/messaging/receipt-withdraw.test.ts),
// and the rest of the receipt is acknowledged again, so the author, back, sees only the kept text
// delivered. Before: group receipts were not recorded, so none was withdrawn. Real relay process,
// real libsignal, real vaults on disk.
import { describe, expect, it } from 'vitest';
import type { GroupMessage } from '../../shared/api.ts';
import { messagingScene, peersOn, queuedEnvelopes, reopen, waitFor, type Peer } from '../messaging/helpers.ts';

const scene = messagingScene('grw', ['alice', 'bob'] as const);
const { dirs, peers } = scene;

async function groupMessages(p: Peer, groupId: string): Promise<GroupMessage[]> {
  return (await p.m.groupHistory({ groupId, limit: 500 })).messages.filter((m) => !m.system);
}

describe('group receipts for a deleted group text', () => {
  it('are withdrawn from the relay; the rest goes again', { timeout: 180_000 }, async () => {
    const { alice, bob } = await peersOn(scene, ['alice', 'bob'], 'w_');
    const groupId = (await alice.m.groupCreate({ name: 'Withdraws', members: ['w_bob'] })).groupId;
    await waitFor(async () => (await bob.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'the group at bob');
    await bob.m.close();
    await alice.m.groupSend({ groupId, text: 'the one bob deletes' });
    await alice.m.groupSend({ groupId, text: 'the one bob keeps' });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await alice.m.close();

    // Bob fetches both: one delivered receipt for the two waits at the relay for alice.
    const bob2 = await reopen(dirs.bob);
    peers.push(bob2);
    expect(await bob2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await waitFor(async () => (await groupMessages(bob2, groupId)).length === 2, 60_000, 'both texts at bob');
    await waitFor(() => queuedEnvelopes(dirs.relay).length === 1, 60_000, 'the group receipt at the relay');
    const receipt = queuedEnvelopes(dirs.relay)[0]!;

    const gone = (await groupMessages(bob2, groupId)).find((m) => m.text === 'the one bob deletes')!;
    expect(await bob2.m.deleteMessage({ conversationId: `g${groupId}`, messageId: gone.id })).toEqual({ deleted: 1 });
    await waitFor(() => !queuedEnvelopes(dirs.relay).some((e) => e.equals(receipt)) && queuedEnvelopes(dirs.relay).length === 1, 60_000, 'the receipt replaced');

    const alice2 = await reopen(dirs.alice);
    peers.push(alice2);
    expect(await alice2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const own = async (text: string): Promise<GroupMessage | undefined> => (await groupMessages(alice2, groupId)).find((m) => m.direction === 'out' && m.text === text);
    await waitFor(async () => (await own('the one bob keeps'))?.receipts?.delivered === 1, 60_000, 'the kept one delivered');
    expect((await own('the one bob deletes'))?.receipts).toEqual({ delivered: 0, read: 0, of: 1 });
  });
});
