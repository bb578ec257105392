// `ephemera disappear CONTACT DURATION` (issue #14) as a child process against a real relay: the
// refusals come before anything opens and have their exit codes; a set timer reaches the contact
// (its summary and a system line); `history --json` shows each message's timer and expiry (the
// recipient's countdown starts with that history, which counts as shown).
import { describe, expect, it } from 'vitest';
import type { Message } from '../../shared/api.ts';
import { cli, fullHistory, messagingScene, newPeer, waitFor } from './helpers.ts';

const scene = messagingScene('disappear-cli', ['alice', 'bob'] as const);

describe('ephemera disappear', () => {
  it('sets the timer for both sides; history --json shows timers and expiries', { timeout: 180_000 }, async () => {
    const { descriptorText } = await scene.startRelay();
    const alice = await newPeer(scene.dirs.alice, 'alice', descriptorText);
    const bob = await newPeer(scene.dirs.bob, 'bob', descriptorText);
    scene.peers.push(alice, bob);
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    await alice.m.sendText({ conversationId: toBob, text: 'hello bob' });
    expect(await bob.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await bob.m.close();
    scene.peers.splice(scene.peers.indexOf(bob), 1);
    const dir = scene.dirs.bob;

    // Refusals: a duration not in the list (2), an unknown contact (10), a bad handle (17).
    expect((await cli(dir, 'disappear', 'alice', '2h')).code).toBe(2);
    expect((await cli(dir, 'disappear', 'alice', '')).code).toBe(2);
    expect((await cli(dir, 'disappear', 'nobody', '1h')).code).toBe(10);
    expect((await cli(dir, 'disappear', 'Not-A-Handle', '1h')).code).toBe(17);

    const set = await cli(dir, 'disappear', 'alice', '1h');
    expect(set.code, set.stderr).toBe(0);
    expect(set.json).toMatchObject({ ok: true, contact: 'alice', duration: '1h', timerSeconds: 3600 });

    // Alice applies it and shows the line; what she sends now carries the hour.
    await waitFor(async () => (await alice.m.conversationsList({})).some((c) => c.id === toBob && c.timerSeconds === 3600), 60_000, 'the timer at alice');
    const line = (await fullHistory(alice.m, toBob)).at(-1);
    expect(line).toMatchObject({ direction: 'in', text: '', timerChange: { seconds: 3600 } });
    const sent = await alice.m.sendText({ conversationId: toBob, text: 'under the hour' });
    expect(sent).toMatchObject({ timerSeconds: 3600, expiresAt: sent.sentAt + 3_600_000 });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });

    expect((await cli(dir, 'sync')).code).toBe(0);
    const before = Date.now();
    const history = await cli(dir, 'history', 'alice');
    expect(history.code, history.stderr).toBe(0);
    const messages = history.json.messages as Message[];
    expect(messages.map((m) => m.text)).toEqual(['hello bob', '', 'under the hour']);
    expect(messages[0]).not.toHaveProperty('timerSeconds');
    expect(messages[1]).toMatchObject({ direction: 'out', timerChange: { seconds: 3600 } });
    expect(messages[2]!.timerSeconds).toBe(3600);
    expect(messages[2]!.expiresAt).toBeGreaterThanOrEqual(before + 3_600_000);
    // Shown again: the same expiry.
    expect(((await cli(dir, 'history', 'alice')).json.messages as Message[])[2]!.expiresAt).toBe(messages[2]!.expiresAt);

    const off = await cli(dir, 'disappear', 'alice', 'off');
    expect(off.code, off.stderr).toBe(0);
    expect(off.json).toMatchObject({ ok: true, duration: 'off', timerSeconds: 0 });
    await waitFor(async () => (await alice.m.conversationsList({})).some((c) => c.id === toBob && c.timerSeconds === undefined), 60_000, 'the timer off at alice');
  });
});
