// Delete for me of our message that the relay holds for a recipient who has not fetched it, made
// while the relay is down and followed by closing the app: the withdraw is in the sealed outbox
// (written with the deletion), so after a restart it reaches the relay and the recipient never
// gets the message. A withdraw held only in memory was lost at close (the envelope waited up to
// the relay's 30 days for the recipient).
import { afterAll, describe, expect, it } from 'vitest';
import type { RelayProcess } from '../chaos/relay-process.ts';
import { fullHistory, newPeer, queuedEnvelopes, reopen, startRelay, tempDir, type Peer } from './helpers.ts';

const dirs = { relay: tempDir('dwd-relay'), alice: tempDir('dwd-alice'), bob: tempDir('dwd-bob') };
const peers: Peer[] = [];
const relays: RelayProcess[] = [];
afterAll(async () => {
  for (const p of peers) await p.m.close();
  for (const r of relays) await r.kill();
  for (const d of Object.values(dirs)) d.cleanup();
});
const WORD = 'trombulaxine';

describe('delete for me withdraws durably', () => {
  it('deleted while the relay is down, then closed: after the restart the envelope leaves the relay', { timeout: 120_000 }, async () => {
    const started = await startRelay(dirs.relay.dir);
    relays.push(started.relay);
    const alice = await newPeer(dirs.alice.dir, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob.dir, 'bob', started.descriptorText);
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    await bob.m.close();
    const kept = await alice.m.sendText({ conversationId: toBob, text: 'this one stays' });
    const gone = await alice.m.sendText({ conversationId: toBob, text: `the ${WORD} is taken back` });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const held = queuedEnvelopes(dirs.relay.dir);
    expect(held).toHaveLength(2);

    await relays.pop()!.kill();
    expect(await alice.m.deleteMessage({ conversationId: toBob, messageId: gone.id })).toEqual({ deleted: 1 });
    await alice.m.close();

    relays.push((await startRelay(dirs.relay.dir, started.port)).relay);
    const alice2 = await reopen(dirs.alice.dir);
    peers.push(alice2);
    expect(await alice2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    expect((await alice2.m.connectionState()).outboxSize).toBe(0);
    expect(queuedEnvelopes(dirs.relay.dir)).toEqual([held[0]]);

    const bob2 = await reopen(dirs.bob.dir);
    peers.push(bob2);
    expect(await bob2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const conv = (await bob2.m.conversationsList({}))[0]!;
    expect((await fullHistory(bob2.m, conv.id)).map((m) => m.text)).toEqual([kept.text]);
  });
});
