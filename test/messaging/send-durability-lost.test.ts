// Review s18 R4: after a failed fsync of the vault's WAL, NOTHING more of that unlock goes to
// the relay, not only texts. A timer change encrypted after a text whose fsync failed builds on
// that text's ratchet step: if a power cut lost the text's WAL frames, the timer change's commit
// goes with them (SQLite's checksum chain), and the next sends would reuse message keys the relay
// already carries. The vault makes the failure sticky (WriteGate.durabilityLost) and the relay
// connection stops at once; the sealed outbox keeps every send, and the next unlock sends them
// once each, in order. The failure is injected at the fsync of the -wal file itself (no disk here
// gives EIO on demand); everything else is real: relay process, vaults on disk.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { eio, letWalSyncsGo, walSyncs } from './wal-sync-faults.ts';
import { aliceAlone, messagingScene, PASSWORD, waitFor } from './helpers.ts';

vi.mock('node:fs/promises', async (importOriginal) => (await import('./wal-sync-faults.ts')).withWalSyncFaults(await importOriginal()));

const letGo = letWalSyncsGo;


/** A few event-loop turns and timers: long enough for a frame written at once to reach the relay's queue. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 300));

describe('after a failed fsync nothing more of that unlock reaches the relay', () => {
  const scene = messagingScene('sdl', ['alice', 'bob'] as const);
  afterEach(() => letGo((w) => w.go()));

  it('a timer change and a text after the failure stay in the sealed outbox; the next unlock sends all three once, in order', { timeout: 240_000 }, async () => {
    const { alice, toBob, relayed, bobSees } = await aliceAlone(scene);
    const before = relayed();
    const asked = walSyncs.calls;
    walSyncs.held = true;
    await alice.m.sendText({ conversationId: toBob, text: 'its fsync failed' });
    await waitFor(() => walSyncs.calls === asked + 1, 30_000, 'its fsync asked for');
    letGo((w) => w.fail(eio()));
    await settle();
    expect(relayed()).toBe(before);
    // The relay connection stopped: the user sees it offline (and nothing is acknowledged either).
    await waitFor(async () => (await alice.m.connectionState()).phase === 'offline', 30_000, 'the connection stopped');

    // An attachment call (here the relay's limits) is refused with the disk error, rather than
    // left pending on the stopped client until the lock (messenger.ts wires the connection's calls).
    const limits = alice.m.attachmentLimits();
    const pending = Symbol('still pending');
    const outcome = await Promise.race([limits.then(() => 'answered', (e: unknown) => e), new Promise((r) => setTimeout(() => r(pending), 30_000))]);
    expect(outcome).toMatchObject({ code: 'DISK_WRITE_FAILED' });
    // So is a file sent (its upload's first relay call): it used the bare client, pending until the lock (review s19 R1).
    const file = join(mkdtempSync(join(tmpdir(), 'sdl-')), 'note.txt');
    writeFileSync(file, 'a file after the failure');
    const sent = alice.m.sendFile({ conversationId: toBob, path: file });
    const sentOutcome = await Promise.race([sent.then(() => 'answered', (e: unknown) => e), new Promise((r) => setTimeout(() => r(pending), 30_000))]);
    expect(sentOutcome).toMatchObject({ code: 'DISK_WRITE_FAILED' });

    // The timer change's ratchet step builds on the stuck text's: it must not go (R4), though
    // its own commit is FULL and a later fsync would succeed.
    await alice.m.setDisappearingTimer({ conversationId: toBob, seconds: 3600 });
    await alice.m.sendText({ conversationId: toBob, text: 'sent after the failure' });
    await settle();
    await settle();
    expect(relayed()).toBe(before);
    expect((await alice.m.connectionState()).outboxSize).toBe(3);

    await alice.m.lock();
    expect(relayed()).toBe(before);
    await alice.m.unlock({ password: PASSWORD });
    await waitFor(() => relayed() === before + 3, 60_000, 'the three sent after the unlock');
    await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'answered');
    await settle();
    expect(relayed()).toBe(before + 3);
    expect(await bobSees()).toEqual(['hello', 'its fsync failed', 'timer 3600', 'sent after the failure']);
  });
});
