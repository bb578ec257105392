// A message deleted while its send is in flight (handed to the relay, not answered) and then a lock
// before that answer: the relay stored the envelope, and the withdraw still goes after the next
// unlock, because it waits durably in the sealed outbox (deletion-journal.ts forgetSend). Before: it
// was queued only in memory as a plain request, which the lock failed (Requests.stop), while the
// deletion had taken the send out of the outbox, so the relay delivered the deleted text.
// The lost answer is real: the relay process is paused (SIGSTOP) while the frame goes out, and
// resumed after the lock closed the connection. Real relay process, real vaults on disk.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Requests } from '../../main/net/requests.ts';
import { fullHistory, messagingScene, newPeer, PASSWORD, queuedEnvelopes, reopen, waitFor } from '../messaging/helpers.ts';

const scene = messagingScene('wdl', ['alice', 'bob'] as const);
const { dirs, peers } = scene;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('withdraw of a send in flight', () => {
  it('survives a lock before the answer', { timeout: 180_000 }, async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    peers.push(alice);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    await bob.m.close();
    await alice.m.sendText({ conversationId: toBob, text: 'this one stays' });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'the first send answered');
    const kept = queuedEnvelopes(dirs.relay);
    expect(kept).toHaveLength(1);

    // Observed, not replaced: counts the request frames the client writes to the relay.
    const collect = Requests.prototype.collect;
    let frames = 0;
    vi.spyOn(Requests.prototype, 'collect').mockImplementation(function (this: Requests, endpoint, out) {
      collect.call(this, endpoint, (encoded) => {
        frames++;
        out(encoded);
      });
    });
    started.relay.child.kill('SIGSTOP');
    let resumed = false;
    try {
      const gone = await alice.m.sendText({ conversationId: toBob, text: 'deleted while in flight' });
      await waitFor(() => frames >= 1, 60_000, 'the send written to the paused relay');
      expect(await alice.m.deleteMessage({ conversationId: toBob, messageId: gone.id })).toEqual({ deleted: 1 });
      await alice.m.lock();
      started.relay.child.kill('SIGCONT');
      resumed = true;
    } finally {
      if (!resumed) started.relay.child.kill('SIGCONT');
    }
    // The relay read the frame after all and stored the deleted text for bob.
    await waitFor(() => queuedEnvelopes(dirs.relay).length === 2, 60_000, 'the relay stored the in-flight send');

    await alice.m.unlock({ password: PASSWORD });
    await waitFor(() => queuedEnvelopes(dirs.relay).length === 1, 60_000, 'the deleted send withdrawn after the unlock');
    expect(queuedEnvelopes(dirs.relay)).toEqual(kept);
    await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'the withdraw answered');

    // Bob gets only the kept text.
    const bob2 = await reopen(dirs.bob);
    peers.push(bob2);
    expect(await bob2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const conv = (await bob2.m.conversationsList({}))[0]!;
    expect((await fullHistory(bob2.m, conv.id)).map((m) => m.text)).toEqual(['this one stays']);
  });
});
