// The messages the index stored last, as stored (conversation, sent time, indexed text): the
// vault's change feed carries a message again after every state change (queued -> sent ->
// delivered -> read), and re-indexing the same text (a doc removed, tokenized and inserted again,
// mirrored to the worker) was two of the three upserts per sent text. An upsert equal to what the
// index holds for that id is skipped (index-db.ts). Exact because every write of a doc passes
// here: an entry is added only once the transaction that inserted its doc committed, and dropped
// when its doc is removed (deleted, or replaced by a different version), before that transaction
// ends; a changed text or file name (extraText) differs from the entry, so it is indexed.

/** Entries kept (the oldest go first): a feed re-delivers a message soon after it was indexed. */
export const RECENTLY_INDEXED_MAX = 1024;
/** Longer indexed texts are not kept (the memory bound: at most MAX x this characters). */
export const RECENTLY_INDEXED_CHARS = 1024;

export interface IndexedFields {
  id: string;
  conversationId: string;
  sentAt: number;
  text: string;
}

type Entry = Omit<IndexedFields, 'id'>;


export class RecentlyIndexed {
  readonly #committed = new Map<string, Entry>();
  readonly #pending = new Map<string, Entry>();

  /** True when the index holds exactly `m` under its id (committed). */
  holds(m: IndexedFields): boolean {
    const e = this.#committed.get(m.id);
    return e !== undefined && e.sentAt === m.sentAt && e.conversationId === m.conversationId && e.text === m.text;
  }

  /** `m` was inserted by the transaction under way: kept once it commits. */
  inserted(m: IndexedFields): void {
    if (m.text.length <= RECENTLY_INDEXED_CHARS) this.#pending.set(m.id, { conversationId: m.conversationId, sentAt: m.sentAt, text: m.text });
  }

  /** Its doc is being removed (deleted or replaced): not held any more, whatever the transaction does. */
  removed(id: string): void {
    this.#committed.delete(id);
    this.#pending.delete(id);
  }

  /** The transaction committed: what it inserted is held. */
  commit(): void {
    for (const [id, e] of this.#pending) {
      this.#committed.delete(id); // re-inserted last: the oldest is the first to go
      if (this.#committed.size >= RECENTLY_INDEXED_MAX) {
        const oldest = this.#committed.keys().next();
        if (!oldest.done) this.#committed.delete(oldest.value);
      }
      this.#committed.set(id, e);
    }
    this.#pending.clear();
  }

  /** The transaction rolled back (or part of it failed): nothing it inserted is held. */
  rollback(): void {
    this.#pending.clear();
  }
}
