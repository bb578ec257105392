// The shared start of the in-flight deletion tests (messaging/delete-in-flight-answer,
// deletion/withdraw-inflight-lock, deletion/withdraw-once): the scene's relay, alice registered,
// bob registered then closed, so what alice sends him waits at the relay. (helpers.ts's aliceAlone
// also has bob receive a first text before he closes; these tests start with an empty queue.)
import { messagingScene, newPeer, type Peer } from './helpers.ts';

type Scene = ReturnType<typeof messagingScene<'alice' | 'bob'>>;

/** Starts the scene's relay, registers alice (closed with the scene) and bob, adds bob as alice's contact, then closes bob. */
export async function aliceWithBobClosed(scene: Scene): Promise<{ started: Awaited<ReturnType<Scene['startRelay']>>; alice: Peer; toBob: string }> {
  const started = await scene.startRelay();
  const alice = await newPeer(scene.dirs.alice, 'alice', started.descriptorText);
  scene.peers.push(alice);
  const bob = await newPeer(scene.dirs.bob, 'bob', started.descriptorText);
  const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
  await bob.m.close();
  return { started, alice, toBob };
}
