// Doc ids (main/search/doc-ids.ts): the allocator answers slots above the ceiling it first read
// from memory, and when it forgets the slots it remembered (at its bound) it asks the parts again
// for every slot at or below the new line: no doc is handed out twice, each is its slot's next.
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DocAllocator } from '../../main/search/doc-ids.ts';
import { Part, SCHEMA } from '../../main/search/index-part.ts';

const SLOT = 4096n;

/** Two parts and an allocator remembering at most 4 slots; `add` checks each doc and stores it in a part. */
function scene(): { add: (sentAt: number) => void; docs: Set<bigint>; close: () => void } {
  const parts = [0, 1].map(() => {
    const db = new Database(':memory:');
    db.exec(SCHEMA);
    return new Part(db);
  });
  const alloc = new DocAllocator(parts, 4);
  const docs = new Set<bigint>();
  /** The first doc at or after sentAt's slot start that no part holds, spilling into the next slot when full. */
  const expected = (sentAt: number): bigint => {
    for (let base = BigInt(sentAt) * SLOT; ; base += SLOT) {
      let top = base - 1n;
      for (const d of docs) if (d >= base && d < base + SLOT && d > top) top = d;
      if (top + 1n < base + SLOT) return top + 1n;
    }
  };
  return {
    docs,
    add(sentAt) {
      const want = expected(sentAt);
      const doc = alloc.allocate(sentAt);
      expect(doc).toBe(want);
      (parts[docs.size % 2] as Part).stmts.insertDoc.run(doc, `m${docs.size}`);
      docs.add(doc);
    },
    close: () => parts.forEach((p) => p.db.close()),
  };
}

describe('DocAllocator', () => {
  it('hands each slot its next doc, also back in slots it forgot (more slots than it remembers)', () => {
    const s = scene();
    // Far apart and in no order: past the bound of 4 twice, then back into forgotten slots.
    for (const t of [1000, 2000, 3000, 4000, 5000, 2000, 6000, 1000, 7000, 8000, 5000, 9000, 3000, 3000, 10_000, 1000, 5000, 9000]) s.add(t);
    expect(s.docs.size).toBe(18);
    s.close();
  });

  it('spills into the next millisecond when a remembered slot is full', () => {
    const s = scene();
    for (let i = 0; i < 4097; i++) s.add(500);
    s.add(501); // the spilled doc took 501's first; this one is its second
    expect(s.docs.size).toBe(4098);
    s.close();
  });
});
