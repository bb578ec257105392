// The relay's -wal fsyncs (RelayStore.syncCommitted, through node:fs/promises) and its blob files'
// (relay/blobs.ts, a put's chunk and a first put's directory entry) made to fail or wait on demand, for those only: the vault's injector (test/messaging/wal-sync-faults.ts) is for
// vault.db-wal, and a test with an in-process relay must be able to fail one without the other.
// A test file installs it before anything imports node:fs/promises:
//   vi.mock('node:fs/promises', async (importOriginal) => (await import('./relay-wal-faults.ts')).withRelayWalFaults(await importOriginal()));
// and imports `relayWalSyncs` from here (the same module instance as the mock's).
import type * as FsPromises from 'node:fs/promises';

export const relayWalSyncs = {
  /** relay.db-wal and blob fsyncs asked for so far, and their paths. */
  calls: 0,
  paths: [] as string[],
  /** Set: the next one fails with EIO (then it is cleared). */
  failNext: false,
  failed: 0,
  /** Set: each one waits until letRelayWalSyncsGo. */
  held: false,
  waiters: [] as (() => void)[],
};

/** node:fs/promises with the sync of every FileHandle opened on a relay.db-wal or a blob file or directory going through `relayWalSyncs`. */
export function withRelayWalFaults(actual: typeof FsPromises): typeof FsPromises & { default: typeof FsPromises } {
  const open: typeof actual.open = async (...args) => {
    const file = await actual.open(...args);
    const path = args[0];
    if (typeof path !== 'string' || !(path.endsWith('relay.db-wal') || /[/\\]blobs([/\\][0-9a-f]{32})?$/.test(path))) return file;
    const sync = file.sync.bind(file);
    file.sync = async () => {
      relayWalSyncs.calls++;
      relayWalSyncs.paths.push(path);
      if (relayWalSyncs.failNext) {
        relayWalSyncs.failNext = false;
        relayWalSyncs.failed++;
        throw Object.assign(new Error('EIO: i/o error, fsync (test)'), { code: 'EIO' });
      }
      if (relayWalSyncs.held) await new Promise<void>((go) => relayWalSyncs.waiters.push(go));
      return sync();
    };
    return file;
  };
  return { ...actual, open, default: { ...actual, open } };
}

/** Stops holding and lets every held fsync go on. */
export function letRelayWalSyncsGo(): void {
  relayWalSyncs.held = false;
  for (const go of relayWalSyncs.waiters.splice(0)) go();
}
