// Each search snapshot generation is sealed under a random key of its own, kept sealed in the
// vault and destroyed when a newer generation replaces it (issue #14): an old snapshot's bytes
// (as left in freed filesystem blocks, kept here as a copy of the old file) open with no key the
// profile holds afterwards, even with every subkey of the data key in hand, and the sealed row of
// the old key is in no file of the profile (secure_delete, WAL truncated). Since stop 26 the keys
// are in the vault's snapshot key slots, overwritten in place (main/vault/kv.ts), so destroying
// one owes no scrub at lock: many generations, with kv writes rebalancing the kv b-tree between
// them, leave no old key in any file while the vault is still unlocked, and the lock is free at once.
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SearchService, SNAPSHOT_FILE } from '../../main/search/service.ts';
import { SealedFileStore } from '../../main/vault/sealed-files.ts';
import Database from 'better-sqlite3';
import { xchacha20 } from '@noble/ciphers/chacha.js';
import { NONCE_BYTES, TAG_BYTES } from '../../main/vault/aead.ts';
import { fill, key, observedSubkeys, observeSubkeys, profileFiles, sealedKeyCandidates, snapshotImage, WORDS, wordsIn } from '../vault/deletion-scan.ts';
import { testVaults } from '../vault/helpers.ts';
import type { Vault } from '../../main/vault/index.ts';
import { readLockInfo } from '../../main/vault/lockfile.ts';
import { SCRUB_OWED_FILE } from '../../main/vault/scrub.ts';
import { atRest } from '../vault/at-rest.ts';

const vaults = testVaults();
observeSubkeys();
afterEach(() => vaults.cleanup());

/** Whether `file` (a sealed snapshot's bytes) opens with any of `keys`. */
function opensWith(file: Buffer, keys: readonly Buffer[]): boolean {
  // Under its own name (the name is in each chunk's associated data), outside the profile.
  const probe = mkdtempSync(join(tmpdir(), 'ephemera-probe-'));
  try {
    writeFileSync(join(probe, `${SNAPSHOT_FILE}.sealed`), file);
    for (const k of keys) {
      try {
        if (new SealedFileStore(probe, () => k).read(SNAPSHOT_FILE)) return true;
      } catch {
        // not this key
      }
    }
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** The sealed values (raw) of the tables that may hold a snapshot key: kv, and snapshot_keys where the schema has it. */
function sealedKeyRows(dir: string): Buffer[] {
  const copy = mkdtempSync(join(tmpdir(), 'ephemera-rows-'));
  for (const f of ['vault.db', 'vault.db-wal']) if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(copy, f));
  const db = new Database(join(copy, 'vault.db'));
  try {
    const slots = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'snapshot_keys'").get() !== undefined;
    return db.prepare<[], { sealed: Buffer }>(slots ? 'SELECT sealed FROM kv UNION ALL SELECT sealed FROM snapshot_keys' : 'SELECT sealed FROM kv').all().map((r) => r.sealed);
  } finally {
    db.close();
    rmSync(copy, { recursive: true, force: true });
  }
}

/** The sealed rows (raw) whose value decrypts to `k` with one of `subkeyList`. */
function sealedRowsHolding(dir: string, k: Buffer, subkeyList: readonly Buffer[]): Buffer[] {
  return sealedKeyRows(dir).filter((sealed) => sealedKeyCandidatesOf(sealed, subkeyList).some((c) => c.equals(k)));
}

/** The key (with its sealed rows) that opens the profile's snapshot file now: sealed under the kv subkey, in kv or a slot. */
function currentSnapshotKey(dir: string): { key: Buffer; rows: Buffer[] } {
  const file = readFileSync(join(dir, `${SNAPSHOT_FILE}.sealed`));
  const kvKey = [key('kv')];
  const keys = sealedKeyRows(dir)
    .flatMap((sealed) => sealedKeyCandidatesOf(sealed, kvKey))
    .filter((k, i, all) => all.findIndex((o) => o.equals(k)) === i && opensWith(file, [k]));
  expect(keys).toHaveLength(1);
  const k = keys[0] as Buffer;
  return { key: k, rows: sealedRowsHolding(dir, k, kvKey) };
}

/** Small kv rows under random keys: inserted all over the kv b-tree, they split and rebalance its pages (and are too small to be taken for a sealed key). */
function churnKv(vault: Vault, rows: number): void {
  vault.transaction(() => {
    for (let i = 0; i < rows; i++) vault.kvSet('churn', randomBytes(4).toString('hex'), randomBytes(8));
  });
}

/** Of `secrets`, how many are in the files of the profile as they are now (the vault may be unlocked). */
function foundInFiles(dir: string, secrets: readonly Buffer[]): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    const bytes = readFileSync(path);
    secrets.forEach((s, i) => {
      if (bytes.includes(s)) found.push(`${name}: secret ${i}`);
    });
  }
  return found;
}

function sealedKeyCandidatesOf(sealed: Buffer, subkeyList: readonly Buffer[]): Buffer[] {
  if (sealed.length < NONCE_BYTES + TAG_BYTES + 36) return [];
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const ct = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
  return subkeyList.map((sk) => Buffer.from(xchacha20(sk, nonce, ct, undefined, 1).subarray(-32)));
}

const observed = observedSubkeys;

describe('search snapshot keys', () => {
  it("an old generation's file opens with no key left in the profile once a new one replaced it, and its key's sealed row is gone from every file", async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    const search = await SearchService.open(vault);
    search.snapshot();
    const oldFile = readFileSync(join(dir, `${SNAPSHOT_FILE}.sealed`));
    expect(wordsIn(await snapshotImage(dir))).toEqual([...WORDS]);
    // The old generation's key, as the profile holds it now (and its sealed kv rows).
    const before = observed();
    const oldKeys = (await sealedKeyCandidates(dir, before)).filter((k) => opensWith(oldFile, [k]));
    expect(oldKeys).toHaveLength(1);
    const oldRows = sealedRowsHolding(dir, oldKeys[0] as Buffer, before);
    expect(oldRows).toHaveLength(1);
    expect(opensWith(oldFile, [key('sealed_files')])).toBe(false); // not the subkey

    vault.deleteMessages('conv-a', secretIds);
    search.catchUp(); // a deletion: a new snapshot at once (in steps, the mirror making its image)
    await search.catchUpInSteps();
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);
    search.close();
    vault.lock();
    await atRest(dir);

    // With every subkey in hand: no key found in vault.db opens the old bytes, nor does any subkey.
    const all = observed();
    expect(opensWith(oldFile, [...(await sealedKeyCandidates(dir, all)), ...all])).toBe(false);
    // The old key's sealed row is in no file (vault.db's freed cell zeroed, the WAL truncated), nor the key raw.
    const oldKey = oldKeys[0] as Buffer;
    for (const [name, bytes] of await profileFiles(dir)) {
      expect(bytes.includes(oldKey), name).toBe(false);
      expect(bytes.includes(oldRows[0] as Buffer), name).toBe(false);
    }

    // The current generation still opens, and the next open uses it.
    const again = await SearchService.open(await vaults.reopen(dir));
    expect(again.openedFrom).toBe('snapshot');
    expect(again.search({ text: WORDS[2] })).toHaveLength(1);
    again.discard();
  });
  it('many generations, with kv writes rebalancing the kv b-tree between them, leave no old key (raw or sealed) in any file and owe no scrub: the lock frees the profile at once', async () => {
    const { vault, dir } = await vaults.fresh();
    fill(vault);
    const search = await SearchService.open(vault);
    const old: Buffer[] = [];
    let current: { key: Buffer; rows: Buffer[] } | undefined;
    for (let g = 0; g < 12; g++) {
      churnKv(vault, 300);
      search.snapshot();
      if (current) old.push(current.key, ...current.rows);
      current = currentSnapshotKey(dir);
    }
    expect(old.length).toBeGreaterThanOrEqual(22); // 11 old keys, each with its sealed row
    // While unlocked: every old key and its sealed row are gone from vault.db and its WAL already.
    expect(foundInFiles(dir, old)).toEqual([]);
    expect(existsSync(join(dir, SCRUB_OWED_FILE))).toBe(false);
    search.discard();
    vault.lock();
    // No scrub: the profile is free as soon as lock() returns.
    expect(readLockInfo(dir)).toBeUndefined();
    expect(existsSync(join(dir, SCRUB_OWED_FILE))).toBe(false);
    expect(foundInFiles(dir, old)).toEqual([]);
    // The current generation still opens.
    const again = await SearchService.open(await vaults.reopen(dir));
    expect(again.openedFrom).toBe('snapshot');
    again.discard();
  });

  it("the slots keep the current generation's key while later writes come and go, and hold no other once one is committed", async () => {
    const { vault } = await vaults.fresh();
    const [g1, g2, g3] = [1, 2, 3].map((n) => String(n).repeat(32)) as [string, string, string];
    const [k1, k2, k3] = [1, 2, 3].map(() => randomBytes(32)) as [Buffer, Buffer, Buffer];
    vault.snapshotKeyPut(g1, k1, undefined);
    vault.forgetSnapshotKeys(g1);
    // Two writes that never commit (aborted, or the process ended): the current key stays.
    vault.snapshotKeyPut(g2, k2, g1);
    vault.snapshotKeyPut(g3, k3, g1);
    expect(Buffer.from(vault.snapshotKeyGet(g1)!).equals(k1)).toBe(true);
    expect(vault.snapshotKeyGet(g2)).toBeUndefined();
    expect(Buffer.from(vault.snapshotKeyGet(g3)!).equals(k3)).toBe(true);
    vault.forgetSnapshotKeys(g3);
    expect(vault.snapshotKeyGet(g1)).toBeUndefined();
    expect(Buffer.from(vault.snapshotKeyGet(g3)!).equals(k3)).toBe(true);
    expect(() => vault.snapshotKeyPut('not-a-generation', k1, g3)).toThrow(TypeError);
    expect(() => vault.snapshotKeyPut(g2, k1.subarray(0, 16), g3)).toThrow(TypeError);
  });
});
