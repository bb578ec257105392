// A failed disk write before the profile is registered (no relay connection to say so): the
// offline state names the disk (cause 'disk_write_failed', pushed to the renderer at once), not
// 'not_registered', until the lock; the next unlock starts clean. The failure is the vault's own:
// a relaxed commit whose -wal fsync fails (injected at node:fs/promises, as in
// connection-disk-failed); the vault is the messenger's, observed when it is created.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { walSyncs } from './wal-sync-faults.ts';
import type { ConnectionState } from '../../shared/api.ts';
import { openMessenger } from '../../main/messenger.ts';
import { DurabilityLost } from '../../main/vault/errors.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { PASSWORD, waitFor } from './helpers.ts';

vi.mock('node:fs/promises', async (importOriginal) => (await import('./wal-sync-faults.ts')).withWalSyncFaults(await importOriginal()));

const root = mkdtempSync(join(tmpdir(), 'ephemera-disk-unregistered-'));
afterAll(() => {
  vi.restoreAllMocks();
  walSyncs.failNext = false;
  rmSync(root, { recursive: true, force: true });
});

describe('a failed disk write before registration', () => {
  it('is the offline cause (not not_registered), pushed at once, and gone after lock and unlock', async () => {
    // Observed, not replaced: the vault the messenger creates.
    let vault: Vault | undefined;
    const create = Vault.create.bind(Vault);
    vi.spyOn(Vault, 'create').mockImplementation(async (...args) => {
      const made = await create(...args);
      vault = made.vault;
      return made;
    });
    const m = await openMessenger({ profileDir: join(root, 'alice'), kdf: TEST_KDF });
    try {
      await m.createVault({ password: PASSWORD });
      expect(await m.connectionState()).toMatchObject({ phase: 'offline', cause: 'not_registered' });
      const seen: ConnectionState[] = [];
      const off = m.subscribe((e) => {
        if (e.name === 'connection') seen.push(e.payload);
      });

      const v = vault as Vault;
      v.relaxedTransaction(() => v.kvSet('t', 'k', new Uint8Array([1])));
      walSyncs.failNext = true;
      await expect(v.syncCommittedAsync()).rejects.toBeInstanceOf(DurabilityLost);
      expect(walSyncs.failed).toBe(1);
      expect(await m.connectionState()).toMatchObject({ phase: 'offline', cause: 'disk_write_failed' });
      await waitFor(() => seen.some((s) => s.cause === 'disk_write_failed'), 30_000, 'the event');

      await m.lock();
      expect(await m.connectionState()).toMatchObject({ phase: 'offline', cause: 'locked' });
      await m.unlock({ password: PASSWORD });
      expect(await m.connectionState()).toMatchObject({ phase: 'offline', cause: 'not_registered' });
      off();
    } finally {
      await m.close();
    }
  });
});
