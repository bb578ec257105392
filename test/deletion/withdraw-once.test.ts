// A delete for me of our message that the relay still holds (the recipient away) withdraws it
// exactly once, through the durable withdraw the deletion queued in the sealed outbox, which the
// running relay client takes without listing the outbox again (messenger/withdraw-queue.ts).
// Before: the deletion sent an immediate withdraw *and* listed the whole outbox to send the queued
// one too (two withdraws for one envelope, one outbox listing per deletion).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RelayClient } from '../../main/net/client.ts';
import { Vault } from '../../main/vault/index.ts';
import { aliceWithBobClosed } from '../messaging/bob-closed.ts';
import { messagingScene, queuedEnvelopes, waitFor } from '../messaging/helpers.ts';

const scene = messagingScene('wdo', ['alice', 'bob'] as const);
const { dirs } = scene;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('withdraw on delete for me', () => {
  it('goes once, durably, without listing the outbox', { timeout: 120_000 }, async () => {
    const { alice, toBob } = await aliceWithBobClosed(scene);
    await alice.m.sendText({ conversationId: toBob, text: 'this one stays at the relay' });
    const gone = await alice.m.sendText({ conversationId: toBob, text: 'this one is taken back' });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const held = queuedEnvelopes(dirs.relay);
    expect(held).toHaveLength(2);

    // Observed, not replaced: every call still goes through.
    const calls = vi.spyOn(RelayClient.prototype, 'call');
    const emits = vi.spyOn(RelayClient.prototype, 'emit');
    const listed = vi.spyOn(Vault.prototype, 'outboxList');
    const withdrawsAnswered = (): number =>
      (emits.mock.calls as unknown as [string, { method?: string } | undefined][]).filter(([event, outcome]) => event === 'durable' && outcome?.method === 'withdraw').length;

    expect(await alice.m.deleteMessage({ conversationId: toBob, messageId: gone.id })).toEqual({ deleted: 1 });
    await waitFor(() => withdrawsAnswered() >= 1, 60_000, 'the withdraw answered');
    expect(listed).not.toHaveBeenCalled();
    expect(queuedEnvelopes(dirs.relay)).toEqual([held[0]]);

    // The answered withdraw left the outbox; nothing else withdraws the envelope again.
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'the outbox drained');
    expect(withdrawsAnswered()).toBe(1);
    expect(calls.mock.calls.filter(([method]) => method === 'withdraw')).toHaveLength(0);
    expect(queuedEnvelopes(dirs.relay)).toEqual([held[0]]);
  });
});
