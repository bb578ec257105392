// A message deleted while its send is in flight (handed to the relay, not answered) and then a lock
// before that answer: the relay stored the envelope, and the withdraw still goes after the next
// unlock, because it waits durably in the sealed outbox (deletion-journal.ts forgetSend). Before: it
// was queued only in memory as a plain request, which the lock failed (Requests.stop), while the
// deletion had taken the send out of the outbox, so the relay delivered the deleted text.
// The lost answer is real: the relay process is paused (SIGSTOP) while the frame goes out, and
// resumed after the lock closed the connection. Real relay process, real vaults on disk.
// Two orders: the withdraw's frame lost with the connection (the relay stores the send and gets the
// withdraw only after the unlock), and nothing lost (the relay gets send then withdraw before the
// lock): the same end state, bob never shows the text and the relay's queue no longer holds it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Requests } from '../../main/net/requests.ts';
import { aliceWithBobClosed } from '../messaging/bob-closed.ts';
import { fullHistory, messagingScene, PASSWORD, queuedEnvelopes, reopen, waitFor } from '../messaging/helpers.ts';

type Scene = ReturnType<typeof messagingScene<'alice' | 'bob'>>;

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * Alice sends a text while bob is closed, then another while the relay is paused, deletes it
 * once its send frame is written, and locks. `loseBeforeLock`: frames collected between the
 * delete and the lock are lost with the connection (the withdraw's among them); otherwise the
 * relay is resumed before the lock and answers both. Ends with alice unlocked and every request
 * answered; returns the relay's queue from before the second text.
 */
async function deleteInFlightThenLock(scene: Scene, loseBeforeLock: boolean): Promise<{ kept: ReturnType<typeof queuedEnvelopes> }> {
  const { dirs } = scene;
  const { started, alice, toBob } = await aliceWithBobClosed(scene);
  await alice.m.sendText({ conversationId: toBob, text: 'this one stays' });
  expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
  await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'the first send answered');
  const kept = queuedEnvelopes(dirs.relay);
  expect(kept).toHaveLength(1);

  // Observed, not replaced: counts the request frames the client writes to the relay.
  const collect = Requests.prototype.collect;
  let frames = 0;
  let lose = false;
  vi.spyOn(Requests.prototype, 'collect').mockImplementation(function (this: Requests, endpoint, out) {
    collect.call(this, endpoint, (encoded) => {
      frames++;
      if (!lose) out(encoded);
    });
  });
  started.relay.child.kill('SIGSTOP');
  let resumed = false;
  try {
    const gone = await alice.m.sendText({ conversationId: toBob, text: 'deleted while in flight' });
    await waitFor(() => frames >= 1, 60_000, 'the send written to the paused relay');
    lose = loseBeforeLock;
    expect(await alice.m.deleteMessage({ conversationId: toBob, messageId: gone.id })).toEqual({ deleted: 1 });
    if (!loseBeforeLock) {
      await waitFor(() => frames >= 2, 60_000, 'the withdraw written after the send');
      started.relay.child.kill('SIGCONT');
      resumed = true;
      // The relay read the send, then the withdraw, and answered both before the lock.
      await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'send and withdraw answered before the lock');
      expect(queuedEnvelopes(dirs.relay)).toEqual(kept);
    }
    await alice.m.lock();
    lose = false;
    if (!resumed) started.relay.child.kill('SIGCONT');
    resumed = true;
  } finally {
    if (!resumed) started.relay.child.kill('SIGCONT');
  }
  if (loseBeforeLock) {
    // The relay read the send's frame after all and stored the deleted text for bob.
    await waitFor(() => queuedEnvelopes(dirs.relay).length === 2, 60_000, 'the relay stored the in-flight send');
  }
  await alice.m.unlock({ password: PASSWORD });
  await waitFor(() => queuedEnvelopes(dirs.relay).length === 1, 60_000, 'the deleted send withdrawn');
  await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'every request answered');
  return { kept };
}

/** Bob, opened again, gets only the kept text. */
async function bobSeesOnlyTheKeptText({ dirs, peers }: Scene): Promise<void> {
  const bob2 = await reopen(dirs.bob);
  peers.push(bob2);
  expect(await bob2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
  const conv = (await bob2.m.conversationsList({}))[0]!;
  expect((await fullHistory(bob2.m, conv.id)).map((m) => m.text)).toEqual(['this one stays']);
}

describe('withdraw of a send in flight', () => {
  const lost = messagingScene('wdl', ['alice', 'bob'] as const);
  it('survives a lock before the answer (the withdraw frame lost with the connection, sent after the unlock)', { timeout: 180_000 }, async () => {
    const { kept } = await deleteInFlightThenLock(lost, true);
    expect(queuedEnvelopes(lost.dirs.relay)).toEqual(kept);
    await bobSeesOnlyTheKeptText(lost);
  });
});

describe('withdraw of a send in flight, nothing lost', () => {
  const reached = messagingScene('wdl2', ['alice', 'bob'] as const);
  it('send then withdraw both reach the relay before the lock: the same end state', { timeout: 180_000 }, async () => {
    const { kept } = await deleteInFlightThenLock(reached, false);
    expect(queuedEnvelopes(reached.dirs.relay)).toEqual(kept);
    await bobSeesOnlyTheKeptText(reached);
  });
});
