// Scanners for the deletion tests (issue #14): with the data key's subkeys in hand (test-only
// key observer), every sealed column of vault.db is decrypted, the sealed search snapshot is
// opened, and every file is scanned for distinctive words in plaintext.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { xchacha20 } from '@noble/ciphers/chacha.js';
import { afterEach, beforeEach } from 'vitest';
import { NONCE_BYTES, open, TAG_BYTES } from '../../main/vault/aead.ts';
import { segmentAd } from '../../main/vault/messages/read.ts';
import { SealedFileStore } from '../../main/vault/sealed-files.ts';
import { SNAPSHOT_FILE } from '../../main/search/service.ts';
import type { Vault } from '../../main/vault/index.ts';
import { installKeyObserverForTests } from '../../shared/protocol/key-observer.ts';
import { msg } from './helpers.ts';

/** Subkeys by name, as hex (the observer must not keep the live bytes). */
let subkeys = new Map<string, string>();

/** Installs the key observer around each test of the file that calls it. */
export function observeSubkeys(): void {
  beforeEach(() => {
    subkeys = new Map();
    installKeyObserverForTests((label, key) => {
      if (label.startsWith('vault.subkey.')) subkeys.set(label.slice('vault.subkey.'.length), Buffer.from(key).toString('hex'));
    });
  });
  afterEach(() => installKeyObserverForTests(undefined));
}

export const WORDS = ['zanzibarquokka', 'plorkzingvex', 'umbrafizzlewomp'] as const;

export function key(name: string): Buffer {
  const hex = subkeys.get(name);
  if (hex === undefined) throw new Error(`subkey ${name} was not observed`);
  return Buffer.from(hex, 'hex');
}

/** Every subkey observed so far. */
export function observedSubkeys(): Buffer[] {
  return [...subkeys.keys()].map(key);
}

/** Words (or their last 7 letters: FTS5 leaves store terms prefix-compressed) found in `bytes`. */
export function wordsIn(bytes: Uint8Array): string[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return WORDS.filter((w) => b.includes(w) || b.includes(w.slice(-7)));
}

/** Every file of the profile directory, raw. */
export function profileFiles(dir: string): Map<string, Buffer> {
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
export function decryptVaultDb(dir: string): { found: string[]; segmentsOpened: number } {
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

/**
 * Every 32-byte value a sealed row of vault.db holds at its end when decrypted with one of
 * `subkeys` as a raw stream (a kv entry's value comes last): the search snapshot's per-generation
 * file key among them, found as an attacker with the data key would, with the vault locked.
 */
export function sealedKeyCandidates(dir: string, subkeyList: readonly Buffer[]): Buffer[] {
  // A copy (with its WAL): a vault still unlocked holds vault.db in exclusive mode.
  const copy = mkdtempSync(join(tmpdir(), 'ephemera-scan-'));
  for (const f of ['vault.db', 'vault.db-wal']) if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(copy, f));
  const db = new Database(join(copy, 'vault.db'));
  const out: Buffer[] = [];
  try {
    for (const row of db.prepare('SELECT sealed FROM kv').raw().iterate() as IterableIterator<unknown[]>) {
      const value = row[0];
      if (!Buffer.isBuffer(value) || value.length < NONCE_BYTES + TAG_BYTES + 36) continue;
      const nonce = value.subarray(0, NONCE_BYTES);
      const ct = value.subarray(NONCE_BYTES, value.length - TAG_BYTES);
      for (const k of subkeyList) out.push(Buffer.from(xchacha20(k, nonce, ct, undefined, 1).subarray(-32)));
    }
  } finally {
    db.close();
    rmSync(copy, { recursive: true, force: true });
  }
  return out;
}

/** The sealed search snapshot, opened with a key found in the profile (its generation's key), or the sealed_files subkey. */
export function snapshotImage(dir: string): Uint8Array {
  const all = [...subkeys.keys()].map(key);
  for (const k of [...sealedKeyCandidates(dir, all), key('sealed_files')]) {
    try {
      const image = new SealedFileStore(dir, () => k).read(SNAPSHOT_FILE);
      if (image) return image;
    } catch {
      // not this key
    }
  }
  throw new Error('no search snapshot (or none that a key in the profile opens)');
}

/** The sealed segments (raw) of vault.db, read with the vault locked. */
export function segmentBlobs(dir: string): Map<number, Buffer> {
  const db = new Database(join(dir, 'vault.db'), { readonly: true });
  try {
    return new Map(db.prepare<[], { id: number; sealed: Buffer }>('SELECT id, sealed FROM message_segments').all().map((r) => [r.id, r.sealed]));
  } finally {
    db.close();
  }
}

/** 200 messages in conversation A (four segments) with secret words in three of them, and conversation B holding one. */
export function fill(vault: Vault): { secretIds: string[]; keptSecretFree: number; bId: string } {
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
