// A write transaction of the index in parts (index-db.ts #writes) begins and commits only in the
// parts it writes to: with every part begun for every write, each part added made every index
// write dearer (issue #18, ~45 % more index-write CPU from 1 to 8 parts). Counted on SQLite's own
// statements (the BEGINs and COMMITs better-sqlite3 executes, per database), not timed.
import { afterEach, describe, expect, it, vi } from 'vitest';
import Database from 'better-sqlite3';
import { INDEX_PARTS, SearchIndex, type IndexQuery } from '../../main/search/index-db.ts';
import { partOf } from '../../main/search/index-image.ts';
import { IndexMirror } from '../../main/search/mirror.ts';
import { parseQuery, toFtsMatch } from '../../main/search/query.ts';
import { hexId } from './corpus.ts';

/** The BEGIN/COMMIT/ROLLBACK statements run while `fn` runs, per database. */
function transactionStatements(fn: () => void): Map<Database.Database, string[]> {
  const seen = new Map<Database.Database, string[]>();
  const exec = Database.prototype.exec;
  const spy = vi.spyOn(Database.prototype, 'exec').mockImplementation(function (this: Database.Database, sql: string) {
    if (/^(BEGIN|COMMIT|ROLLBACK)$/.test(sql)) seen.set(this, [...(seen.get(this) ?? []), sql]);
    return exec.call(this, sql);
  });
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return seen;
}

function q(text: string, extra: Partial<IndexQuery> = {}): IndexQuery {
  const match = toFtsMatch(parseQuery(text));
  if (!match) throw new Error('empty query');
  return { match, order: 'newest', limit: 50, ...extra };
}

const hits = (index: SearchIndex, query: IndexQuery): string[] => index.search(query).map((h) => h.id);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('SearchIndex write transactions', () => {
  it('a one-message write begins and commits in its own part only (and part 0 when it sets the seq)', () => {
    const index = SearchIndex.create();
    index.upsert(Array.from({ length: 200 }, (_, i) => ({ id: hexId(i + 1), conversationId: 'c', sentAt: 1000 + i, text: `hello number${i}` })));
    // A message whose part is not part 0, in a conversation already known.
    let n = 1000;
    while (partOf(Buffer.from(hexId(n), 'hex'), INDEX_PARTS) === 0) n++;
    const id = hexId(n);
    const one = transactionStatements(() => index.upsert([{ id, conversationId: 'c', sentAt: 5000, text: 'lonely message' }]));
    expect([...one.values()]).toEqual([['BEGIN', 'COMMIT']]);

    // The vault's feed: a batch with its seq writes the message's part and part 0's meta.
    const withSeq = transactionStatements(() => index.apply([{ id: hexId(n + 1), conversationId: 'c', sentAt: 5001, text: 'another one' }], [], 9));
    expect(withSeq.size).toBeLessThanOrEqual(2);
    for (const statements of withSeq.values()) expect(statements).toEqual(['BEGIN', 'COMMIT']);

    expect(hits(index, q('lonely '))).toEqual([id]);
    expect(index.seq).toBe(9);
    index.close();
  });

  it('a write that throws rolls back every part it began in, and nothing of it stays', () => {
    const index = SearchIndex.create();
    const good = Array.from({ length: 40 }, (_, i) => ({ id: hexId(i + 1), conversationId: `c${i % 3}`, sentAt: 1000 + i, text: `rolled word${i}` }));
    // The last message's text is not a string: indexing it throws after the others were written.
    const bad = { id: hexId(99), conversationId: 'new-conv', sentAt: 2000, text: 7 as unknown as string };
    const statements = transactionStatements(() => expect(() => index.upsert([...good, bad])).toThrow());
    expect(statements.size).toBeGreaterThan(1);
    for (const s of statements.values()) expect(s).toEqual(['BEGIN', 'ROLLBACK']);
    expect(index.size).toBe(0);
    expect(hits(index, q('rolled '))).toEqual([]);
    expect(index.expandPrefix('word', 100)).toEqual([]);
    // The index goes on: a later write commits, and the conversation made in the rolled-back one is not assumed.
    index.upsert([{ id: hexId(1), conversationId: 'new-conv', sentAt: 3000, text: 'after the rollback' }]);
    expect(hits(index, q('rollback ', { conversationId: 'new-conv' }))).toEqual([hexId(1)]);
    index.close();
  });

  it('the mirror repeats writes that touch a few parts and its image answers as the index does', async () => {
    const index = SearchIndex.create();
    const mirror = IndexMirror.start(index.serialize());
    index.setMirror((batch) => mirror.apply(batch));
    for (let i = 0; i < 30; i++) index.apply([{ id: hexId(i + 1), conversationId: `c${i % 2}`, sentAt: 1000 + i, text: `mirrored item${i}` }], [], i + 1);
    index.apply([], [hexId(3)], 31);
    const image = await mirror.snapshot();
    mirror.close();
    const copy = SearchIndex.restore(image);
    image.fill(0);
    expect(copy.size).toBe(29);
    expect(copy.seq).toBe(31);
    expect(hits(copy, q('mirrored ', { conversationId: 'c1' }))).toEqual(hits(index, q('mirrored ', { conversationId: 'c1' })));
    expect(hits(copy, q('item2 '))).toEqual([]);
    expect(hits(index, q('item2 '))).toEqual([]);
    copy.close();
    index.close();
  });
});
