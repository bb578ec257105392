// A sent message whose relay request never reached the outbox (the process died between the
// two writes), or whose 'sent' state was lost, is sent again at the next unlock under the same
// content id and idempotency key: it arrives, and only once.
import { afterAll, describe, expect, it } from 'vitest';
import { Vault } from '../../main/vault/index.ts';
import { RelayProcess } from '../chaos/relay-process.ts';
import { fullHistory, newPeer, PASSWORD, reopen, startRelay, tempDir, waitFor, type Peer } from './helpers.ts';

const relayDir = tempDir('r-relay');
const aliceDir = tempDir('r-alice');
const bobDir = tempDir('r-bob');
const procs: RelayProcess[] = [];
const open: Peer[] = [];

afterAll(async () => {
  for (const p of open) await p.m.close();
  for (const p of procs) await p.kill();
  for (const d of [relayDir, aliceDir, bobDir]) d.cleanup();
});

describe('interrupted sends', () => {
  it('are re-sent at unlock and stored once', async () => {
    const started = await startRelay(relayDir.dir);
    procs.push(started.relay);
    let alice = await newPeer(aliceDir.dir, 'alice', started.descriptorText);
    const bob = await newPeer(bobDir.dir, 'bob', started.descriptorText);
    open.push(alice, bob);
    const conv = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    await alice.m.sendText({ conversationId: conv, text: 'first' });
    await waitFor(async () => (await bob.m.contactsList()).length === 1, 60_000, 'bob sees alice');
    const bobConv = (await bob.m.contactsList())[0]!.conversationId;

    // Relay down: the message is queued; then its outbox entry is lost as if the process had
    // died before writing it.
    await started.relay.kill('SIGKILL');
    const lost = await alice.m.sendText({ conversationId: conv, text: 'lost in a crash' });
    expect((await alice.m.connectionState()).outboxSize).toBe(1);
    await alice.m.close();
    const v = await Vault.unlock(aliceDir.dir, PASSWORD);
    for (const item of v.outboxList()) v.outboxDelete(item.id);
    v.lock();

    procs.push(await RelayProcess.start(relayDir.dir, started.port));
    alice = await reopen(aliceDir.dir);
    open.push(alice);
    await waitFor(async () => (await fullHistory(bob.m, bobConv)).some((m) => m.text === 'lost in a crash'), 60_000, 'resent message arrives');
    await waitFor(async () => (await fullHistory(alice.m, conv)).find((m) => m.id === lost.id)?.state === 'delivered', 60_000, 'delivered');

    // Accepted, but the 'sent' state was lost: re-sending is deduplicated.
    await alice.m.close();
    const v2 = await Vault.unlock(aliceDir.dir, PASSWORD);
    v2.updateMessageState(lost.id, 'queued');
    v2.lock();
    alice = await reopen(aliceDir.dir);
    open.push(alice);
    await waitFor(async () => (await fullHistory(alice.m, conv)).find((m) => m.id === lost.id)?.state === 'sent', 60_000, 'sent again');
    expect(await alice.m.sync({ timeoutMs: 30_000 })).toEqual({ done: true });
    expect(await bob.m.sync({ timeoutMs: 30_000 })).toEqual({ done: true });
    const texts = (await fullHistory(bob.m, bobConv)).map((m) => m.text);
    expect(texts).toEqual(['first', 'lost in a crash']);
  }, 300_000);
});
