// A text sent without a relay connection (offline mode) is stored 'queued' and goes after the next
// online unlock: sendText reports that as a success with state 'queued', and fails only when
// nothing was stored. Before: it threw NOT_REGISTERED after storing, so the composer gave the text
// back and a second Enter stored a second copy (review s17 R3).
// Real relay process, real libsignal, real vaults on disk.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../shared/api.ts';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';
import { fullHistory, messagingScene, PASSWORD, peersOn, reopen, waitFor } from './helpers.ts';

const scene = messagingScene('send-stored-queued', ['alice', 'bob']);

describe('a send without a connection', () => {
  it('resolves with the stored message (queued), which goes once after the next online unlock; nothing stored -> an error', { timeout: 180_000 }, async () => {
    const { alice, bob } = await peersOn(scene, ['alice', 'bob'], 'sq_');
    const toBob = (await alice.m.contactAdd({ handle: 'sq_bob' })).conversationId;
    await alice.m.sendText({ conversationId: toBob, text: 'hello' });
    const toAlice = async (): Promise<string> => (await bob.m.conversationsList({}))[0]?.id ?? '';
    await waitFor(async () => (await toAlice()) !== '', 60_000, 'bob sees alice');
    await alice.m.close();

    const offline = await openMessenger({ profileDir: alice.dir, kdf: TEST_KDF, offline: true });
    try {
      await offline.unlock({ password: PASSWORD });
      const seen: string[] = [];
      offline.subscribe((e) => {
        if (e.name === 'message' && e.payload.direction === 'out') seen.push(e.payload.text);
      });
      const sent = await offline.sendText({ conversationId: toBob, text: 'written offline' });
      expect(sent.state).toBe('queued');
      expect(sent.text).toBe('written offline');
      expect(seen).toEqual(['written offline']);
      const own = (await fullHistory(offline, toBob)).filter((m) => m.text === 'written offline');
      expect(own.map((m) => [m.id, m.state])).toEqual([[sent.id, 'queued']]);
      // Nothing stored: still an error (an unknown conversation).
      const refused = await offline.sendText({ conversationId: `${toBob}x`, text: 'nowhere' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(ApiError);
    } finally {
      await offline.close();
    }

    const online = await reopen(alice.dir);
    scene.peers.push(online);
    await waitFor(async () => (await fullHistory(bob.m, await toAlice())).some((m) => m.text === 'written offline'), 60_000, 'the queued text at bob');
    await waitFor(async () => (await fullHistory(online.m, toBob)).find((m) => m.text === 'written offline')?.state !== 'queued', 60_000, 'answered');
    expect(await bob.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    expect((await fullHistory(bob.m, await toAlice())).map((m) => m.text)).toEqual(['hello', 'written offline']);
  });
});
