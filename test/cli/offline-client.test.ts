// The CLI's one-shot commands open the messenger offline (MessengerOptions.offline): unlocking a
// registered profile neither connects to the relay nor fetches what waits there. Real relay
// child process, real profiles on disk, the real `ephemera` for change-password.
import { describe, expect, it } from 'vitest';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';
import { messagingScene, newPeer, PASSWORD, queuedEnvelopes, waitFor } from '../messaging/helpers.ts';
import { runCli } from './run.ts';

const scene = messagingScene('cli-offline', ['alice', 'bob']);
const { dirs, peers } = scene;

describe('one-shot CLI commands stay off the relay', () => {
  it('an offline unlock of a registered profile does not connect; change-password leaves the queued envelope on the relay', async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    peers.push(alice);
    const toBob = await alice.m.contactAdd({ handle: 'bob' });
    await bob.m.close();
    await alice.m.sendText({ conversationId: toBob.conversationId, text: 'waits on the relay for bob' });
    expect((await alice.m.sync({ timeoutMs: 60_000 })).done).toBe(true);
    await waitFor(() => queuedEnvelopes(dirs.relay).length > 0, 60_000, 'the envelope queued for bob');
    const queued = queuedEnvelopes(dirs.relay).length;

    const offline = await openMessenger({ profileDir: dirs.bob, kdf: TEST_KDF, offline: true });
    try {
      const status = await offline.unlock({ password: PASSWORD });
      expect(status.account?.handle).toBe('bob');
      // No connection was opened: the state is the messenger's own offline one.
      expect((await offline.connectionState()).phase).toBe('offline');
      expect(await offline.conversationsList({})).toEqual([]);
    } finally {
      await offline.close();
    }

    const r = await runCli(['--profile', dirs.bob, '--json', 'change-password', '--allow-weak'], { EPHEMERA_PASSWORD: PASSWORD, EPHEMERA_NEW_PASSWORD: 'bob new password 1' });
    expect(r.code, r.stderr).toBe(0);
    expect(queuedEnvelopes(dirs.relay)).toHaveLength(queued);

    // Opened normally, bob gets it: the envelope was only waiting.
    const online = await openMessenger({ profileDir: dirs.bob, kdf: TEST_KDF });
    peers.push({ m: online, dir: dirs.bob, events: [] });
    await online.unlock({ password: 'bob new password 1' });
    await waitFor(async () => (await online.conversationsList({})).length === 1, 60_000, 'bob receives the message');
  });
});
