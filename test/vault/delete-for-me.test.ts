// "Delete for me" (issue #14): a deleted message is in no byte of the profile. With the data
// key's subkeys in hand (test-only key observer), every sealed column of vault.db is decrypted,
// the sealed search snapshot is opened, and every file is scanned for the words in plaintext;
// the old ciphertext of each re-sealed segment is looked for in every file too (while the vault
// is still open, so a WAL that kept the old page versions is caught before close tidies it).
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { xchacha20 } from '@noble/ciphers/chacha.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NONCE_BYTES, open, TAG_BYTES } from '../../main/vault/aead.ts';
import { segmentAd } from '../../main/vault/messages/read.ts';
import { SealedFileStore } from '../../main/vault/sealed-files.ts';
import { SearchService, SNAPSHOT_FILE } from '../../main/search/service.ts';
import type { Vault } from '../../main/vault/index.ts';
import { installKeyObserverForTests } from '../../shared/protocol/key-observer.ts';
import { msg, testVaults } from './helpers.ts';

const vaults = testVaults();
/** Subkeys by name, as hex (the observer must not keep the live bytes). */
let subkeys = new Map<string, string>();

beforeEach(() => {
  subkeys = new Map();
  installKeyObserverForTests((label, key) => {
    if (label.startsWith('vault.subkey.')) subkeys.set(label.slice('vault.subkey.'.length), Buffer.from(key).toString('hex'));
  });
});
afterEach(() => {
  installKeyObserverForTests(undefined);
  vaults.cleanup();
});

const WORDS = ['zanzibarquokka', 'plorkzingvex', 'umbrafizzlewomp'] as const;

function key(name: string): Buffer {
  const hex = subkeys.get(name);
  if (hex === undefined) throw new Error(`subkey ${name} was not observed`);
  return Buffer.from(hex, 'hex');
}

/** Words (or their last 7 letters: FTS5 leaves store terms prefix-compressed) found in `bytes`. */
function wordsIn(bytes: Uint8Array): string[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return WORDS.filter((w) => b.includes(w) || b.includes(w.slice(-7)));
}

/** Every file of the profile directory, raw. */
function profileFiles(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(dir)) if (statSync(join(dir, name)).isFile()) out.set(name, readFileSync(join(dir, name)));
  return out;
}

/**
 * Decrypts every BLOB of every table of vault.db with every subkey as a raw XChaCha20 stream
 * (the AEAD's ciphertext starts at block 1), so no associated data is needed and nothing sealed
 * escapes; plus the vault's own `open` on each segment with its AD (they must all still open).
 * Returns the words found and how many segments opened.
 */
function decryptVaultDb(dir: string): { found: string[]; segmentsOpened: number } {
  const db = new Database(join(dir, 'vault.db'), { readonly: true });
  const found = new Set<string>();
  let segmentsOpened = 0;
  try {
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all();
    const keys = [...subkeys.keys()].map(key);
    for (const { name } of tables) {
      for (const row of db.prepare(`SELECT * FROM "${name}"`).raw().iterate() as IterableIterator<unknown[]>) {
        for (const value of row) {
          if (!Buffer.isBuffer(value) || value.length <= NONCE_BYTES + TAG_BYTES) continue;
          for (const w of wordsIn(value)) found.add(w);
          const nonce = value.subarray(0, NONCE_BYTES);
          const ct = value.subarray(NONCE_BYTES, value.length - TAG_BYTES);
          for (const k of keys) for (const w of wordsIn(xchacha20(k, nonce, ct, undefined, 1))) found.add(w);
        }
      }
    }
    for (const seg of db.prepare<[], { id: number; conversation_id: string; sealed: Buffer }>('SELECT id, conversation_id, sealed FROM message_segments').iterate()) {
      for (const w of wordsIn(open(key('messages'), seg.sealed, segmentAd(seg.id, seg.conversation_id)))) found.add(w);
      segmentsOpened++;
    }
  } finally {
    db.close();
  }
  return { found: [...found], segmentsOpened };
}

/** The sealed search snapshot, opened with the observed sealed_files subkey. */
function snapshotImage(dir: string): Uint8Array {
  const image = new SealedFileStore(dir, () => key('sealed_files')).read(SNAPSHOT_FILE);
  if (!image) throw new Error('no search snapshot');
  return image;
}

/** The sealed segments (raw) of vault.db, read with the vault locked. */
function segmentBlobs(dir: string): Map<number, Buffer> {
  const db = new Database(join(dir, 'vault.db'), { readonly: true });
  try {
    return new Map(db.prepare<[], { id: number; sealed: Buffer }>('SELECT id, sealed FROM message_segments').all().map((r) => [r.id, r.sealed]));
  } finally {
    db.close();
  }
}

/** 200 messages in conversation A (four segments) with secret words in three of them, and conversation B holding one. */
function fill(vault: Vault): { secretIds: string[]; keptSecretFree: number; bId: string } {
  const batch = [];
  const secretIds: string[] = [];
  for (let i = 0; i < 200; i++) {
    const secret = i === 5 ? WORDS[0] : i === 70 ? WORDS[1] : i === 140 ? `${WORDS[0]} ${WORDS[1]}` : undefined;
    const m = msg('conv-a', secret ? `remember the ${secret} tomorrow` : `ordinary message number ${i}`);
    if (secret) secretIds.push(m.id);
    batch.push(m);
  }
  const b = msg('conv-b', `the ${WORDS[2]} is in the other chat`);
  vault.appendMessages([...batch, b, msg('conv-b', 'and another line')]);
  return { secretIds, keptSecretFree: 200 - secretIds.length, bId: b.id };
}

describe('Vault deleteMessages / deleteConversation', () => {
  it('leaves the words in no file, no sealed column and no search snapshot', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds, keptSecretFree } = fill(vault);
    let search = await SearchService.open(vault);
    search.snapshot();
    expect(search.search({ text: WORDS[0] }).length).toBe(2);
    search.discard();
    vault.lock();

    // The scanners see the words before deletion (so their silence afterwards means something).
    expect(decryptVaultDb(dir).found.sort()).toEqual([...WORDS].sort());
    expect(wordsIn(snapshotImage(dir)).sort()).toEqual([...WORDS].sort());
    const before = segmentBlobs(dir);

    const reopened = await vaults.reopen(dir);
    search = await SearchService.open(reopened);
    expect(reopened.deleteMessages('conv-a', [...secretIds, 'm-unknown'])).toEqual(secretIds);
    expect(reopened.deleteConversation('conv-b')).toHaveLength(2);
    search.catchUp();
    for (const w of WORDS) expect(search.search({ text: w })).toEqual([]);
    expect(search.search({ text: WORDS[0].slice(0, 6) })).toEqual([]); // prefix expansion too

    // While the vault is still open: no file holds the words, nor any old segment ciphertext.
    const open1 = profileFiles(dir);
    for (const [name, bytes] of open1) {
      expect(wordsIn(bytes), name).toEqual([]);
      for (const [id, old] of before) {
        // Segments 1-3 held the secrets and were re-sealed, conversation B's (5) was deleted; 4 is untouched.
        if (id !== 4) expect(bytes.includes(old.subarray(0, NONCE_BYTES + 32)), `${name} holds old segment ${id}`).toBe(false);
      }
    }
    // The snapshot on disk was rewritten by the deletion itself (not by a later close).
    expect(wordsIn(snapshotImage(dir))).toEqual([]);
    search.discard();
    reopened.lock();

    const scan = decryptVaultDb(dir);
    expect(scan.found).toEqual([]);
    expect(scan.segmentsOpened).toBe(4);
    for (const [name, bytes] of profileFiles(dir)) expect(wordsIn(bytes), name).toEqual([]);

    const again = await vaults.reopen(dir);
    expect(again.countMessages('conv-a')).toBe(keptSecretFree);
    expect(again.countMessages('conv-b')).toBe(0);
    expect([...again.iterateMessages('conv-a')].map((m) => m.text)).toContain('ordinary message number 199');
    expect(again.getConversation('conv-b')).toBeUndefined(); // never upserted in this test: nothing made one
  });

  it('after a SIGKILL right after the deletion, the next open rewrites the search snapshot without the words', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    const search = await SearchService.open(vault);
    search.close();
    vault.lock();
    expect(wordsIn(snapshotImage(dir)).sort()).toEqual([...WORDS].sort());

    const child = fileURLToPath(new URL('./delete-crash-child.ts', import.meta.url));
    const res = spawnSync(process.execPath, ['--import', 'tsx', child, dir, 'correct horse', 'conv-a', JSON.stringify(secretIds)], {
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    });
    expect(res.signal, res.stderr).toBe('SIGKILL');
    expect(JSON.parse(res.stdout.trim()) as { deleted: string[] }).toEqual({ deleted: secretIds });
    // The child died before its index caught up: the old snapshot still holds the words.
    expect(wordsIn(snapshotImage(dir))).toContain(WORDS[0]);

    const reopened = await vaults.reopen(dir);
    const again = await SearchService.open(reopened);
    expect(again.openedFrom).toBe('snapshot');
    // Conversation B was not deleted: its word is still found (the scanners work).
    expect(wordsIn(snapshotImage(dir))).toEqual([WORDS[2]]);
    expect(again.search({ text: WORDS[0] })).toEqual([]);
    again.discard();
    reopened.lock();
    expect(decryptVaultDb(dir).found).toEqual([WORDS[2]]);
    for (const [name, bytes] of profileFiles(dir)) expect(wordsIn(bytes), name).toEqual([]);
  });

  it('skips ids of another conversation and unknown ids; validates its input', async () => {
    const { vault } = await vaults.fresh();
    const a = msg('conv-a', 'in a');
    const b = msg('conv-b', 'in b');
    vault.appendMessages([a, b]);
    expect(vault.deleteMessages('conv-a', [b.id, 'nope'])).toEqual([]);
    expect(vault.getMessage(b.id)?.text).toBe('in b');
    expect(() => vault.deleteMessages('conv a', [a.id])).toThrow(TypeError);
    expect(() => vault.deleteMessages('conv-a', ['bad id'])).toThrow(TypeError);
    expect(vault.getMessage(a.id)?.text).toBe('in a');
    expect(vault.deleteMessages('conv-a', [a.id, a.id])).toEqual([a.id]);
    expect(vault.getMessage(a.id)).toBeUndefined();
    expect(vault.changesSince(0, 10).deletes).toEqual([a.id]);
  });
});
