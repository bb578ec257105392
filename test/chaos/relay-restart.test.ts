// Relay restart chaos: two clients stream 1000 messages through a relay child process that is
// SIGKILLed and restarted mid-stream. Every message arrives exactly once, in order per sender,
// and the clients go ready -> rebinding -> ready.
import { afterAll, describe, expect, it } from 'vitest';
import type { ConnectionState } from '../../main/net/client.ts';
import { registeredPair, tempDir, waitFor, type TestClient } from '../net/harness.ts';
import { freePort, RelayProcess } from './relay-process.ts';

const PER_SENDER = 500;
const WINDOW = 40;
const t = tempDir('chaos');
const procs: RelayProcess[] = [];
const clients: TestClient[] = [];

afterAll(async () => {
  for (const c of clients) await c.client.stop();
  for (const p of procs) await p.kill();
  t.cleanup();
});

function isSubsequence(needle: ConnectionState[], hay: ConnectionState[]): boolean {
  let i = 0;
  for (const s of hay) if (s === needle[i]) i++;
  return i === needle.length;
}

describe('relay restart (SIGKILL) mid-stream', () => {
  it('delivers all 1000 messages exactly once, in order per sender', async () => {
    const port = await freePort();
    let relay = await RelayProcess.start(t.dir, port);
    procs.push(relay);
    const { alice, bob } = await registeredPair(relay.descriptor, clients);

    const received = { alice: [] as string[], bob: [] as string[] };
    alice.mailbox.onEnvelope((e) => {
      received.alice.push(`${e.from}:${Buffer.from(e.body).toString()}`);
    });
    bob.mailbox.onEnvelope((e) => {
      received.bob.push(`${e.from}:${Buffer.from(e.body).toString()}`);
    });
    const statesAtKill = { alice: 0, bob: 0 };

    async function stream(from: TestClient, to: string, name: string): Promise<void> {
      const inflight = new Set<Promise<unknown>>();
      for (let i = 0; i < PER_SENDER; i++) {
        while (inflight.size >= WINDOW) await Promise.race(inflight);
        const p = from.mailbox.send(to, Buffer.from(String(i)), `${name}-msg-${String(i).padStart(6, '0')}`);
        const q = p.finally(() => inflight.delete(q));
        inflight.add(q);
      }
      await Promise.all(inflight);
    }

    const streams = Promise.all([stream(alice, 'bob', 'alice'), stream(bob, 'alice', 'bob')]);
    await waitFor(() => received.alice.length + received.bob.length >= 300, 60_000, 'first 300 messages');
    statesAtKill.alice = alice.states.length;
    statesAtKill.bob = bob.states.length;
    await relay.kill('SIGKILL');
    relay = await RelayProcess.start(t.dir, port);
    procs.push(relay);
    await streams;
    await waitFor(() => received.alice.length >= PER_SENDER && received.bob.length >= PER_SENDER, 90_000, 'all messages');
    await new Promise((r) => setTimeout(r, 300)); // any duplicate would show up now

    const expected = (from: string) => Array.from({ length: PER_SENDER }, (_, i) => `${from}:${i}`);
    expect(received.bob).toEqual(expected('alice'));
    expect(received.alice).toEqual(expected('bob'));
    for (const c of [alice, bob]) {
      const after = c.states.slice(c === alice ? statesAtKill.alice - 1 : statesAtKill.bob - 1);
      expect(after[0]).toBe('ready');
      expect(isSubsequence(['ready', 'rebinding', 'ready'], after)).toBe(true);
      expect(c.client.state).toBe('ready');
    }
  });
});
