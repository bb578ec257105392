// The search index's document ids (FTS rowids) and how message ids are stored beside them.
// doc = sentAt * 4096 + n: "newest first" is FTS5's native descending rowid walk with an early
// LIMIT, and a date filter is a rowid range, so neither visits every match. Doc ids are unique
// over all the index's parts (index-db.ts), so newest-first order across them is total.
import { SnapshotInvalid } from './index-image.ts';
import type { Part } from './index-part.ts';

const SLOT_BITS = 4096; // docs per millisecond before spilling into the next millisecond
const MAX_TIME = 2 ** 50; // ms; keeps doc ids below 2^62
/** Above every doc id (MAX_TIME's slots end below it). */
const MAX_DOC = 2n ** 63n - 1n;

function clampTime(ms: number): number {
  if (!Number.isFinite(ms)) return 0;
  return Math.min(MAX_TIME, Math.max(0, Math.floor(ms)));
}

/** The doc range [lo, hi) of messages sent within the inclusive bounds (ms since the epoch). */
export function docRange(from: number | undefined, to: number | undefined): { lo: bigint; hi: bigint } {
  return {
    lo: from === undefined ? 0n : BigInt(clampTime(from)) * BigInt(SLOT_BITS),
    hi: to === undefined ? 2n ** 62n : (BigInt(clampTime(to)) + 1n) * BigInt(SLOT_BITS),
  };
}

// 32+ hex-char ids (the vault's default) are stored as blobs, half the size; others as text.
// SQLite never equates a blob with a text value, so the two forms cannot collide.
export function encodeId(id: string): string | Buffer {
  return id.length >= 16 && id.length % 2 === 0 && /^[0-9a-f]+$/.test(id) ? Buffer.from(id, 'hex') : id;
}

export function decodeId(stored: unknown): string {
  if (typeof stored === 'string') return stored;
  if (Buffer.isBuffer(stored)) return stored.toString('hex');
  throw new SnapshotInvalid('a document id has an unexpected type');
}

/**
 * Millisecond slots remembered (DocAllocator #slots) before they are forgotten at once: a
 * catch-up or an import allocates one or two per message, so this bounds the map to a few MB.
 */
const MAX_SLOTS = 65_536;

/** Hands out doc ids unique over every part. */
export class DocAllocator {
  readonly #parts: readonly Part[];
  /**
   * No doc above this exists in any part (read from the parts on first use, raised with each doc
   * allocated). Only ever too high (a rolled-back or removed doc), never too low: a message whose
   * millisecond slot starts above it takes the slot's first doc without asking every part.
   */
  #ceiling: bigint | undefined;
  /** The ceiling when #slots was last emptied: every doc in a slot starting above it is one this allocator handed out since. */
  #floor = -1n;
  /**
   * Of the slots starting above #floor, the highest doc handed out in each (only ever too high,
   * as #ceiling). A catch-up's texts from many contacts come in no order of sentAt, so most start
   * below the ceiling: without this each asked every part (16 queries, ~14 µs per text).
   */
  readonly #slots = new Map<bigint, bigint>();

  readonly #maxSlots: number;

  /** `maxSlots`: slots remembered before they are all forgotten (MAX_SLOTS; smaller in tests). */
  constructor(parts: readonly Part[], maxSlots: number = MAX_SLOTS) {
    this.#parts = parts;
    this.#maxSlots = maxSlots;
  }

  allocate(sentAt: number): bigint {
    const base = BigInt(clampTime(sentAt)) * BigInt(SLOT_BITS);
    if (this.#ceiling === undefined) {
      this.#ceiling = this.#parts.reduce((max, p) => {
        const m = p.stmts.maxDocIn.get(0n, MAX_DOC)?.m ?? null;
        return m !== null && m > max ? m : max;
      }, -1n);
      this.#floor = this.#ceiling;
    }
    const doc = base > this.#floor ? this.#fromSlots(base) : this.#scan(base);
    if (doc > this.#ceiling) this.#ceiling = doc;
    const slot = doc - (doc % BigInt(SLOT_BITS));
    if (slot > this.#floor) {
      if (this.#slots.size >= this.#maxSlots) {
        // Forget them all: no doc is above the ceiling, so the slots above it are empty.
        this.#slots.clear();
        this.#floor = this.#ceiling;
      } else this.#slots.set(slot, doc);
    }
    return doc;
  }

  /** The first free doc at or after `start` (a slot above #floor), from #slots alone. */
  #fromSlots(start: bigint): bigint {
    for (let base = start; ; base += BigInt(SLOT_BITS)) {
      const last = this.#slots.get(base);
      const doc = last === undefined ? base : last + 1n;
      if (doc < base + BigInt(SLOT_BITS)) return doc;
    }
  }

  /** The first free doc at or after `start` within its millisecond slot (spilling over when full), asking every part. */
  #scan(start: bigint): bigint {
    let base = start;
    for (;;) {
      const top = base + BigInt(SLOT_BITS);
      let m: bigint | null = null;
      for (const p of this.#parts) {
        const pm = p.stmts.maxDocIn.get(base, top)?.m ?? null;
        if (pm !== null && (m === null || pm > m)) m = pm;
      }
      if (m === null) return base;
      if (m + 1n < top) return m + 1n;
      base = top; // 4096 messages in one millisecond: spill into the next one
    }
  }
}
