// Each conversation's highest ordering key, kept in memory by appendMessages so that an append
// does not ask SQLite for it again (a received text is an append of its own: one MAX query each).
// The database stays the truth: a key is trusted only while the gate's write epoch (gate.ts
// writeEpoch) is the one it was read or written in. The epoch moves on anything that may have
// undone a write (a rolled-back transaction, savepoint or batched step, a failed batch commit, a
// long transaction rolled back, a lock), so a key an undone append wrote is never used, and the
// next append reads the conversation's key again. One set per opened database (statements.ts):
// a lock lets it go with the connection.

/** Conversations kept at most (the oldest set goes first): a bound, not a working-set size. */
export const ORDER_KEYS_MAX = 4096;

export class OrderKeys {
  #epoch = -1;
  readonly #last = new Map<string, number>();

  /** The highest key of `conversationId` as known in `epoch`, if known. */
  last(conversationId: string, epoch: number): number | undefined {
    if (epoch !== this.#epoch) return undefined;
    return this.#last.get(conversationId);
  }

  /** Records `last` as the highest key of `conversationId`, true as of `epoch`. */
  set(conversationId: string, last: number, epoch: number): void {
    if (epoch !== this.#epoch) {
      this.#last.clear();
      this.#epoch = epoch;
    }
    this.#last.delete(conversationId); // re-inserted last: the oldest set is the first evicted
    if (this.#last.size >= ORDER_KEYS_MAX) {
      const oldest = this.#last.keys().next();
      if (!oldest.done) this.#last.delete(oldest.value);
    }
    this.#last.set(conversationId, last);
  }

  /** How many conversations are kept (tests). */
  get size(): number {
    return this.#last.size;
  }
}
