// Byte-level checks for "gone" (issue #14), shared by the disappearing-message tests: with the
// vault subkeys in hand (the test-only key observer), every BLOB of vault.db is decrypted with
// every subkey as a raw XChaCha20 stream (no associated data needed, so nothing sealed escapes),
// the sealed search snapshot is opened, and every file is scanned for the words in plaintext.
// The same method as test/vault/delete-for-me.test.ts, for profiles of whole messengers (several
// vaults in one process, so every observed key is kept, not one per name).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { NONCE_BYTES, TAG_BYTES } from '../../main/vault/aead.ts';
import { sealedKeyCandidates, snapshotImages } from '../vault/deletion-scan.ts';
import { StreamOpener } from '../vault/xchacha-stream.ts';
import { atRest } from '../vault/at-rest.ts';
import { installKeyObserverForTests } from '../../shared/protocol/key-observer.ts';

/** Subkeys seen since install, by name, as hex (the observer must not keep the live bytes). */
export function observeVaultSubkeys(): { keys: Map<string, Set<string>>; uninstall: () => void } {
  const keys = new Map<string, Set<string>>();
  installKeyObserverForTests((label, key) => {
    if (!label.startsWith('vault.subkey.')) return;
    const name = label.slice('vault.subkey.'.length);
    const set = keys.get(name) ?? new Set<string>();
    set.add(Buffer.from(key).toString('hex'));
    keys.set(name, set);
  });
  return { keys, uninstall: () => installKeyObserverForTests(undefined) };
}

/** Words (or their last 7 letters: FTS5 leaves store terms prefix-compressed) found in `bytes`. */
export function wordsIn(bytes: Uint8Array, words: readonly string[]): string[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return words.filter((w) => b.includes(w) || b.includes(w.slice(-7)) || b.includes(Buffer.from(w, 'utf16le')));
}

/** Words found in any file of the profile (raw bytes), by file name. */
export async function plaintextScan(dir: string, words: readonly string[]): Promise<string[]> {
  await atRest(dir);
  const hits: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isFile() && wordsIn(readFileSync(p), words).length > 0) hits.push(name);
  }
  return hits;
}

/**
 * Words found in vault.db's BLOBs decrypted with every observed subkey, and in the sealed search
 * snapshot opened with each observed sealed_files key. Read with the profile closed, after its lock's scrub.
 */
export async function decryptedScan(dir: string, words: readonly string[], keys: Map<string, Set<string>>): Promise<string[]> {
  await atRest(dir);
  const found = new Set<string>();
  const all = [...keys.values()].flatMap((s) => [...s]).map((h) => Buffer.from(h, 'hex'));
  const opener = new StreamOpener(all);
  const db = new Database(join(dir, 'vault.db'), { readonly: true });
  try {
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all();
    for (const { name } of tables) {
      for (const row of db.prepare(`SELECT * FROM "${name}"`).raw().iterate() as IterableIterator<unknown[]>) {
        for (const value of row) {
          if (!Buffer.isBuffer(value) || value.length <= NONCE_BYTES + TAG_BYTES) continue;
          for (const w of wordsIn(value, words)) found.add(w);
          for (const plain of opener.open(value)) for (const w of wordsIn(plain, words)) found.add(w);
        }
      }
    }
  } finally {
    opener.dispose();
    db.close();
  }
  for (const image of snapshotImages(dir, await snapshotKeys(dir, keys))) for (const w of wordsIn(image, words)) found.add(w);
  return [...found].sort();
}

/** How many search snapshots the observed keys open (so a silent snapshot scan means something). */
export async function snapshotsOpened(dir: string, keys: Map<string, Set<string>>): Promise<number> {
  await atRest(dir);
  return snapshotImages(dir, await snapshotKeys(dir, keys)).length;
}

/** Keys that may open the search snapshot: its generation's key as found in vault.db with the observed subkeys, and the sealed_files subkeys. */
async function snapshotKeys(dir: string, keys: Map<string, Set<string>>): Promise<Buffer[]> {
  const all = [...keys.values()].flatMap((s) => [...s]).map((h) => Buffer.from(h, 'hex'));
  return [...(await sealedKeyCandidates(dir, all)), ...[...(keys.get('sealed_files') ?? [])].map((h) => Buffer.from(h, 'hex'))];
}
