// Two group texts deleted for me at once: each deletion withdraws the member's receipt naming
// them and acknowledges the rest again (receipt-resend.ts), one run after the other in the send
// queue, so the rest goes once. Before: the group delete ran the re-send in a bare activity, two
// runs read the same due re-sends, and each sent the same rest (duplicate receipts at the relay,
// extra pointers that pushed older ones out). Real relay process, real libsignal, vaults on disk.
import { describe, expect, it } from 'vitest';
import type { GroupMessage } from '../../shared/api.ts';
import { messagingScene, peersOn, queuedEnvelopes, reopen, waitFor, type Peer } from '../messaging/helpers.ts';

const scene = messagingScene('gro', ['alice', 'bob'] as const);
const { dirs, peers } = scene;

async function groupMessages(p: Peer, groupId: string): Promise<GroupMessage[]> {
  return (await p.m.groupHistory({ groupId, limit: 500 })).messages.filter((m) => !m.system);
}

describe('withdrawn group receipts re-sent', () => {
  it('go once when two deletions overlap', { timeout: 180_000 }, async () => {
    const { alice, bob } = await peersOn(scene, ['alice', 'bob'], 'o_');
    const groupId = (await alice.m.groupCreate({ name: 'Overlap', members: ['o_bob'] })).groupId;
    await waitFor(async () => (await bob.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'the group at bob');
    await bob.m.close();
    const texts = ['deleted one', 'deleted two', 'kept three', 'kept four'];
    for (const text of texts) await alice.m.groupSend({ groupId, text });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await alice.m.close();

    const bob2 = await reopen(dirs.bob);
    peers.push(bob2);
    expect(await bob2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await waitFor(async () => (await groupMessages(bob2, groupId)).length === texts.length, 60_000, 'the texts at bob');
    await waitFor(() => queuedEnvelopes(dirs.relay).length === 1, 60_000, 'the group receipt at the relay');
    const receipt = queuedEnvelopes(dirs.relay)[0]!;

    const received = await groupMessages(bob2, groupId);
    const gone = received.filter((m) => m.text.startsWith('deleted'));
    const results = await Promise.all(gone.map((m) => bob2.m.deleteMessage({ conversationId: `g${groupId}`, messageId: m.id })));
    expect(results).toEqual([{ deleted: 1 }, { deleted: 1 }]);
    await waitFor(() => !queuedEnvelopes(dirs.relay).some((e) => e.equals(receipt)), 60_000, 'the first receipt withdrawn');
    await waitFor(async () => (await bob2.m.connectionState()).outboxSize === 0, 60_000, "bob's outbox drained");
    expect(await bob2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    // One receipt for the kept texts, not one per overlapping run.
    expect(queuedEnvelopes(dirs.relay)).toHaveLength(1);

    const alice2 = await reopen(dirs.alice);
    peers.push(alice2);
    expect(await alice2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const own = async (): Promise<GroupMessage[]> => (await groupMessages(alice2, groupId)).filter((m) => m.direction === 'out');
    // The kept texts are delivered (a deletion overlapping a run may leave its text named too).
    await waitFor(async () => (await own()).filter((m) => m.text.startsWith('kept') && m.receipts?.delivered === 1).length === 2, 60_000, 'the kept ones delivered');
  });
});
