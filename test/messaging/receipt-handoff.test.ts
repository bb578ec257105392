// A delivered receipt commits without waiting for the disk (no fsync on the main thread per
// receipt: a catch-up sends one per sender every couple of seconds) and goes to the relay only
// once an fsync made that commit durable (messenger/receipts.ts with outgoing.ts DurableHandoff),
// as a text does. Real relay process, vaults on disk; the -wal file's async fsync held back.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { letWalSyncsGo, walSyncs } from './wal-sync-faults.ts';
import { helloPair, messagingScene, waitFor } from './helpers.ts';

vi.mock('node:fs/promises', async (importOriginal) => (await import('./wal-sync-faults.ts')).withWalSyncFaults(await importOriginal()));

const releaseHeld = (): void => letWalSyncsGo((w) => w.go());

describe('a delivered receipt and the fsync that covers it', () => {
  const scene = messagingScene('rh', ['alice', 'bob'] as const);
  afterEach(releaseHeld);

  it('reaches the sender only after the receiver fsynced the commit that queued it', { timeout: 120_000 }, async () => {
    const { alice, bob, toBob } = await helloPair(scene);
    const delivered = new Set<string>();
    alice.m.subscribe((e) => {
      if (e.name === 'messageState' && e.payload.state === 'delivered') delivered.add(e.payload.id);
    });
    // From the moment bob stored the text (its receipt then waits its quiet moment, 250 ms), every
    // async -wal fsync waits (alice's too: her text is on the relay by then).
    let stored = false;
    bob.m.subscribe((e) => {
      if (e.name === 'message' && e.payload.direction === 'in' && e.payload.text === 'second') {
        walSyncs.held = true;
        stored = true;
      }
    });
    const sent = await alice.m.sendText({ conversationId: toBob, text: 'second' });
    await waitFor(() => stored, 60_000, 'bob stored the text');
    const asked = walSyncs.calls;
    // Committed (its sync was asked for: waited for, the quiet moment and the commit take longer
    // on a loaded machine), then a moment in which a hand-off that did not wait would show...
    await waitFor(() => walSyncs.calls > asked, 60_000, "the receipt's commit asked for its fsync");
    await new Promise((r) => setTimeout(r, 1_500));
    // ...but not handed to the relay: alice has no receipt.
    expect(walSyncs.calls).toBeGreaterThan(asked);
    expect(delivered.has(sent.id)).toBe(false);
    releaseHeld();
    await waitFor(() => delivered.has(sent.id), 60_000, 'the receipt after the fsync');
    await waitFor(async () => (await bob.m.connectionState()).outboxSize === 0, 60_000, 'the relay took it');
  });
});
