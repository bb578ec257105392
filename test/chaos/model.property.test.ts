// Model-based chaos (fast-check commands): while alice streams envelopes to bob, the relay
// forgets every temp key, connections drop, time passes. Whatever the interleaving, every
// envelope reaches bob exactly once, in order, and every send resolves.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RunningRelay } from '../../relay/relay.ts';
import { inProcessRelay, makeClient, tempDir, waitFor, type TestClient } from '../net/harness.ts';

interface Model {
  sent: number;
}
interface Real {
  relay: RunningRelay;
  alice: TestClient;
  bob: TestClient;
  received: string[];
  sends: Promise<unknown>[];
  errors: unknown[];
}

class Send implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const i = m.sent++;
    r.sends.push(r.alice.mailbox.send('bob', Buffer.from(String(i)), `model-${String(i).padStart(8, '0')}`).catch((e: unknown) => r.errors.push(e)));
  }
  toString(): string {
    return 'send';
  }
}

class ForgetKeys implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(_m: Model, r: Real): Promise<void> {
    r.relay.core.forgetAllTempKeys();
  }
  toString(): string {
    return 'forgetKeys';
  }
}

class DropConnections implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(_m: Model, r: Real): Promise<void> {
    for (const ws of r.relay.core.connectionsForTests()) ws.terminate();
  }
  toString(): string {
    return 'dropConnections';
  }
}

class Pause implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true;
  }
  async run(): Promise<void> {
    await new Promise((res) => setTimeout(res, this.ms));
  }
  toString(): string {
    return `pause(${this.ms})`;
  }
}

const commands = fc.commands(
  [
    fc.constant(new Send()),
    fc.constant(new Send()),
    fc.constant(new ForgetKeys()),
    fc.constant(new DropConnections()),
    fc.integer({ min: 1, max: 60 }).map((ms) => new Pause(ms)),
  ],
  { maxCommands: 25 },
);

describe('model-based chaos', () => {
  it('exactly once, in order, under key loss and connection drops', async () => {
    await fc.assert(
      fc.asyncProperty(commands, async (cmds) => {
        const t = tempDir('model');
        const relay = await inProcessRelay(t.dir);
        const opts = { keepaliveMs: 100, backoff: { baseMs: 20, maxMs: 100 } };
        const alice = await makeClient(relay.descriptor, opts);
        const bob = await makeClient(relay.descriptor, opts);
        const real: Real = { relay, alice, bob, received: [], sends: [], errors: [] };
        try {
          await alice.client.start();
          await bob.client.start();
          await waitFor(() => alice.client.state === 'ready' && bob.client.state === 'ready');
          await alice.mailbox.register('alice');
          await bob.mailbox.register('bob');
          bob.mailbox.onEnvelope((e) => {
            real.received.push(Buffer.from(e.body).toString());
          });
          const model: Model = { sent: 0 };
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          await Promise.all(real.sends);
          await waitFor(() => real.received.length >= model.sent, 30_000, 'all envelopes');
          await new Promise((res) => setTimeout(res, 150)); // a duplicate would arrive now
          expect(real.errors).toEqual([]);
          expect(real.received).toEqual(Array.from({ length: model.sent }, (_, i) => String(i)));
        } finally {
          await alice.client.stop();
          await bob.client.stop();
          await relay.close();
          t.cleanup();
        }
      }),
      { numRuns: 15 },
    );
  });
});
