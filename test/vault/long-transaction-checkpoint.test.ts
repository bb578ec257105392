// A long transaction (backup import) leaves the WAL far past WAL_LIMIT_BYTES at its one COMMIT.
// The checkpoint after it runs in a later turn (the -wal fsynced on the pool first, then a
// TRUNCATE), not in the COMMIT's turn, where the two together held the loop 2.6-3.4 s at 1M; a
// write in the turns between does not run it at once either. Real vault on disk; only the -wal's
// fsync on the pool is held (test/messaging/wal-sync-faults.ts), to keep the checkpoint waiting.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { letWalSyncsGo, walSyncs } from '../messaging/wal-sync-faults.ts';
import { WAL_LIMIT_BYTES } from '../../main/vault/checkpoints.ts';
import { msg, testVaults } from './helpers.ts';

vi.mock('node:fs/promises', async (importOriginal) => (await import('../messaging/wal-sync-faults.ts')).withWalSyncFaults(await importOriginal()));

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
/** About 0.8 MB of sealed text per step (8,000 characters a message). */
const STEP = Array.from({ length: 100 }, (_, i) => `${i} ${'x'.repeat(8000)}`);

describe("a long transaction's checkpoint", () => {
  const vaults = testVaults();
  afterEach(async () => {
    letWalSyncsGo((w) => w.go());
    await vaults.cleanup();
  });

  it('runs in a later turn than its COMMIT, truncates the WAL, and a write meanwhile does not run it', async () => {
    const { vault, dir } = await vaults.fresh();
    const wal = join(dir, 'vault.db-wal');
    const walSize = (): number => (existsSync(wal) ? statSync(wal).size : 0);
    const dbSize = (): number => statSync(join(dir, 'vault.db')).size;
    let steps = 0;
    await vault.longTransaction(async (write) => {
      // Frames SQLite spills from its page cache before the COMMIT: past the limit, where the
      // commit used to checkpoint at once.
      while (walSize() < WAL_LIMIT_BYTES) {
        write(() => vault.appendMessages(STEP.map((t) => msg('c1', t))));
        steps++;
        expect(steps).toBeLessThan(200);
        await turn();
      }
      walSyncs.held = true; // the checkpoint's fsync on the pool waits
    });
    const walAtCommit = walSize();
    const dbAtCommit = dbSize();
    expect(walAtCommit).toBeGreaterThanOrEqual(WAL_LIMIT_BYTES); // not checkpointed in the COMMIT's turn
    await vi.waitFor(() => expect(walSyncs.waiters.length).toBe(1), { timeout: 30_000 }); // it is on its way
    // A write in the turns between does not pay for the import's copy either.
    vault.appendMessages([msg('c2', 'right after the import')]);
    expect(walSize()).toBeGreaterThanOrEqual(walAtCommit);
    expect(dbSize()).toBe(dbAtCommit);
    letWalSyncsGo((w) => w.go());
    await vi.waitFor(() => expect(walSize()).toBe(0), { timeout: 30_000 }); // TRUNCATE, not RESTART
    expect(dbSize()).toBeGreaterThan(dbAtCommit);
    expect(vault.countMessages()).toBe(steps * STEP.length + 1);
    vault.lock();
    const again = await vaults.reopen(dir);
    expect(again.countMessages()).toBe(steps * STEP.length + 1);
  }, 120_000);
});
