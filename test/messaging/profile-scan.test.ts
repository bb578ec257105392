// The deletion tests' scanner itself (profile-scan.ts): a deleted text sealed under one of ~30
// subkeys (with associated data the scan never knows), committed into a WAL frame of a real
// SQLite file at an odd byte offset, is found; before it is planted nothing is. The search
// snapshot is opened with a generation key found only inside a sealed kv value, also when its
// image does not start with the index magic (the scan's shortcut must not decide the result).
// The native stream gives noble's bytes.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { xchacha20 } from '@noble/ciphers/chacha.js';
import { afterEach, describe, expect, it } from 'vitest';
import { seal } from '../../main/vault/aead.ts';
import { SealedFileStore } from '../../main/vault/sealed-files.ts';
import { SNAPSHOT_FILE } from '../../main/search/service.ts';
import { joinImages } from '../../main/search/index-image.ts';
import { StreamOpener } from '../vault/xchacha-stream.ts';
import { decryptedScan, snapshotsOpened } from './profile-scan.ts';

const DELETED = 'wobblegrapnelfox';
const INDEXED = 'quarrelsomebeet';
const NEVER = 'absentwordnowhere';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** ~30 subkeys under 8 names, as the observer records them (hex). */
function keySet(): Map<string, Set<string>> {
  const keys = new Map<string, Set<string>>();
  for (let i = 0; i < 30; i++) {
    const name = ['messages', 'kv', 'outbox', 'sealed_files', 'contacts', 'conversations', 'search', 'secrets'][i % 8]!;
    keys.set(name, (keys.get(name) ?? new Set()).add(randomBytes(32).toString('hex')));
  }
  return keys;
}

/** The last key observed (the scan must try every one, so the plant uses the one tried last). */
const lastKey = (keys: Map<string, Set<string>>): Buffer => Buffer.from([...[...keys.values()].at(-1)!].at(-1)!, 'hex');

/**
 * A real SQLite file in WAL mode with filler rows checkpointed into vault.db, and an open writer
 * (so later commits stay in WAL frames, as in a profile whose vault has not checkpointed).
 */
function profile(): { dir: string; db: Database.Database } {
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-profile-scan-'));
  dirs.push(dir);
  const db = new Database(join(dir, 'vault.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE kv (ns TEXT, key TEXT, sealed BLOB); CREATE TABLE records (id INTEGER PRIMARY KEY, pad TEXT, sealed BLOB)');
  const ins = db.prepare('INSERT INTO records (pad, sealed) VALUES (?, ?)');
  for (let i = 0; i < 20; i++) ins.run('x', seal(randomBytes(32), Buffer.from(`ordinary filler ${i}`), Buffer.from('ad')));
  db.pragma('wal_checkpoint(TRUNCATE)');
  return { dir, db };
}

describe('profile-scan decryptedScan', () => {
  it('finds a sealed deleted text committed into a WAL frame at an odd offset, and nothing before it is planted', async () => {
    const keys = keySet();
    const blob = seal(lastKey(keys), Buffer.from(JSON.stringify({ text: `meet at the ${DELETED} at noon` })), Buffer.from('records|7'));
    // One more byte of padding moves the cell (and the blob in it) by one byte: the padding that puts it at an odd offset.
    for (let pad = 1; pad <= 2; pad++) {
      const { dir, db } = profile();
      try {
        expect(await decryptedScan(dir, [DELETED, NEVER], keys)).toEqual([]);
        db.prepare('INSERT INTO records (pad, sealed) VALUES (?, ?)').run('p'.repeat(pad), blob);
        const at = readFileSync(join(dir, 'vault.db-wal')).indexOf(blob);
        if (at % 2 === 0 && pad === 1) continue;
        expect(at % 2).toBe(1);
        expect(readFileSync(join(dir, 'vault.db')).includes(blob)).toBe(false);

        expect(await decryptedScan(dir, [DELETED, NEVER], keys)).toEqual([DELETED]);
        // Without its key the blob is noise: the find is the decryption's, not a plaintext leak.
        const others = new Map([...keys].map(([n, s]) => [n, new Set([...s].filter((h) => h !== lastKey(keys).toString('hex')))]));
        expect(await decryptedScan(dir, [DELETED], others)).toEqual([]);
        return;
      } finally {
        db.close();
      }
    }
  });

  it('opens the search snapshot with a generation key found in a sealed kv value, with or without the image magic', async () => {
    for (const image of [joinImages([indexPart(INDEXED)]), Buffer.from(`not an index image, yet it says ${INDEXED}`)]) {
      const keys = keySet();
      const { dir, db } = profile();
      try {
        const generation = randomBytes(32);
        new SealedFileStore(dir, () => generation).write(SNAPSHOT_FILE, image);
        expect(await snapshotsOpened(dir, keys)).toBe(0);
        expect(await decryptedScan(dir, [INDEXED], keys)).toEqual([]);
        db.prepare('INSERT INTO kv VALUES (?, ?, ?)').run('search', 'generation', seal(lastKey(keys), Buffer.concat([Buffer.from('{"gen":3}'), generation]), Buffer.from('kv')));
        expect(await snapshotsOpened(dir, keys)).toBe(1);
        expect(await decryptedScan(dir, [INDEXED, NEVER], keys)).toEqual([INDEXED]);
      } finally {
        db.close();
      }
    }
  });

  it("decrypts with the same bytes as noble's xchacha20 from block 1", () => {
    const keys = [randomBytes(32), randomBytes(32), randomBytes(32)];
    const opener = new StreamOpener(keys);
    try {
      for (const len of [41, 64, 65, 200, 5000]) {
        const blob = randomBytes(len);
        const got = [...opener.open(blob)].map((b) => Buffer.from(b).toString('hex'));
        const want = keys.map((k) => Buffer.from(xchacha20(k, blob.subarray(0, 24), blob.subarray(24, len - 16), undefined, 1)).toString('hex'));
        expect(got).toEqual(want);
      }
    } finally {
      opener.dispose();
    }
  });
});

/** One index part: an SQLite image holding `word` (as the index's parts are). */
function indexPart(word: string): Buffer {
  const db = new Database(':memory:');
  try {
    db.exec('CREATE TABLE terms (t TEXT)');
    db.prepare('INSERT INTO terms VALUES (?)').run(word);
    return db.serialize();
  } finally {
    db.close();
  }
}
