// The index format changed from 8 parts (format 5) to 16 (format 6): a snapshot in the old layout,
// vouched for by the vault's record, is refused and the index rebuilt from the vault once, with
// every message found; the next unlock then restores the new snapshot.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INDEX_PARTS, SearchIndex, SnapshotInvalid } from '../../main/search/index-db.ts';
import { joinImages, partOf } from '../../main/search/index-image.ts';
import { SCHEMA } from '../../main/search/index-part.ts';
import { SearchService } from '../../main/search/service.ts';
import { writeImage } from '../../main/search/snapshot-write.ts';
import { TOKENIZER_VERSION, indexColumns } from '../../main/search/tokenize.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { CASES, corpus, hexId } from './corpus.ts';

const PASSWORD = 'correct horse battery staple 42';
const OLD_PARTS = 8;
const OLD_GENERATION = 'a5'.repeat(16);

/** An index image as format 5 made it: 8 parts, each message in the part its id hashed to among 8. */
function format5Image(messages: readonly { id: string; conversationId: string; sentAt: number; text: string }[], seq: number, generation: string): Buffer {
  const parts = Array.from({ length: OLD_PARTS }, (_, i) => {
    const db = new Database(':memory:');
    db.exec(SCHEMA);
    const meta = db.prepare('INSERT INTO meta(key, value) VALUES (?, ?)');
    meta.run('format', 5);
    meta.run('tokenizer', TOKENIZER_VERSION);
    meta.run('part', i);
    if (i === 0) {
      meta.run('seq', seq);
      meta.run('x:generation', generation);
    }
    return db;
  });
  const convs = [...new Set(messages.map((m) => m.conversationId))];
  convs.forEach((c, n) => (parts[0] as Database.Database).prepare('INSERT INTO convs(n, id) VALUES (?, ?)').run(n + 1, c));
  messages.forEach((m, k) => {
    const id = Buffer.from(m.id, 'hex');
    const db = parts[partOf(id, OLD_PARTS)] as Database.Database;
    const doc = BigInt(m.sentAt) * 4096n + BigInt(k);
    const cols = indexColumns(m.text);
    db.prepare('INSERT INTO docs(doc, id) VALUES (?, ?)').run(doc, id);
    db.prepare('INSERT INTO fts(rowid, body, uni, conv) VALUES (?, ?, ?, ?)').run(doc, cols.body, cols.uni, `c${(convs.indexOf(m.conversationId) + 1).toString(36)}`);
  });
  return joinImages(
    parts.map((db) => {
      const out = db.serialize();
      db.close();
      return out;
    }),
  );
}

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'ephemera-search-format-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('index format 6 (16 parts)', () => {
  it('refuses a format-5 image in 8 parts, and one whose 16 parts say format 5', () => {
    const messages = corpus().map((m) => ({ id: m.id, conversationId: m.conversationId, sentAt: m.sentAt, text: m.text }));
    const old = format5Image(messages, 3, 'g');
    expect(INDEX_PARTS).toBe(16);
    expect(() => SearchIndex.restore(old)).toThrow(new SnapshotInvalid('index part count differs'));
    // The right count of parts, still format 5 inside: refused when the part is opened.
    const fresh = SearchIndex.create();
    const image = fresh.serialize();
    fresh.close();
    const parts = Array.from({ length: INDEX_PARTS }, (_, i) => {
      const at = 12 + 4 * INDEX_PARTS + Array.from({ length: i }, (_, j) => image.readUInt32BE(12 + 4 * j)).reduce((a, b) => a + b, 0);
      const db = new Database(Buffer.from(image.subarray(at, at + image.readUInt32BE(12 + 4 * i))));
      db.exec("UPDATE meta SET value = 5 WHERE key = 'format'");
      const out = db.serialize();
      db.close();
      return out;
    });
    expect(() => SearchIndex.restore(joinImages(parts))).toThrow(new SnapshotInvalid('index format version differs'));
  });

  it('a vouched format-5 snapshot is rebuilt once at unlock, nothing lost; the next unlock restores', async () => {
    const profile = join(root, 'profile');
    const { vault } = await Vault.create(profile, PASSWORD, { kdf: TEST_KDF });
    vault.appendMessages(corpus());
    const first = await SearchService.open(vault);
    const seq = first.seq;
    first.close();
    // The profile as format 5 left it: its snapshot, made current in the vault's record.
    const messages = corpus().map((m) => ({ id: m.id, conversationId: m.conversationId, sentAt: m.sentAt, text: m.text }));
    writeImage(vault, { bytes: format5Image(messages, seq, OLD_GENERATION), generation: OLD_GENERATION, seq });
    vault.lock();

    const again = await Vault.unlock(profile, PASSWORD);
    const service = await SearchService.open(again);
    expect(service.openedFrom).toBe('rebuild');
    expect(service.rebuildReason).toEqual({ reason: 'snapshot-invalid', detail: 'The search index snapshot is unusable: index part count differs' });
    expect(service.size).toBe(15);
    for (const c of CASES) {
      const req = { text: c.text, limit: 100, ...(c.conversationId !== undefined ? { conversationId: c.conversationId } : {}), ...(c.from !== undefined ? { from: c.from } : {}), ...(c.to !== undefined ? { to: c.to } : {}) };
      expect(service.search(req).map((h) => h.id), c.name).toEqual(c.expect.map(hexId));
    }
    service.close();
    again.lock();

    const third = await Vault.unlock(profile, PASSWORD);
    const restored = await SearchService.open(third);
    expect(restored.openedFrom).toBe('snapshot');
    expect(restored.size).toBe(15);
    expect(restored.search({ text: 'zanzibarcafe', limit: 10 }).map((h) => h.id)).toEqual([hexId(2), hexId(1)]);
    restored.close();
    third.lock();
  });
});
