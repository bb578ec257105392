// Each search snapshot generation is sealed under a random key of its own, kept sealed in the
// vault and destroyed when a newer generation replaces it (issue #14): an old snapshot's bytes
// (as left in freed filesystem blocks, kept here as a copy of the old file) open with no key the
// profile holds afterwards, even with every subkey of the data key in hand, and the sealed row of
// the old key is in no file of the profile (secure_delete, WAL truncated).
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** The sealed kv rows (raw) whose value decrypts to `k` with one of `subkeyList`. */
function sealedRowsHolding(dir: string, k: Buffer, subkeyList: readonly Buffer[]): Buffer[] {
  const copy = mkdtempSync(join(tmpdir(), 'ephemera-rows-'));
  for (const f of ['vault.db', 'vault.db-wal']) if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(copy, f));
  const db = new Database(join(copy, 'vault.db'));
  try {
    const rows = db.prepare<[], { sealed: Buffer }>('SELECT sealed FROM kv').all();
    return rows.map((r) => r.sealed).filter((sealed) => sealedKeyCandidatesOf(sealed, subkeyList).some((c) => c.equals(k)));
  } finally {
    db.close();
    rmSync(copy, { recursive: true, force: true });
  }
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
    expect(wordsIn(snapshotImage(dir))).toEqual([...WORDS]);
    // The old generation's key, as the profile holds it now (and its sealed kv rows).
    const before = observed();
    const oldKeys = sealedKeyCandidates(dir, before).filter((k) => opensWith(oldFile, [k]));
    expect(oldKeys).toHaveLength(1);
    const oldRows = sealedRowsHolding(dir, oldKeys[0] as Buffer, before);
    expect(oldRows).toHaveLength(1);
    expect(opensWith(oldFile, [key('sealed_files')])).toBe(false); // not the subkey

    vault.deleteMessages('conv-a', secretIds);
    search.catchUp(); // a deletion: a new snapshot at once (in steps, the mirror making its image)
    await search.catchUpInSteps();
    expect(wordsIn(snapshotImage(dir))).toEqual([WORDS[2]]);
    search.close();
    vault.lock();
    await atRest(dir);

    // With every subkey in hand: no key found in vault.db opens the old bytes, nor does any subkey.
    const all = observed();
    expect(opensWith(oldFile, [...sealedKeyCandidates(dir, all), ...all])).toBe(false);
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
});
