// After a failed fsync of the vault's WAL (8962b67: durability lost until the lock) the connection
// says why it is offline: cause 'disk_write_failed', not a relay that cannot be reached. Calls that
// need the relay's answer fail at once with the disk error instead of waiting out the relay
// timeout; the next unlock clears the cause. The failure is injected at the fsync of the -wal file
// (no disk here gives EIO on demand); relay process and vaults on disk are real.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { walSyncs } from './wal-sync-faults.ts';
import type { ConnectionState } from '../../shared/api.ts';
import { aliceAlone, messagingScene, PASSWORD, waitFor } from './helpers.ts';

vi.mock('node:fs/promises', async (importOriginal) => (await import('./wal-sync-faults.ts')).withWalSyncFaults(await importOriginal()));

describe('a failed disk write is the connection cause', () => {
  const scene = messagingScene('cdf', ['alice', 'bob'] as const);
  afterEach(() => {
    walSyncs.failNext = false;
  });

  it('shows disk_write_failed, refuses relay calls at once with the disk error, and clears after lock and unlock', { timeout: 240_000 }, async () => {
    const { alice, toBob } = await aliceAlone(scene);
    const seen: ConnectionState[] = [];
    const off = alice.m.subscribe((e) => {
      if (e.name === 'connection') seen.push(e.payload);
    });
    walSyncs.failNext = true;
    await alice.m.sendText({ conversationId: toBob, text: 'its fsync failed' });
    await waitFor(() => walSyncs.failed === 1, 30_000, 'the fsync failed');
    await waitFor(async () => (await alice.m.connectionState()).cause === 'disk_write_failed', 30_000, 'the cause shown');
    const state = await alice.m.connectionState();
    expect(state).toMatchObject({ phase: 'offline', cause: 'disk_write_failed', tempKeyExpiresAt: null, outboxSize: 1 });
    // Pushed to the renderer too, and never replaced by a network cause while the client stops.
    await waitFor(() => seen.some((s) => s.cause === 'disk_write_failed'), 30_000, 'the event');
    const after = seen.slice(seen.findIndex((s) => s.cause === 'disk_write_failed'));
    expect(after.every((s) => s.phase === 'offline' && s.cause === 'disk_write_failed')).toBe(true);

    // A call that needs the relay's answer (a new contact's prekey bundle) gets the disk error,
    // not RELAY_UNREACHABLE after the relay timeout; so does sync, instead of { done: false }.
    await expect(alice.m.contactAdd({ handle: 'carol' })).rejects.toMatchObject({ code: 'DISK_WRITE_FAILED', message: expect.stringMatching(/could not write to disk/) });
    await expect(alice.m.sync({ timeoutMs: 60_000 })).rejects.toMatchObject({ code: 'DISK_WRITE_FAILED' });
    expect((await alice.m.connectionState()).cause).toBe('disk_write_failed');

    await alice.m.lock();
    expect(await alice.m.connectionState()).toMatchObject({ phase: 'offline', cause: 'locked' });
    await alice.m.unlock({ password: PASSWORD });
    await waitFor(async () => (await alice.m.connectionState()).phase === 'ready', 60_000, 'ready after the unlock');
    await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'the text sent after the unlock');
    expect((await alice.m.connectionState()).cause).toBeNull();
    off();
  });
});
