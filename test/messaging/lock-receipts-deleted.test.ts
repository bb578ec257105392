// A received text deleted (for me) while its delivered receipt is held: the receipt must not
// name it when it goes, neither at a lock (which sends held receipts first) nor when the hold
// ends, and no record naming the deleted text may stay (review s17 R4).
import { describe, expect, it } from 'vitest';
import type { GroupMessage } from '../../shared/api.ts';
import { RECEIPTS_OF } from '../../main/messenger/receipt-withdraw.ts';
import type { UnlockedSession } from '../../main/messenger/session.ts';
import { fullHistory, messagingScene, PASSWORD, peersOn, waitFor } from './helpers.ts';

// One scene per test: a scene's profiles are made once.
const atLock = messagingScene('lock-receipts-deleted', ['alice', 'bob']);
const atHoldEnd = messagingScene('held-receipts-deleted', ['alice', 'bob']);
const sessionOf = (p: { m: unknown }): UnlockedSession => (p.m as { life: { require(): UnlockedSession } }).life.require();
type Holds = { receipts: { delivered: Record<string, unknown> }; groupAcks: { delivered: Record<string, unknown> } };

/** Alice sends bob a 1:1 and a group text while bob's receipts are held `holdMs`; bob deletes both for himself, then `after` runs. */
async function deleteWhileHeld(scene: typeof atLock, prefix: string, holdMs: number, after: (bob: { m: unknown }) => Promise<void>): Promise<void> {
  const { alice, bob } = await peersOn(scene, ['alice', 'bob'], prefix);
  const toBob = (await alice.m.contactAdd({ handle: `${prefix}bob` })).conversationId;
  await alice.m.sendText({ conversationId: toBob, text: 'hello' });
  const ownText = async (text: string) => (await fullHistory(alice.m, toBob)).find((m) => m.direction === 'out' && m.text === text);
  await waitFor(async () => (await ownText('hello'))?.state === 'delivered', 60_000, 'hello delivered');
  const groupId = (await alice.m.groupCreate({ name: 'Del', members: [`${prefix}bob`] })).groupId;
  await waitFor(async () => (await bob.m.groupsList()).some((g) => g.groupId === groupId), 60_000, 'group at bob');
  const bm = bob.m as unknown as Holds;
  bm.receipts.delivered.delayMs = holdMs;
  bm.receipts.delivered.maxWaitMs = holdMs;
  bm.groupAcks.delivered.timing = { quietMs: holdMs, maxHoldMs: holdMs };

  await alice.m.sendText({ conversationId: toBob, text: 'direct deleted' });
  await alice.m.groupSend({ groupId, text: 'group deleted' });
  const bobConv = (await bob.m.conversationsList({}))[0]!.id;
  let direct: { id: string } | undefined;
  let group: GroupMessage | undefined;
  await waitFor(async () => {
    direct = (await fullHistory(bob.m, bobConv)).find((m) => m.text === 'direct deleted');
    group = (await bob.m.groupHistory({ groupId, limit: 50 })).messages.find((m) => m.text === 'group deleted');
    return direct !== undefined && group !== undefined;
  }, 60_000, 'both at bob');
  expect(await bob.m.deleteMessage({ conversationId: bobConv, messageId: direct!.id })).toEqual({ deleted: 1 });
  expect(await bob.m.deleteMessage({ conversationId: `g${groupId}`, messageId: group!.id })).toEqual({ deleted: 1 });
  await after(bob);
  // A text sent after them is acknowledged: by then any receipt of the deleted ones went too.
  await alice.m.sendText({ conversationId: toBob, text: 'marker' });
  await waitFor(async () => (await ownText('marker'))?.state === 'delivered', 60_000, 'marker delivered');
  const ownGroup = (await alice.m.groupHistory({ groupId, limit: 50 })).messages.find((m) => m.direction === 'out' && m.text === 'group deleted');
  expect((await ownText('direct deleted'))?.state).toBe('sent');
  expect(ownGroup?.receipts?.delivered ?? 0).toBe(0);
  const v = sessionOf(bob).vault;
  expect([direct!.id, group!.id].filter((id) => v.kvGet(RECEIPTS_OF, id) !== undefined)).toEqual([]);
}

describe('held receipts of texts deleted during the hold', () => {
  it('a lock right after the delete sends no receipt naming them', { timeout: 240_000 }, async () => {
    await deleteWhileHeld(atLock, 'rdl_', 60_000, async (bob) => {
      const m = bob.m as { lock(): Promise<void>; unlock(p: { password: string }): Promise<unknown> };
      await m.lock();
      await m.unlock({ password: PASSWORD });
      // The hold back to normal, so the marker's receipt goes at once.
      const bm = bob.m as unknown as Holds;
      bm.receipts.delivered.delayMs = 50;
      bm.receipts.delivered.maxWaitMs = 500;
    });
  });

  it('the hold ending (no lock) sends no receipt naming them', { timeout: 240_000 }, async () => {
    await deleteWhileHeld(atHoldEnd, 'rdt_', 10_000, async (bob) => {
      // The holds end and hand their receipts (if any) to the send queue, ahead of the marker's.
      const held = bob.m as unknown as { receipts: { idle(): boolean }; groupAcks: { idle(): boolean } };
      await waitFor(async () => held.receipts.idle() && held.groupAcks.idle(), 60_000, 'holds ended');
      const bm = bob.m as unknown as Holds;
      bm.receipts.delivered.delayMs = 50;
      bm.receipts.delivered.maxWaitMs = 500;
    });
  });
});
