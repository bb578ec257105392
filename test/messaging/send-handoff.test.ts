// A text commits without waiting for the disk and goes to the relay only once an fsync made that
// commit durable (messenger/outgoing.ts DurableHandoff): the hand-off's ordering rules, then the
// real send path (real relay process, vaults on disk) with the -wal file's fsync held back or failing.
// Bob is closed while alice sends, so the relay's queue shows everything alice handed to it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { eio, letWalSyncsGo, walSyncs } from './wal-sync-faults.ts';
import { DurableHandoff } from '../../main/messenger/outgoing.ts';
import { RelayClient } from '../../main/net/client.ts';
import { RelayMailbox } from '../../main/net/mailbox.ts';
import { aliceAlone, messagingScene, PASSWORD, waitFor } from './helpers.ts';

/** A sync the test resolves (or fails) by hand, one call at a time. */
function heldSyncs(): { sync: () => Promise<void>; calls: { resolve: () => void; reject: (e: Error) => void }[] } {
  const calls: { resolve: () => void; reject: (e: Error) => void }[] = [];
  return { calls, sync: () => new Promise<void>((resolve, reject) => calls.push({ resolve, reject })) };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('DurableHandoff', () => {
  it('runs nothing before its sync resolved; what comes during a sync waits for the next; order kept', async () => {
    const { sync, calls } = heldSyncs();
    const handoff = new DurableHandoff(sync);
    const ran: string[] = [];
    handoff.after(() => void ran.push('a'));
    await turn();
    expect(calls).toHaveLength(1);
    expect(handoff.busy).toBe(true);
    handoff.after(() => void ran.push('b'));
    handoff.after(() => void ran.push('c'));
    await turn();
    expect(ran).toEqual([]);
    calls[0]!.resolve();
    await turn();
    // b and c were queued after the first sync began: their commits need the second.
    expect(ran).toEqual(['a']);
    expect(calls).toHaveLength(2);
    calls[1]!.resolve();
    await handoff.idle();
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(calls).toHaveLength(2); // one fsync for b and c
    expect(handoff.busy).toBe(false);
  });

  // The class drops only the batch whose sync failed; stopping every later one after an fsync
  // error is the vault's (its sync throws DurabilityLost until the lock), tested on the real send path below.
  it('drops a batch whose sync failed and goes on with the next; a failing hand-off does not stop the others', async () => {
    const { sync, calls } = heldSyncs();
    const handoff = new DurableHandoff(sync);
    const ran: string[] = [];
    handoff.after(() => void ran.push('lost'));
    await turn();
    handoff.after(() => {
      throw new Error('vault locked');
    });
    handoff.after(() => void ran.push('after the failure'));
    calls[0]!.reject(new Error('fsync failed'));
    await turn();
    calls[1]!.resolve();
    await handoff.idle();
    expect(ran).toEqual(['after the failure']);
    // A hand-off after the pump ended starts a new sync.
    handoff.after(() => void ran.push('later'));
    await turn();
    expect(calls).toHaveLength(3);
    calls[2]!.resolve();
    await handoff.idle();
    expect(ran).toEqual(['after the failure', 'later']);
  });
});

vi.mock('node:fs/promises', async (importOriginal) => (await import('./wal-sync-faults.ts')).withWalSyncFaults(await importOriginal()));

const letGo = letWalSyncsGo;

/** Lets every held fsync go (after each test, so closing the peers never waits for one). */
const releaseHeld = (): void => letGo((w) => w.go());

/** Alice's WAL fsyncs from now on (bob is closed while they count), held by hold() until release() or failHeld(). */
function vaultSyncs(): { calls: () => number; hold: () => void; release: () => void; failHeld: () => void } {
  const from = walSyncs.calls;
  return {
    calls: () => walSyncs.calls - from,
    hold: () => {
      walSyncs.held = true;
    },
    release: releaseHeld,
    failHeld: () => letGo((w) => w.fail(eio())),
  };
}

/** Outbox entries handed to the relay client (RelayMailbox.adoptSends), counted: what the Sender let go, whether or not a stopped client sends it. */
function handedOver(): () => number {
  let items = 0;
  const adopt = RelayMailbox.prototype.adoptSends;
  vi.spyOn(RelayMailbox.prototype, 'adoptSends').mockImplementation(function (this: RelayMailbox, sent) {
    items += sent.length;
    adopt.call(this, sent);
  });
  return () => items;
}

/** A few event-loop turns and timers: long enough for a frame written at once to reach the relay's queue. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 300));

describe('a sent text and the fsync that covers it', () => {
  const scene = messagingScene('sh', ['alice', 'bob'] as const);
  afterEach(() => {
    releaseHeld();
    vi.restoreAllMocks();
  });

  it('reaches the relay only after its fsync; one deleted while its fsync is held never does; after a failed fsync nothing more is handed over, and the next unlock sends all of it once, in order', { timeout: 240_000 }, async () => {
    const { alice, toBob, relayed, bobSees } = await aliceAlone(scene);
    const before = relayed();
    const syncs = vaultSyncs();

    // Held: committed and in the sealed outbox, but not handed to the relay client.
    syncs.hold();
    const held = await alice.m.sendText({ conversationId: toBob, text: 'held until durable' });
    expect(held.state).toBe('queued');
    await waitFor(() => syncs.calls() === 1, 30_000, 'the fsync asked for');
    expect((await alice.m.connectionState()).outboxSize).toBe(1);
    await settle();
    expect(relayed()).toBe(before);
    syncs.release();
    await waitFor(() => relayed() === before + 1, 60_000, 'the relay stores it after the fsync');

    // Deleted while its fsync is held: its outbox entry goes with it, so the hand-off finds none.
    // The text after it waits behind the deletion's follow-up (sends keep their order behind
    // pending hand-offs), then for its own fsync, then goes.
    syncs.hold();
    const deleted = await alice.m.sendText({ conversationId: toBob, text: 'deleted before it left' });
    expect(await alice.m.deleteMessage({ conversationId: toBob, messageId: deleted.id })).toEqual({ deleted: 1 });
    const next = alice.m.sendText({ conversationId: toBob, text: 'sent after the deleted one' });
    await settle();
    expect(relayed()).toBe(before + 1);
    syncs.release();
    expect((await next).state).toBe('queued');
    await waitFor(() => relayed() === before + 2, 60_000, 'the next one stored');
    await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'all answered');

    // The held fsync fails: that text, the one committed while it was held and one sent after
    // the failure (whose fsync would work) all stay in the sealed outbox, none handed over: a
    // later fsync does not prove the earlier pages reached the disk, and each text's ratchet step
    // builds on the one before. The vault's durability is lost until the lock (every sync throws),
    // so the Sender hands nothing more to the relay client, which the connection also stopped:
    // both are checked, the hand-offs at the client's door. The next unlock opens the vault anew;
    // its client sends them, once each, in order.
    const asked = syncs.calls();
    const handed = handedOver();
    syncs.hold();
    await alice.m.sendText({ conversationId: toBob, text: 'its fsync failed' });
    await waitFor(() => syncs.calls() === asked + 1, 30_000, 'its fsync asked for');
    await alice.m.sendText({ conversationId: toBob, text: 'committed during it' });
    syncs.failHeld();
    await settle();
    await alice.m.sendText({ conversationId: toBob, text: 'sent after the failure' });
    await settle();
    expect(handed()).toBe(0);
    expect(relayed()).toBe(before + 2);
    expect((await alice.m.connectionState()).outboxSize).toBe(3);
    expect(syncs.calls()).toBe(asked + 1); // no fsync after the failure: the vault refuses every sync until the lock
    await alice.m.lock();
    expect(relayed()).toBe(before + 2);
    await alice.m.unlock({ password: PASSWORD });
    await waitFor(() => relayed() === before + 5, 60_000, 'the three sent after the unlock');
    await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'answered');
    // The reopened vault hands texts over again.
    await alice.m.sendText({ conversationId: toBob, text: 'after the unlock' });
    await waitFor(() => relayed() === before + 6, 60_000, 'a text after the unlock stored');
    expect(syncs.calls()).toBe(asked + 2);

    expect(await bobSees()).toEqual(['hello', 'held until durable', 'sent after the deleted one', 'its fsync failed', 'committed during it', 'sent after the failure', 'after the unlock']);
  });
});

describe('a lock while the fsync is pending', () => {
  const scene = messagingScene('shl', ['alice', 'bob'] as const);
  afterEach(() => {
    releaseHeld();
    vi.restoreAllMocks();
  });

  it('neither loses nor duplicates the text: it goes after the next unlock, once', { timeout: 240_000 }, async () => {
    const { alice, toBob, relayed, bobSees } = await aliceAlone(scene);
    const before = relayed();
    const syncs = vaultSyncs();
    syncs.hold();
    // The fsync goes on once the lock stopped the relay client (the lock waits for it).
    const stop = RelayClient.prototype.stop;
    vi.spyOn(RelayClient.prototype, 'stop').mockImplementation(async function (this: RelayClient) {
      await stop.call(this);
      syncs.release();
    });
    await alice.m.sendText({ conversationId: toBob, text: 'locked before its fsync' });
    await waitFor(() => syncs.calls() === 1, 30_000, 'the fsync asked for');
    await alice.m.lock();
    // Committed and durable, in the outbox; the stopped client sent nothing.
    expect(relayed()).toBe(before);
    await alice.m.unlock({ password: PASSWORD });
    await waitFor(() => relayed() === before + 1, 60_000, 'sent after the unlock');
    await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'answered');
    await alice.m.sendText({ conversationId: toBob, text: 'and the next one' });
    await waitFor(() => relayed() === before + 2, 60_000, 'the next one stored');
    expect(await bobSees()).toEqual(['hello', 'locked before its fsync', 'and the next one']);
  });
});
