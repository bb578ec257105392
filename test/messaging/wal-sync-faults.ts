// The vault's -wal fsyncs through node:fs/promises (WriteGate.syncCommittedAsync), made to fail
// or wait on demand: no disk here gives EIO when asked, so tests inject it at the file's sync, not
// at a Vault method (a failure is then the vault's own: its sticky durability-lost state).
// A test file installs it before anything imports node:fs/promises:
//   vi.mock('node:fs/promises', async (importOriginal) => (await import('./wal-sync-faults.ts')).withWalSyncFaults(await importOriginal()));
// and imports `walSyncs` from here (the same module instance as the mock's).
import type * as FsPromises from 'node:fs/promises';

interface Waiter {
  go: () => void;
  fail: (e: Error) => void;
}

export const walSyncs = {
  /** -wal fsyncs asked for so far. */
  calls: 0,
  /** Set: the next one fails with EIO (then it is cleared). */
  failNext: false,
  /** How many failed through failNext. */
  failed: 0,
  /** Set: each one waits until letWalSyncsGo. */
  held: false,
  waiters: [] as Waiter[],
};

export const eio = (): Error => Object.assign(new Error('EIO: i/o error, fsync (test)'), { code: 'EIO' });

/** node:fs/promises with every -wal FileHandle's sync going through `walSyncs`. */
export function withWalSyncFaults(actual: typeof FsPromises): typeof FsPromises & { default: typeof FsPromises } {
  const open: typeof actual.open = async (...args) => {
    const file = await actual.open(...args);
    if (typeof args[0] !== 'string' || !args[0].endsWith('vault.db-wal')) return file; // the vault's (main/vault/open.ts), not an in-process relay's
    const sync = file.sync.bind(file);
    file.sync = async () => {
      walSyncs.calls++;
      if (walSyncs.failNext) {
        walSyncs.failNext = false;
        walSyncs.failed++;
        throw eio();
      }
      if (walSyncs.held) await new Promise<void>((go, fail) => walSyncs.waiters.push({ go, fail }));
      return sync();
    };
    return file;
  };
  return { ...actual, open, default: { ...actual, open } };
}

/** Stops holding and settles every held fsync with `how` (go, or fail). */
export function letWalSyncsGo(how: (w: Waiter) => void): void {
  walSyncs.held = false;
  for (const w of walSyncs.waiters.splice(0)) how(w);
}
