// A SQLite database's -wal file, kept open for the fsyncs that run on libuv's thread pool: the
// vault's (acks, sends, the checkpoint's first sync; main/vault/durability.ts) and the relay's (a
// group commit's answers wait for it; relay/store.ts). Why open once (per unlock, per relay run): each pool trip's completion waits for a
// turn of the event loop, which during a catch-up comes only between the mailbox's 15 ms slices,
// so open + sync + close per fsync made an ack wait three slices; with the handle kept, one.
// Opened with node:fs/promises `open` (tests inject fsync failures through its FileHandle's sync).
// Linux reports a writeback error to every open file description that was open when it happened,
// so a long-lived handle hears it as a fresh one would.
import { fstatSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

interface OpenWal {
  handle: FileHandle;
  /** Identity of the file the handle holds: a -wal replaced since (deleted, made anew) is reopened. */
  dev: bigint;
  ino: bigint;
}

export class WalFile {
  readonly #path: string;
  #wal: OpenWal | undefined;
  #opening: Promise<OpenWal> | undefined;
  /** Handles of a replaced -wal, closed once no sync uses them. */
  #retired: FileHandle[] = [];
  /** Syncs running: no handle is closed under them. */
  #users = 0;
  #closed = false;
  readonly #closedError: () => Error;

  /**
   * `databasePath`: the database file's path (better-sqlite3's `db.name`); the WAL is beside it.
   * `closedError`: what a sync after close throws (the vault's VaultLocked).
   */
  constructor(databasePath: string, closedError: () => Error) {
    this.#path = `${databasePath}-wal`;
    this.#closedError = closedError;
  }

  /**
   * fsyncs the -wal on the thread pool: one trip while the handle is open. False when there is
   * no -wal (everything was checkpointed into vault.db, which the checkpoint synced). Throws the
   * open's or fsync's error (the caller's durability is then lost), `closedError()` after close.
   */
  async sync(): Promise<boolean> {
    if (this.#closed) throw this.#closedError();
    // A stat of the path on the main thread costs microseconds; it tells whether the open handle
    // still holds the file SQLite writes.
    const now = statSync(this.#path, { bigint: true, throwIfNoEntry: false });
    if (now === undefined) return false;
    this.#users++;
    try {
      let wal = this.#wal;
      if (wal === undefined || wal.dev !== now.dev || wal.ino !== now.ino) wal = await (this.#opening ??= this.#open());
      // Locked meanwhile: this sync still runs (as one begun before the lock would); close waits for it.
      await wal.handle.sync();
      return true;
    } finally {
      this.#users--;
      this.#closeUnused();
    }
  }

  /** Opens the handle ahead of the first sync (at unlock or start), so that sync is one trip as well. */
  prepare(): void {
    if (this.#closed || this.#wal || this.#opening) return;
    if (statSync(this.#path, { throwIfNoEntry: false }) === undefined) return;
    this.#opening = this.#open();
    // A failure here is met again by the sync that opens it.
    this.#opening.catch(() => undefined);
  }

  /** Closes the handle (the lock, the relay's close), once the syncs running now are done. */
  close(): void {
    this.#closed = true;
    this.#closeUnused();
  }

  async #open(): Promise<OpenWal> {
    try {
      const handle = await open(this.#path, 'r');
      const { dev, ino } = fstatSync(handle.fd, { bigint: true });
      if (this.#wal) this.#retired.push(this.#wal.handle);
      const wal = { handle, dev, ino };
      this.#wal = wal;
      this.#closeUnused(); // closed while it opened, and no sync waits for it
      return wal;
    } finally {
      this.#opening = undefined;
    }
  }

  #closeUnused(): void {
    if (this.#users > 0) return;
    const unused = this.#retired.splice(0);
    if (this.#closed && this.#wal) unused.push(this.#wal.handle);
    if (this.#closed) this.#wal = undefined;
    for (const handle of unused) void handle.close().catch(() => undefined);
  }
}
