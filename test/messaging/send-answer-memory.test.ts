// The relay's answer to a text sent in this unlock (messenger/sending.ts onDurable) takes the
// message id the send derived and asks the outbox whether the send is still pending: it opens no
// sealed pending record (an answer after a restart still reads it: send-stored-queued, resume).
// Real relay process, real libsignal, vaults on disk; bob is closed while alice sends.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PENDING_SENDS } from '../../main/messenger/ids.ts';
import { Vault } from '../../main/vault/index.ts';
import { aliceAlone, fullHistory, messagingScene, PASSWORD, waitFor } from './helpers.ts';

const scene = messagingScene('send-answer-memory', ['alice', 'bob']);

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the relay's answer to a text", () => {
  it("marks it 'sent' without opening its pending record, which goes with the answer", { timeout: 180_000 }, async () => {
    const { alice, toBob, bobSees } = await aliceAlone(scene);
    const reads = vi.spyOn(Vault.prototype, 'kvGet');
    const texts = ['one', 'two', 'three'];
    for (const text of texts) await alice.m.sendText({ conversationId: toBob, text });
    const states = async (): Promise<string[]> => (await fullHistory(alice.m, toBob)).filter((m) => texts.includes(m.text)).map((m) => m.state);
    await waitFor(async () => (await states()).every((s) => s === 'sent'), 60_000, "the texts 'sent'");
    expect(reads.mock.calls.filter(([ns]) => ns === PENDING_SENDS)).toEqual([]);
    reads.mockRestore();
    // The pending records went with their answers; the outbox entries too.
    await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'outbox empty');
    await alice.m.close();
    scene.peers.splice(scene.peers.indexOf(alice), 1);
    const vault = await Vault.unlock(alice.dir, PASSWORD);
    try {
      expect(vault.kvKeys(PENDING_SENDS)).toEqual([]);
    } finally {
      vault.lock();
    }
    expect(await bobSees()).toEqual(['hello', 'one', 'two', 'three']);
  });
});
