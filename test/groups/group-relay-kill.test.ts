// A group of three exchanges 90 messages while the relay process is SIGKILLed and restarted in
// the middle: sends made while it is down wait in the sealed outbox, the one sendMany request per
// message is re-sent after the restart, and every member ends with every message exactly once,
// in per-sender order.
import { describe, expect, it } from 'vitest';
import type { Messenger } from '../../main/messenger.ts';
import { RelayProcess } from '../chaos/relay-process.ts';
import { messagingScene, newPeer, waitFor, type Peer } from '../messaging/helpers.ts';

const N = 30;
const scene = messagingScene('group-kill', ['alice', 'bob', 'carol']);

async function all(m: Messenger, groupId: string): Promise<{ sender: string; text: string; state: string; direction: string }[]> {
  return (await m.groupHistory({ groupId, limit: 500 })).messages.filter((x) => !x.system);
}

describe('group chat across a relay SIGKILL', () => {
  it('every member has every message exactly once, in per-sender order', async () => {
    const started = await scene.startRelay();
    const peers: Peer[] = [];
    for (const n of ['alice', 'bob', 'carol'] as const) peers.push(await newPeer(scene.dirs[n], `k_${n}`, started.descriptorText));
    scene.peers.push(...peers);
    const [alice, bob, carol] = peers as [Peer, Peer, Peer];
    const { groupId } = await alice.m.groupCreate({ name: 'Chaos', members: ['k_bob', 'k_carol'] });
    for (const p of [bob, carol]) await waitFor(async () => (await p.m.groupsList()).length === 1, 30_000, 'the group everywhere');

    let relay = started.relay;
    for (let i = 0; i < N; i++) {
      for (const p of peers) await p.m.groupSend({ groupId, text: `${p === alice ? 'a' : p === bob ? 'b' : 'c'}-${String(i).padStart(2, '0')}` });
      if (i === 10) await relay.kill('SIGKILL');
      if (i === 18) relay = await RelayProcess.start(scene.dirs.relay, started.port);
    }
    try {
      for (const p of peers) await waitFor(async () => (await all(p.m, groupId)).length >= 3 * N, 180_000, 'every message at every member');
      for (const p of peers) await waitFor(async () => (await all(p.m, groupId)).filter((m) => m.direction === 'out').every((m) => m.state === 'sent'), 60_000, 'all sent');
      for (const p of peers) {
        const got = await all(p.m, groupId);
        expect(got).toHaveLength(3 * N);
        for (const [who, letter] of [['k_alice', 'a'], ['k_bob', 'b'], ['k_carol', 'c']] as const) {
          expect(got.filter((m) => m.sender === who).map((m) => m.text)).toEqual(Array.from({ length: N }, (_, i) => `${letter}-${String(i).padStart(2, '0')}`));
        }
      }
    } finally {
      await relay.kill();
    }
  }, 300_000);
});
