// A text whose send fails before anything of it is stored goes back to its conversation's sealed
// draft, unless newer text is there. The case: a text to a contact without a session waits for the
// contact's bundle (a relay round trip); a lock begins meanwhile and stops the connection, so the
// fetch fails. The composer emptied the sealed draft at Enter and its own restore is refused while
// locking, so before this the text was in neither history nor draft after the unlock (G, stop 18).
// Real relay process (frozen with SIGSTOP so the fetch stays unanswered), real libsignal and vaults.
import { describe, expect, it } from 'vitest';
import type { SessionAccess } from '../../main/messenger/session.ts';
import { fullHistory, messagingScene, newPeer, PASSWORD } from './helpers.ts';

const scene = messagingScene('send-draft-lock', ['alice', 'bob']);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a first text cut off by a lock', () => {
  it('is the sealed draft after the unlock; a newer draft is kept', { timeout: 180_000 }, async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(scene.dirs.alice, 'sdl_alice', started.descriptorText);
    scene.peers.push(alice);
    scene.peers.push(await newPeer(scene.dirs.bob, 'sdl_bob', started.descriptorText));
    const toBob = (await alice.m.contactAdd({ handle: 'sdl_bob' })).conversationId;
    const sent = await alice.m.sendText({ conversationId: toBob, text: 'stored and sent' });
    expect(sent.text).toBe('stored and sent');
    expect((await alice.m.getDraft({ conversationId: toBob })).text).toBe('');

    const access = (alice.m as unknown as { access: SessionAccess }).access;
    /** Sends text with no session to bob (as after an accepted identity change) while the relay is frozen, locks, unlocks. */
    const sendCutByLock = async (text: string): Promise<unknown> => {
      await access.registration().e2e.forgetSession('sdl_bob');
      started.relay.child.kill('SIGSTOP');
      try {
        const sending = alice.m.sendText({ conversationId: toBob, text }).then(() => undefined, (e: unknown) => e);
        // Let the send reach the bundle fetch (it cannot be answered while the relay is frozen).
        await sleep(300);
        await alice.m.lock();
        const outcome = await sending;
        started.relay.child.kill('SIGCONT');
        await alice.m.unlock({ password: PASSWORD });
        expect((await fullHistory(alice.m, toBob)).map((m) => m.text)).not.toContain(text);
        return outcome;
      } finally {
        started.relay.child.kill('SIGCONT');
      }
    };

    // Newer text in the draft (typed and saved while the send waited): kept, not written over.
    await alice.m.setDraft({ conversationId: toBob, text: 'typed later' });
    expect(await sendCutByLock('first try')).toBeInstanceOf(Error);
    expect((await alice.m.getDraft({ conversationId: toBob })).text).toBe('typed later');

    // Draft emptied at Enter (as the composer does): the text comes back as the sealed draft.
    await alice.m.setDraft({ conversationId: toBob, text: '' });
    expect(await sendCutByLock('second try')).toBeInstanceOf(Error);
    expect((await alice.m.getDraft({ conversationId: toBob })).text).toBe('second try');
  });
});
