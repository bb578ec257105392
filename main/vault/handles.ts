// Read-only and writable handles on the open vault (as Signal Desktop's ReadableDB /
// WritableDB). Each table module prepares its statements in two groups, the ones that only read
// and the ones that write; a ReadableDB carries only the first, so code holding one cannot write
// (the type has nothing to write with). A WritableDB is made only by the gate (gate.ts), which
// hands one out to a write when no long transaction is open, and to the long transaction's own
// steps: "no writes while a long transaction is open" follows from who can get one.
import type { VaultKeys } from './keys.ts';

declare const writableBrand: unique symbol;

/** What a read gets: the keys and the statements that only read. */
export interface ReadableDB<R> {
  readonly keys: VaultKeys;
  readonly read: R;
}

/** What a write gets: also the statements that write, and nested transactions (savepoints). */
export interface WritableDB<R, W> extends ReadableDB<R> {
  /** Unforgeable outside a cast: only the gate makes one. */
  readonly [writableBrand]: true;
  readonly write: W;
  /** Runs fn in one SQLite transaction (a savepoint inside another). */
  transaction<T>(fn: () => T): T;
}

/** A table module's prepared statements, split by what they may do. */
export interface Prepared<R, W> {
  readonly read: R;
  readonly write: W;
}
