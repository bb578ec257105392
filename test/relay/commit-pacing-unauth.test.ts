// The early commit release (relay/outgoing.ts COMMIT_AT_BYTES) follows only bytes a bound key's
// served writes brought in (review s15 F1): record frames under no key, an unbound key's requests,
// reads with large params and refused writes cost the sender nothing, so none of them may push a
// paced batch past the mark. Observed through the relay core's commit counters, on a real relay
// (SQLite) with a raw WebSocket peer and a real client.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunningRelay } from '../../relay/relay.ts';
import { COMMIT_AT_BYTES } from '../../relay/outgoing.ts';
import { decodeFrame, FRAME_RECORD, MAX_FRAME_BYTES } from '../../shared/protocol/frames.ts';
import { inProcessRelay, makeClient, tempDir, type TestClient } from '../net/harness.ts';
import { RawSession } from './raw-session.ts';

const d = tempDir('commit-pacing-unauth');
let relay: RunningRelay | undefined;
const clients: TestClient[] = [];
const raws: RawSession[] = [];
afterAll(async () => {
  for (const r of raws) r.ws.terminate();
  for (const c of clients) await c.client.stop();
  await relay?.close();
  d.cleanup();
});

const CHUNK = 64 * 1024;

describe('commit pacing against unauthenticated bytes', () => {
  it('counts only a bound key\'s served writes toward the early commit', async () => {
    relay = await inProcessRelay(d.dir);
    const r = relay;
    const counters = r.core.commitCounters;
    const alice = await makeClient(r.descriptor);
    clients.push(alice);
    await alice.client.start();
    await alice.client.call('register', { handle: 'alice' });
    const bob = await makeClient(r.descriptor);
    clients.push(bob);
    await bob.client.start();
    await bob.client.call('register', { handle: 'bob' });

    // A peer with no key streams full-size garbage record frames: each is answered 404 (unknown
    // key) and the connection stays open, but none of its bytes count.
    const attacker = await RawSession.connect(r);
    raws.push(attacker);
    const taken = counters.bytesTaken;
    const early = counters.commitsAtBytes;
    const commits = counters.commits;
    const frames = 8;
    for (let i = 0; i < frames; i++) {
      const frame = randomBytes(MAX_FRAME_BYTES);
      frame[0] = FRAME_RECORD;
      attacker.send(frame);
    }
    for (let i = 0; i < frames; i++) {
      const reply = await attacker.next();
      expect(reply && decodeFrame(reply).type).toBe('unknownKey');
    }
    expect(attacker.closed).toBeUndefined();
    // The frames did open (and commit) batches, so a count would have landed in one...
    expect(counters.commits).toBeGreaterThan(commits);
    // ...but none of their 2 MiB counted toward the early release.
    expect(counters.bytesTaken).toBe(taken);
    expect(counters.commitsAtBytes).toBe(early);

    // An unbound temp key's write request (refused AUTH_KEY_UNBOUND) does not count either.
    const key = await attacker.handshake();
    const refused = await attacker.call(key, 'blob.put', { id: randomBytes(16), offset: 0, data: randomBytes(200 * 1024) });
    expect(refused.kind === 'error' && refused.code).toBe('AUTH_KEY_UNBOUND');
    expect(counters.bytesTaken).toBe(taken);

    // A bound key's read with large free-form params (ping), and its write that is refused.
    await alice.client.call('ping', { pad: randomBytes(200 * 1024) });
    await expect(alice.client.call('blob.put', { id: randomBytes(16), offset: 0, data: randomBytes(CHUNK) })).rejects.toThrow();
    expect(counters.bytesTaken).toBe(taken);
    expect(counters.commitsAtBytes).toBe(early);

    // The case the early release is for: a bound key's attachment chunks do count (so the checks
    // above can fail).
    const size = COMMIT_AT_BYTES;
    const { id } = await alice.client.call('blob.create', { size, recipients: ['bob'] });
    for (let offset = 0; offset < size; offset += CHUNK) await alice.client.call('blob.put', { id, offset, data: randomBytes(CHUNK) });
    expect(counters.bytesTaken - taken).toBeGreaterThanOrEqual(size);
  });
});
