// A text deleted while its send is in flight (handed to the relay, not answered), then answered
// by the relay (review s25 R8): the answer finds the text gone from the outbox (deletion-journal.ts
// forgetSend for "for me", delete-for-everyone.ts tombstoneOwn for "for everyone") and changes
// nothing (sending.ts answered: the outboxHas guard). Before that guard had a test, removing it left
// every delete and send test green, while the tombstone moved to 'sent' when the answer came.
// The answer is held for real: the relay process is paused (SIGSTOP) once both send frames are
// written, and resumed after the two deletions. Real relay process, real vaults, real libsignal.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OUTGOING_CONTENT_IDS, PENDING_SENDS } from '../../main/messenger/ids.ts';
import { Requests } from '../../main/net/requests.ts';
import { Vault } from '../../main/vault/index.ts';
import { aliceWithBobClosed } from './bob-closed.ts';
import { filesContaining, fullHistory, messagingScene, PASSWORD, queuedEnvelopes, reopen, waitFor } from './helpers.ts';

const scene = messagingScene('dia', ['alice', 'bob'] as const);
const FOR_ME = 'wuzzlegrommet';
const FOR_ALL = 'plinthorbaxe';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('a text deleted while its send is in flight, then answered', () => {
  it('stays deleted (for me: gone; for everyone: the tombstone unchanged), and no pending record is left', { timeout: 180_000 }, async () => {
    const { dirs, peers } = scene;
    const { started, alice, toBob } = await aliceWithBobClosed(scene);
    await alice.m.sendText({ conversationId: toBob, text: 'this one stays' });
    await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'the first send answered');
    expect(queuedEnvelopes(dirs.relay, 'alice')).toHaveLength(1);

    // Observed, not replaced: the 'send' requests the client has written to the relay and not had answered.
    const collect = Requests.prototype.collect;
    let sendsInFlight = 0;
    vi.spyOn(Requests.prototype, 'collect').mockImplementation(function (this: Requests, endpoint, out) {
      collect.call(this, endpoint, out);
      sendsInFlight = this.sentUnanswered('send');
    });
    const whilePaused = async <T>(fn: () => Promise<T>): Promise<T> => {
      started.relay.child.kill('SIGSTOP');
      try {
        return await fn();
      } finally {
        started.relay.child.kill('SIGCONT');
      }
    };
    const { forMe, forAll, tombstone, eventsAtDelete } = await whilePaused(async () => {
      const forMe = await alice.m.sendText({ conversationId: toBob, text: `the ${FOR_ME} line` });
      const forAll = await alice.m.sendText({ conversationId: toBob, text: `the ${FOR_ALL} line` });
      await waitFor(() => sendsInFlight === 2, 60_000, 'both sends written to the paused relay');
      expect((await fullHistory(alice.m, toBob)).filter((m) => m.state === 'queued').map((m) => m.id)).toEqual([forMe.id, forAll.id]);
      expect(await alice.m.deleteMessage({ conversationId: toBob, messageId: forMe.id })).toEqual({ deleted: 1 });
      expect(await alice.m.deleteMessage({ conversationId: toBob, messageId: forAll.id, forEveryone: true })).toEqual({ deleted: 1 });
      const tombstone = (await fullHistory(alice.m, toBob)).find((m) => m.id === forAll.id);
      expect(tombstone).toMatchObject({ text: '', deleted: true });
      return { forMe, forAll, tombstone, eventsAtDelete: alice.events.length };
    });

    // The relay stores and answers both sends, then the delete; the withdrawals take both sends out again.
    await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'the sends and the delete answered');
    await waitFor(() => queuedEnvelopes(dirs.relay, 'alice').length === 2, 60_000, 'both sends withdrawn: the kept text and the delete wait for bob');
    const history = await fullHistory(alice.m, toBob);
    expect(history.map((m) => m.text)).toEqual(['this one stays', '']);
    expect(history[1]).toEqual(tombstone);
    // No state change announced for either since the deletions.
    expect(alice.events.slice(eventsAtDelete).filter((e) => e.name === 'messageState' || e.name === 'message')).toEqual([]);
    for (const word of [FOR_ME, FOR_ALL]) expect((await alice.m.search({ query: word, order: 'newest', limit: 10 })).hits).toEqual([]);

    // At rest: neither text in any file of alice's profile, and no sealed pending record or content id of either.
    await alice.m.lock();
    for (const word of [FOR_ME, FOR_ALL]) expect(await filesContaining(dirs.alice, word)).toEqual([]);
    const vault = await Vault.unlock(dirs.alice, PASSWORD);
    try {
      expect(vault.kvKeys(PENDING_SENDS)).toEqual([]);
      for (const m of [forMe, forAll]) expect(vault.kvGet(OUTGOING_CONTENT_IDS, m.id)).toBeUndefined();
      expect(vault.outboxList()).toEqual([]);
    } finally {
      vault.lock();
    }

    // Bob, back, never shows either text.
    const bob2 = await reopen(dirs.bob);
    peers.push(bob2);
    expect(await bob2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const conv = (await bob2.m.conversationsList({}))[0]!;
    const bobTexts = (await fullHistory(bob2.m, conv.id)).map((m) => m.text).join('\n');
    expect(bobTexts).toContain('this one stays');
    for (const word of [FOR_ME, FOR_ALL]) expect(bobTexts).not.toContain(word);
  });
});
