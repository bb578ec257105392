// The in-memory index alone: ordering by doc id, spill within a millisecond, replace, remove,
// restore validation.
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { INDEX_PARTS, SearchIndex, SnapshotInvalid, type IndexQuery } from '../../main/search/index-db.ts';
import { joinImages, splitImage } from '../../main/search/index-image.ts';
import { parseQuery, toFtsMatch } from '../../main/search/query.ts';

function q(text: string, extra: Partial<IndexQuery> = {}): IndexQuery {
  const match = toFtsMatch(parseQuery(text));
  if (!match) throw new Error('empty query');
  return { match, order: 'newest', limit: 100, ...extra };
}

const hits = (index: SearchIndex, query: IndexQuery): string[] => index.search(query).map((h) => h.id);

describe('SearchIndex', () => {
  it('orders newest first by sentAt, whatever the insertion order', () => {
    const index = SearchIndex.create();
    index.upsert([
      { id: 'b', conversationId: 'c', sentAt: 2000, text: 'apple' },
      { id: 'c', conversationId: 'c', sentAt: 3000, text: 'apple' },
      { id: 'a', conversationId: 'c', sentAt: 1000, text: 'apple' },
    ]);
    expect(hits(index, q('apple '))).toEqual(['c', 'b', 'a']);
    expect(hits(index, q('apple ', { limit: 2 }))).toEqual(['c', 'b']);
    index.close();
  });

  it('keeps more than 4096 messages of the same millisecond, in insertion order', () => {
    const index = SearchIndex.create();
    const batch = Array.from({ length: 4100 }, (_, i) => ({ id: `m${i}`, conversationId: 'c', sentAt: 5000, text: 'same' }));
    index.upsert(batch);
    expect(index.size).toBe(4100);
    const found = hits(index, q('same ', { limit: 5 }));
    expect(found).toEqual(['m4099', 'm4098', 'm4097', 'm4096', 'm4095']);
    // The spilled ones count as the next millisecond; those of 5000 stay in a 5000..5000 range.
    expect(index.search(q('same ', { from: 5000, to: 5000, limit: 1000 })).length).toBe(1000);
    index.close();
  });

  it('gives every message its own doc across parts, whatever order the times come in, also after a restore', () => {
    // Doc ids must be unique over all 8 parts (newest-first merges by doc): a message of an older
    // millisecond, or of one already used, must not reuse a doc another part holds.
    let index = SearchIndex.create();
    const add = (id: string, sentAt: number): void => index.upsert([{ id, conversationId: 'c', sentAt, text: 'word' }]);
    add('late-1', 9000);
    for (let i = 0; i < 20; i++) add(`early-${i}`, 5000);
    add('late-2', 9000);
    add('late-3', 9000);
    const restored = SearchIndex.restore(index.serialize());
    index.close();
    index = restored;
    add('late-4', 9000);
    add('early-20', 5000);
    add('later', 9001);
    const found = hits(index, q('word ', { limit: 100 }));
    expect(found).toHaveLength(26);
    expect(new Set(found).size).toBe(26);
    expect(found.slice(0, 5)).toEqual(['later', 'late-4', 'late-3', 'late-2', 'late-1']);
    expect(found.slice(5)).toEqual(Array.from({ length: 21 }, (_, i) => `early-${20 - i}`));
    index.close();
  });

  it('date bounds are inclusive', () => {
    const index = SearchIndex.create();
    index.upsert([1000, 2000, 3000].map((t) => ({ id: `t${t}`, conversationId: 'c', sentAt: t, text: 'tick' })));
    expect(hits(index, q('tick ', { from: 2000, to: 3000 }))).toEqual(['t3000', 't2000']);
    expect(hits(index, q('tick ', { to: 1999 }))).toEqual(['t1000']);
    expect(hits(index, q('tick ', { from: 3001 }))).toEqual([]);
    index.close();
  });

  it('upsert replaces the text of an id; remove forgets it; unknown ids are ignored', () => {
    const index = SearchIndex.create();
    index.upsert([{ id: 'x', conversationId: 'c', sentAt: 1, text: 'before' }]);
    index.upsert([{ id: 'x', conversationId: 'c', sentAt: 1, text: 'after' }]);
    expect(hits(index, q('before '))).toEqual([]);
    expect(hits(index, q('after '))).toEqual(['x']);
    index.remove(['x', 'never-there']);
    expect(hits(index, q('after '))).toEqual([]);
    expect(index.size).toBe(0);
    index.close();
  });

  it('apply deletes before upserts and records the seq', () => {
    const index = SearchIndex.create();
    index.apply([{ id: 'r', conversationId: 'c', sentAt: 1, text: 'again' }], ['r'], 7);
    expect(hits(index, q('again '))).toEqual(['r']);
    expect(index.seq).toBe(7);
    index.close();
  });

  it('a prefix expanded to its words finds the same messages as FTS5\'s own prefix query', () => {
    const index = SearchIndex.create();
    const words = ['plum', 'plumb', 'plumber', 'plumbing', 'plume', 'plus', 'apple', 'plumbago'];
    index.upsert(Array.from({ length: 300 }, (_, i) => ({ id: `p${i}`, conversationId: `c${i % 3}`, sentAt: 1000 + i, text: `${words[i % words.length]} ${words[(i * 7) % words.length]} x${i % 5}` })));
    index.remove(['p8', 'p16']); // leaves their words in the word list: harmless
    expect(index.expandPrefix('plumb', 64)).toEqual(['plumb', 'plumbago', 'plumber', 'plumbing']);
    expect(index.expandPrefix('plu', 3)).toBeUndefined(); // too many: fall back to FTS5's prefix query
    expect(index.expandPrefix('zzz', 64)).toEqual([]);
    for (const text of ['plumb', 'plu', 'x1 plumbi', 'apple plum', 'plumbago x']) {
      const parsed = parseQuery(text);
      const native = toFtsMatch(parsed) as string;
      const expanded = toFtsMatch(parsed, (p) => index.expandPrefix(p, 64)) as string;
      for (const order of ['newest', 'relevance'] as const) {
        for (const extra of [{}, { conversationId: 'c1' }, { from: 1100, to: 1200 }]) {
          const a = index.search({ match: native, order, limit: 1000, ...extra }).map((h) => h.id);
          const b = index.search({ match: expanded, order, limit: 1000, ...extra }).map((h) => h.id);
          expect(order === 'newest' ? b : [...b].sort(), `${text} ${order}`).toEqual(order === 'newest' ? a : [...a].sort());
        }
      }
    }
    index.close();
  });

  it('hex ids are stored compactly and come back identical; other ids as text', () => {
    const index = SearchIndex.create();
    const hex = '00ff'.repeat(8);
    index.upsert([
      { id: hex, conversationId: 'c', sentAt: 1, text: 'idtest' },
      { id: 'ABCDEF0123456789', conversationId: 'c', sentAt: 2, text: 'idtest' },
    ]);
    expect(hits(index, q('idtest '))).toEqual(['ABCDEF0123456789', hex]);
    expect(index.has(hex)).toBe(true);
    index.close();
  });

  it('round-trips through serialize/restore, and the restored index stays writable', () => {
    const index = SearchIndex.create();
    index.upsert([{ id: 'k', conversationId: 'conv', sentAt: 1, text: 'kept word' }]);
    index.seq = 42;
    index.setMeta('generation', 'g1');
    const bytes = index.serialize();
    index.close();
    const restored = SearchIndex.restore(bytes);
    expect(restored.seq).toBe(42);
    expect(restored.getMeta('generation')).toBe('g1');
    expect(hits(restored, q('kept ', { conversationId: 'conv' }))).toEqual(['k']);
    restored.upsert([{ id: 'n', conversationId: 'conv', sentAt: 2, text: 'kept too' }]);
    expect(hits(restored, q('kept '))).toEqual(['n', 'k']);
    restored.close();
  });

  it('restore refuses garbage, foreign SQLite images, other versions and misplaced parts', () => {
    expect(() => SearchIndex.restore(new Uint8Array(10))).toThrow(SnapshotInvalid);
    expect(() => SearchIndex.restore(Buffer.alloc(4096, 7))).toThrow(SnapshotInvalid);
    const header = Buffer.concat([Buffer.from('SQLite format 3\0', 'latin1'), Buffer.alloc(4000, 0xee)]);
    expect(() => SearchIndex.restore(header)).toThrow(SnapshotInvalid);
    const other = SearchIndex.create();
    const bytes = other.serialize();
    other.close();
    /** The image with part `at` changed by `sql`. */
    const patched = (at: number, sql: string): Buffer =>
      joinImages(
        splitImage(bytes, INDEX_PARTS).map((part, i) => {
          if (i !== at) return new Uint8Array(part);
          const db = new Database(Buffer.from(part));
          db.exec(sql);
          const out = db.serialize();
          db.close();
          return out;
        }),
      );
    for (const key of ['format', 'tokenizer']) {
      for (const at of [0, INDEX_PARTS - 1]) expect(() => SearchIndex.restore(patched(at, `UPDATE meta SET value = 999 WHERE key = '${key}'`)), `${key} in part ${at}`).toThrow(SnapshotInvalid);
    }
    // A snapshot made before 54aa470 (format 3) may still hold a deleted group file's name: it is
    // refused, so the index is rebuilt from the vault once (review s19 R4).
    expect(() => SearchIndex.restore(patched(0, "UPDATE meta SET value = 3 WHERE key = 'format'"))).toThrow(SnapshotInvalid);
    // A format-4 snapshot is one SQLite database, not parts: refused (rebuilt once).
    expect(() => SearchIndex.restore(Buffer.from(splitImage(bytes, INDEX_PARTS)[0] as Uint8Array))).toThrow(SnapshotInvalid);
    // Parts in another order, or another count of them.
    const parts = splitImage(bytes, INDEX_PARTS).map((p) => new Uint8Array(p));
    expect(() => SearchIndex.restore(joinImages([parts[1]!, parts[0]!, ...parts.slice(2).map((p) => new Uint8Array(p))]))).toThrow(SnapshotInvalid);
    expect(() => SearchIndex.restore(joinImages(splitImage(bytes, INDEX_PARTS).slice(1).map((p) => new Uint8Array(p))))).toThrow(SnapshotInvalid);
    expect(() => SearchIndex.restore(Buffer.concat([bytes, Buffer.alloc(1)]))).toThrow(SnapshotInvalid);
    expect(() => SearchIndex.restore(bytes.subarray(0, bytes.length - 1))).toThrow(SnapshotInvalid);
    expect(SearchIndex.restore(bytes).size).toBe(0);
    const foreign = new Database(':memory:');
    foreign.exec('CREATE TABLE t(x)');
    expect(() => SearchIndex.restore(foreign.serialize())).toThrow(SnapshotInvalid);
    expect(() => SearchIndex.restore(joinImages(Array.from({ length: INDEX_PARTS }, () => foreign.serialize())))).toThrow(SnapshotInvalid);
    foreign.close();
  });
});
