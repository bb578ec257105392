// A relay child process is SIGKILLed and restarted during a 200-message exchange (100 each
// way) between two Messengers: every message arrives exactly once, in send order per sender.
import { describe, expect, it } from 'vitest';
import { fullHistory, messagingScene, newPeer, waitFor } from './helpers.ts';

const N = 100;
const scene = messagingScene('k', ['alice', 'bob'] as const);
const { dirs, peers } = scene;

describe('relay SIGKILL during an exchange', () => {
  it('every one of 200 messages arrives exactly once, in order', async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    peers.push(alice, bob);
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    await alice.m.sendText({ conversationId: toBob, text: 'a-000' });
    await waitFor(async () => (await bob.m.contactsList()).length === 1, 60_000, 'bob sees alice');
    const toAlice = (await bob.m.contactsList())[0]!.conversationId;

    const states: string[] = [];
    const causes: (string | null)[] = [];
    alice.m.subscribe((e) => {
      if (e.name === 'connection') {
        states.push(e.payload.phase);
        causes.push(e.payload.cause);
      }
    });
    for (let i = 0; i < N; i++) {
      if (i > 0) await alice.m.sendText({ conversationId: toBob, text: `a-${String(i).padStart(3, '0')}` });
      await bob.m.sendText({ conversationId: toAlice, text: `b-${String(i).padStart(3, '0')}` });
      if (i === 40) await started.relay.kill('SIGKILL');
      if (i === 60) await scene.startRelay(started.port);
    }

    await waitFor(async () => (await fullHistory(alice.m, toBob)).length >= 2 * N, 180_000, 'alice has all');
    await waitFor(async () => (await fullHistory(bob.m, toAlice)).length >= 2 * N, 180_000, 'bob has all');
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    expect(await bob.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const expectA = Array.from({ length: N }, (_, i) => `a-${String(i).padStart(3, '0')}`);
    const expectB = Array.from({ length: N }, (_, i) => `b-${String(i).padStart(3, '0')}`);
    const ha = await fullHistory(alice.m, toBob);
    const hb = await fullHistory(bob.m, toAlice);
    expect(ha).toHaveLength(2 * N);
    expect(hb).toHaveLength(2 * N);
    expect(ha.filter((m) => m.direction === 'in').map((m) => m.text)).toEqual(expectB);
    expect(hb.filter((m) => m.direction === 'in').map((m) => m.text)).toEqual(expectA);
    expect(ha.filter((m) => m.direction === 'out').every((m) => m.state !== 'queued' && m.state !== 'failed')).toBe(true);
    // The connection went through a reconnect and came back.
    expect(states).toContain('ready');
    expect(states.some((s) => s === 'offline' || s === 'rebinding' || s === 'connecting')).toBe(true);
    // The restarted relay forgot the temp key: the client re-bound after its 404.
    expect(states).toContain('rebinding');
    expect(causes).toContain('relay_forgot_key');
    expect((await alice.m.connectionState()).outboxSize).toBe(0);
  }, 400_000);
});
