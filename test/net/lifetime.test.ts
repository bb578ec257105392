// Expiry: with a temp key lifetime of a few seconds the client makes and binds the next key
// before the current one expires, switches, and no request fails or sees a 404.
import { afterAll, describe, expect, it } from 'vitest';
import { inProcessRelay, registeredPair, tempDir, waitFor, type TestClient } from './harness.ts';
import type { RunningRelay } from '../../relay/relay.ts';

const t = tempDir('lifetime');
let relay: RunningRelay | undefined;
const clients: TestClient[] = [];
afterAll(async () => {
  for (const c of clients) await c.client.stop();
  await relay?.close();
  t.cleanup();
});

describe('temp key rotation before expiry', () => {
  it('rotates several times under load; no request fails, no 404', async () => {
    relay = await inProcessRelay(t.dir);
    const { alice, bob } = await registeredPair(relay.descriptor, clients, { tempKeyLifetimeSec: 3 });
    const got: number[] = [];
    bob.mailbox.onEnvelope((e) => {
      got.push(Number(Buffer.from(e.body).toString()));
    });

    const expiries = new Set<number>();
    const failures: unknown[] = [];
    let sent = 0;
    const end = Date.now() + 20_000;
    while (expiries.size < 4 && Date.now() < end) {
      const exp = alice.client.tempKeyExpiresAt;
      if (exp !== undefined) {
        expiries.add(exp);
        // the key in use has not expired (relay time)
        expect(exp).toBeGreaterThan(alice.client.relayNow());
      }
      const batch = [
        alice.client.call('time', null),
        alice.mailbox.send('bob', Buffer.from(String(sent)), `rot-${String(sent).padStart(6, '0')}`),
      ];
      sent++;
      await Promise.all(batch.map((p) => p.catch((e: unknown) => failures.push(e))));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(failures).toEqual([]);
    expect(expiries.size).toBeGreaterThanOrEqual(4);
    await waitFor(() => got.length === sent);
    expect(got).toEqual(Array.from({ length: sent }, (_, i) => i));
    const afterFirstReady = alice.states.slice(alice.states.indexOf('ready'));
    expect(afterFirstReady).toEqual(['ready']);
    expect(relay.core.stats.notFound).toBe(0);
    // old keys are forgotten by the relay: one bound key per device (plus none pending)
    expect(relay.core.tempKeyCount).toBeLessThanOrEqual(4);
  });
});
