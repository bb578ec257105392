// The methods the table marks readOnly (shared/protocol/methods.ts) write nothing to the relay's
// store: the group commit releases a batch of only these at the end of its turn without its
// pacing (relay/outgoing.ts, docs/protocol.md §11), which is sound only while that holds.
// Each is called through a real relay (SQLite) and the database's change counter must not move;
// a method newly marked readOnly fails here until it is called below too.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunningRelay } from '../../relay/relay.ts';
import { RELAY_METHODS, type RelayMethodName } from '../../shared/protocol/methods.ts';
import { inProcessRelay, makeClient, tempDir, type TestClient } from '../net/harness.ts';

const d = tempDir('read-only-methods');
let relay: RunningRelay | undefined;
const clients: TestClient[] = [];
afterAll(async () => {
  for (const c of clients) await c.client.stop();
  await relay?.close();
  d.cleanup();
});

async function user(r: RunningRelay, handle: string): Promise<TestClient> {
  const c = await makeClient(r.descriptor);
  clients.push(c);
  await c.client.start();
  await c.client.call('register', { handle });
  return c;
}

describe('read-only methods', () => {
  it('change nothing in the relay database', async () => {
    relay = await inProcessRelay(d.dir);
    const alice = await user(relay, 'alice');
    const bob = await user(relay, 'bob');
    const content = randomBytes(5000);
    const { id } = await alice.client.call('blob.create', { size: content.length, recipients: ['bob'] });
    await alice.client.call('blob.put', { id, offset: 0, data: content });
    const db = relay.core.store.database;
    const changes = (): number => (db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
    const calls: Record<string, () => Promise<unknown>> = {
      ping: () => bob.client.call('ping', null),
      time: () => bob.client.call('time', null),
      'blob.limits': () => bob.client.call('blob.limits', null),
      'blob.status': () => bob.client.call('blob.status', { id }),
      'blob.get': () => bob.client.call('blob.get', { id, offset: 0, length: content.length }),
    };
    const readOnly = (Object.keys(RELAY_METHODS) as RelayMethodName[]).filter((m) => RELAY_METHODS[m].readOnly === true);
    expect(readOnly.sort()).toEqual(Object.keys(calls).sort());
    for (const m of readOnly) {
      const before = changes();
      await calls[m]!();
      expect({ method: m, changes: changes() - before }).toEqual({ method: m, changes: 0 });
    }
    // The counter does move for a method that writes (so the check above can fail).
    const before = changes();
    await alice.client.call('blob.done', { id });
    expect(changes()).toBeGreaterThan(before);
  });
});
