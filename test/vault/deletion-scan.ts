// Scanners for the deletion tests (issue #14): with the data key's subkeys in hand (test-only
// key observer), every sealed column of vault.db is decrypted, the sealed search snapshot is
// opened, and every file is scanned for distinctive words in plaintext.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach } from 'vitest';
import { NONCE_BYTES, open, TAG_BYTES } from '../../main/vault/aead.ts';
import { segmentAd } from '../../main/vault/messages/read.ts';
import { SEALED_SUFFIX, SealedFileStore } from '../../main/vault/sealed-files.ts';
import { SNAPSHOT_FILE } from '../../main/search/service.ts';
import type { Vault } from '../../main/vault/index.ts';
import { installKeyObserverForTests } from '../../shared/protocol/key-observer.ts';
import { msg } from './helpers.ts';
import { StreamOpener } from './xchacha-stream.ts';
import { atRest } from './at-rest.ts';

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

/** Every file of the profile directory, raw (after its lock's scrub, if one runs). */
export async function profileFiles(dir: string): Promise<Map<string, Buffer>> {
  await atRest(dir);
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
export async function decryptVaultDb(dir: string): Promise<{ found: string[]; segmentsOpened: number }> {
  await atRest(dir);
  const db = new Database(join(dir, 'vault.db'), { readonly: true });
  const found = new Set<string>();
  let segmentsOpened = 0;
  try {
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all();
    const opener = new StreamOpener([...subkeys.keys()].map(key));
    try {
      for (const { name } of tables) {
        for (const row of db.prepare(`SELECT * FROM "${name}"`).raw().iterate() as IterableIterator<unknown[]>) {
          for (const value of row) {
            if (!Buffer.isBuffer(value) || value.length <= NONCE_BYTES + TAG_BYTES) continue;
            for (const w of wordsIn(value)) found.add(w);
            for (const plain of opener.open(value)) for (const w of wordsIn(plain)) found.add(w);
          }
        }
      }
    } finally {
      opener.dispose();
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
 * file key among them, found as an attacker with the data key would, with the vault locked
 * (after its lock's scrub, which rewrites vault.db and removes its WAL: a copy taken meanwhile
 * misses the WAL it listed or is torn).
 */
export async function sealedKeyCandidates(dir: string, subkeyList: readonly Buffer[]): Promise<Buffer[]> {
  await atRest(dir);
  // A copy (with its WAL): a vault still unlocked holds vault.db in exclusive mode.
  const copy = mkdtempSync(join(tmpdir(), 'ephemera-scan-'));
  for (const f of ['vault.db', 'vault.db-wal']) if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(copy, f));
  const db = new Database(join(copy, 'vault.db'));
  const out: Buffer[] = [];
  const opener = new StreamOpener(subkeyList);
  try {
    // The search snapshot's generation keys: in snapshot_keys from schema 3 on, in kv before.
    const slots = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'snapshot_keys'").get() !== undefined;
    for (const row of db.prepare(slots ? 'SELECT sealed FROM kv UNION ALL SELECT sealed FROM snapshot_keys' : 'SELECT sealed FROM kv').raw().iterate() as IterableIterator<unknown[]>) {
      const value = row[0];
      if (!Buffer.isBuffer(value) || value.length < NONCE_BYTES + TAG_BYTES + 36) continue;
      for (const plain of opener.open(value)) out.push(Buffer.from(plain.subarray(-32)));
    }
  } finally {
    opener.dispose();
    db.close();
    rmSync(copy, { recursive: true, force: true });
  }
  return out;
}

/**
 * The search snapshot opened with each of `candidates` that opens it (one image per such key).
 * Opening is a full read of the sealed file (all its chunks authenticated), so with thousands of
 * candidates (every kv value times every subkey) only those whose raw stream starts the image
 * with its magic are tried first: every image begins 'EPHIDXP1' (main/search/index-image.ts
 * rejects anything else), so a key that opens a valid snapshot is among them. If none of those
 * opens it, every candidate is tried, as before: the result never depends on that shortcut.
 */
export function snapshotImages(dir: string, candidates: readonly Uint8Array[]): Uint8Array[] {
  const tryAll = (keys: readonly Uint8Array[]): Uint8Array[] => {
    const images: Uint8Array[] = [];
    for (const k of keys) {
      try {
        const image = new SealedFileStore(dir, () => k).read(SNAPSHOT_FILE);
        if (image) images.push(image);
      } catch {
        // not this key
      }
    }
    return images;
  };
  const path = join(dir, `${SNAPSHOT_FILE}${SEALED_SUFFIX}`);
  if (!existsSync(path)) return [];
  // The sealed file: 'EPHSF001', a 32-bit chunk size, then chunk 0 sealed (main/vault/sealed-files.ts).
  const first = readFileSync(path).subarray(12, 12 + NONCE_BYTES + IMAGE_MAGIC.length + TAG_BYTES);
  const opener = new StreamOpener(candidates);
  const likely: Uint8Array[] = [];
  try {
    let i = 0;
    for (const plain of opener.open(first)) {
      if (IMAGE_MAGIC.equals(plain)) likely.push(candidates[i]!);
      i++;
    }
  } finally {
    opener.dispose();
  }
  const images = tryAll(likely);
  return images.length > 0 ? images : tryAll(candidates);
}

const IMAGE_MAGIC = Buffer.from('EPHIDXP1', 'latin1');

/** The sealed search snapshot, opened with a key found in the profile (its generation's key), or the sealed_files subkey. */
export async function snapshotImage(dir: string): Promise<Uint8Array> {
  const all = [...subkeys.keys()].map(key);
  const image = snapshotImages(dir, [...(await sealedKeyCandidates(dir, all)), key('sealed_files')])[0];
  if (image) return image;
  throw new Error('no search snapshot (or none that a key in the profile opens)');
}

/** The sealed segments (raw) of vault.db, read with the vault locked, after its lock's scrub. */
export async function segmentBlobs(dir: string): Promise<Map<number, Buffer>> {
  await atRest(dir);
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
