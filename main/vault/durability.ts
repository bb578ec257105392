// What of the vault is on disk, for one unlock: whether relaxed commits (synchronous = NORMAL,
// no fsync of their own) may still be only in the page cache, the -wal fsyncs that make them
// durable (on the main thread, or on libuv's pool through the -wal kept open), and the sticky
// "durability lost" state after a failed fsync or an SQLite I/O error. Split from gate.ts: the
// gate decides when transactions begin and end; this decides what may be called durable.
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { DurabilityLost, VaultLocked } from './errors.ts';
import { mapError } from './open.ts';
import { WalFile } from '../../shared/wal-file.ts';

export class Durability {
  /** A relaxed commit may not be durable yet (syncNow / syncOnPool). */
  #unsynced = false;
  /** Counts relaxed commits begun: syncOnPool clears #unsynced only when none began during its fsync. */
  #relaxedBegun = 0;
  /** The -wal kept open for the fsyncs on the thread pool, one per unlock (attach to detach). */
  #wal: WalFile | undefined;
  /** Set by the first failed WAL fsync or SQLite I/O error; never cleared (a new unlock makes a new gate). */
  #lost: DurabilityLost | undefined;
  #listeners = new Set<() => void>();

  /** The database opened (unlock): its -wal is opened ahead of the first sync. */
  attach(databasePath: string): void {
    this.#wal = new WalFile(databasePath, () => new VaultLocked());
    this.#wal.prepare();
  }

  /** The database closes (lock): the -wal handle closes once the syncs running now are done. */
  detach(): void {
    this.#wal?.close();
    this.#wal = undefined;
  }

  /** A relaxed commit begins: not durable until a sync that began after it. */
  relaxedBegins(): void {
    this.#unsynced = true;
    this.#relaxedBegun++;
  }

  /** See WriteGate.durabilityLost. */
  get lost(): boolean {
    return this.#lost !== undefined;
  }

  /** Calls `listener` once when durability is lost (at once if it already is); returns the unsubscribe. */
  onLost(listener: () => void): () => void {
    if (this.#lost) {
      listener();
      return () => undefined;
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Durability is lost from now until the lock; returns the error every later sync throws. */
  lose(cause: unknown): DurabilityLost {
    if (this.#lost) return this.#lost;
    const lost = new DurabilityLost({ cause });
    this.#lost = lost;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const listener of listeners) {
      try {
        listener();
      } catch {
        // one listener's failure must not keep the others from hearing it
      }
    }
    return lost;
  }

  /** An error from SQLite: an I/O error (SQLITE_IOERR*, also as a mapped error's cause) also loses durability. Mapped as before. */
  mapWriteError(err: unknown): unknown {
    if (isIoError(err) || isIoError((err as { cause?: unknown } | null)?.cause)) this.lose(err);
    return mapError(err);
  }

  /** Throws DurabilityLost once it is lost. */
  check(): void {
    if (this.#lost) throw this.#lost;
  }

  /**
   * fsyncs the -wal on the main thread if a relaxed commit is pending (WriteGate.syncCommitted):
   * in WAL mode a NORMAL commit is complete in the -wal file and only misses the fsync a FULL
   * commit does, so one fsync of that file (any descriptor flushes the file) makes every earlier
   * commit durable.
   */
  syncNow(databasePath: string): void {
    if (!this.#unsynced) return;
    let fd: number;
    try {
      fd = openSync(`${databasePath}-wal`, 'r');
    } catch (err) {
      // No -wal: everything was checkpointed into vault.db, which a checkpoint syncs.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw this.lose(err);
      this.#unsynced = false;
      return;
    }
    try {
      fsyncSync(fd);
    } catch (err) {
      throw this.lose(err);
    } finally {
      closeSync(fd);
    }
    this.#unsynced = false;
  }

  /** As syncNow, the fsync on libuv's thread pool (one trip: the -wal is kept open). */
  async syncOnPool(): Promise<void> {
    if (!this.#unsynced) return;
    const begun = this.#relaxedBegun;
    const wal = this.#wal;
    if (!wal) throw new VaultLocked();
    try {
      // No -wal: everything was checkpointed into vault.db, which a checkpoint syncs.
      if (!(await wal.sync())) return;
    } catch (err) {
      if (err instanceof VaultLocked) throw err;
      throw this.lose(err);
    }
    // Lost by another path while this fsync ran (a COMMIT's I/O error): not durable after all.
    this.check();
    if (this.#relaxedBegun === begun) this.#unsynced = false;
  }

  /**
   * The checkpoint's first fsync, on the pool (WalCheckpoints): false once locked. Its failure
   * is the relaxed commits' too, so it loses durability.
   */
  async syncBeforeCheckpoint(): Promise<boolean> {
    const wal = this.#wal;
    if (!wal) return false;
    try {
      await wal.sync();
      return true;
    } catch (err) {
      if (err instanceof VaultLocked) return false;
      throw this.lose(err);
    }
  }
}

/** SQLite's I/O errors (SQLITE_IOERR and its extended codes: a write, fsync or truncate failed). */
function isIoError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_IOERR');
}
