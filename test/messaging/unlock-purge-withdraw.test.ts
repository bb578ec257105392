// A disappearing message of ours that expires while we are locked, still queued at the relay for a
// recipient who has not fetched it: the unlock purge deletes it here and withdraws its envelope
// once the connection is up (a withdraw in the sealed outbox), so the recipient never receives it.
// The relay's own expiry (the envelope's ttl) counts from when the relay accepted it: sent while
// the relay does not answer, the envelope outlives the sender's copy by that delay (here 10 s).
// The relay is frozen (SIGSTOP) for that delay, not killed and started again: a new relay process
// took 4.5-6.1 s to listen at load 3-28, and everything before the lock (relay back, text accepted,
// lock) must happen within the timer minus the delay, or the text expires here while still in
// the outbox and is never sent (the relay then held 1 envelope, not 2: the flake of stop 17).
// The relay's scheduled purge deletes the row too once the relay's expiry has come, so the row's
// absence proves the withdraw only if it was seen before that expiry: checked against the row's own
// expires_at (the relay's clock is this machine's Date.now), else the test could pass without it.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { fullHistory, messagingScene, newPeer, PASSWORD, queuedEnvelopes, reopen, waitFor } from './helpers.ts';

const scene = messagingScene('uw', ['alice', 'bob'] as const);
const { dirs, peers } = scene;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const WORD = 'quexlorbimant';

/** The relay-side expiry (relay time, ms) of the queued envelope with this body. */
function relayExpiryOf(relayDataDir: string, body: Buffer): number {
  const db = new Database(join(relayDataDir, 'relay.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT expires_at FROM queue WHERE body = ?').get(body) as { expires_at: number } | undefined;
    if (!row) throw new Error('the envelope is not queued at the relay');
    return row.expires_at;
  } finally {
    db.close();
  }
}

describe('the unlock purge withdraws what expired while locked', () => {
  it('the expired envelope leaves the relay; the recipient, coming later, never gets it', { timeout: 120_000 }, async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    peers.push(alice);
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    await bob.m.close();
    await alice.m.setDisappearingTimer({ conversationId: toBob, seconds: 30 });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });

    // Sent while the relay does not answer; accepted 10 s later, so the relay would keep it 10 s
    // past our expiry. Thawed, it reads the waiting frames at once: 20 s of the timer are left.
    started.relay.child.kill('SIGSTOP');
    const gone = await alice.m.sendText({ conversationId: toBob, text: `the ${WORD} never arrives` });
    await sleep(10_000);
    started.relay.child.kill('SIGCONT');
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const held = queuedEnvelopes(dirs.relay);
    const envelope = held.at(-1)!;
    expect(held).toHaveLength(2); // the timer change, then the text
    // Accepted after the thaw: the relay keeps it past our expiry, so its purge cannot remove it first.
    const relayExpiresAt = relayExpiryOf(dirs.relay, envelope);
    expect(relayExpiresAt).toBeGreaterThan(gone.expiresAt!);

    await alice.m.lock();
    await sleep(gone.expiresAt! - Date.now() + 50);
    await alice.m.unlock({ password: PASSWORD });
    expect((await fullHistory(alice.m, toBob)).map((m) => m.id)).not.toContain(gone.id);
    // The withdraw is in the outbox: once sync is done the relay has handled it.
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    // Waited for until the relay's own expiry (checked just below), not a fixed 5 s: on a loaded machine that is all the time there is.
    await waitFor(() => !queuedEnvelopes(dirs.relay).some((b) => b.equals(envelope)), Math.max(5_000, relayExpiresAt - Date.now()), 'the expired envelope withdrawn');
    // Seen gone while the relay's own expiry had not come: no purge (it deletes only rows expired
    // by its clock) can have taken it, only the withdraw. Past it, the test cannot tell them apart.
    const seenGoneAt = Date.now();
    expect(seenGoneAt, 'seen gone before the relay\'s own expiry (else the purge may have removed it)').toBeLessThan(relayExpiresAt);
    expect(queuedEnvelopes(dirs.relay)).toHaveLength(1);

    const bob2 = await reopen(dirs.bob);
    peers.push(bob2);
    expect(await bob2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const conv = (await bob2.m.conversationsList({}))[0]!;
    expect(conv.timerSeconds).toBe(30);
    expect((await fullHistory(bob2.m, conv.id)).map((m) => m.text).join('\n')).not.toContain(WORD);
    expect(bob2.events.some((e) => e.name === 'message' && e.payload.text.includes(WORD))).toBe(false);
  });
});
