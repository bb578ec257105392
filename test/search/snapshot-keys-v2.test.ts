// A profile from before the snapshot key slots (schema 2: each generation's file key in kv) opens
// its snapshot with the key kv holds; the first new generation puts its key in a slot and forgets
// the kv one (kvForget: the one scrub this migration owes); the generations after it owe none.
// The old profile is this build's, taken back to schema 2 as schema-2 builds left it: no
// snapshot_keys table, user_version 2 sealed, the current generation's key in kv.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SearchService } from '../../main/search/service.ts';
import { xchacha20 } from '@noble/ciphers/chacha.js';
import { NONCE_BYTES, seal, TAG_BYTES } from '../../main/vault/aead.ts';
import { readHeader } from '../../main/vault/header.ts';
import { SCHEMA_VERSION_ROW } from '../../main/vault/integrity.ts';
import { readLockInfo } from '../../main/vault/lockfile.ts';
import { ad } from '../../main/vault/records.ts';
import { LATEST_SCHEMA } from '../../main/vault/schema.ts';
import { SCRUB_OWED_FILE } from '../../main/vault/scrub.ts';
import { Vault } from '../../main/vault/index.ts';
import { fill, key, observeSubkeys } from '../vault/deletion-scan.ts';
import { atRest } from '../vault/at-rest.ts';
import { testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
observeSubkeys();
afterEach(() => vaults.cleanup());

function snapshotGeneration(vault: Vault): string {
  return (JSON.parse(Buffer.from(vault.kvGet('search', 'snapshot')!).toString('utf8')) as { generation: string }).generation;
}

/** The locked profile taken back to schema 2: the slots' table dropped, user_version 2 (and its sealed copy). */
function backToSchema2(dir: string): void {
  const db = new Database(join(dir, 'vault.db'));
  try {
    db.pragma('secure_delete = ON');
    db.exec('DROP TABLE snapshot_keys');
    db.pragma('user_version = 2');
    const vaultId = readHeader(dir).vaultId.toString('hex');
    db.prepare('UPDATE vault_meta SET sealed = ? WHERE name = ?').run(seal(key('meta'), Buffer.from('2'), ad('vault_meta', SCHEMA_VERSION_ROW, vaultId)), SCHEMA_VERSION_ROW);
  } finally {
    db.close();
  }
}

/** Whether the sealed kv value holds `k` (its value's last 32 bytes, opened with the kv subkey as a raw stream). */
function holds(sealed: Buffer, k: Buffer): boolean {
  if (sealed.length < NONCE_BYTES + TAG_BYTES + 36) return false;
  const ct = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
  return Buffer.from(xchacha20(key('kv'), sealed.subarray(0, NONCE_BYTES), ct, undefined, 1).subarray(-32)).equals(k);
}

function inAnyFile(dir: string, secret: Buffer): boolean {
  return readdirSync(dir).some((name) => statSync(join(dir, name)).isFile() && readFileSync(join(dir, name)).includes(secret));
}

/** The raw kv rows of a locked profile. */
function kvSealed(dir: string): Buffer[] {
  const db = new Database(join(dir, 'vault.db'), { readonly: true });
  try {
    return db.prepare<[], { sealed: Buffer }>('SELECT sealed FROM kv').all().map((r) => r.sealed);
  } finally {
    db.close();
  }
}

describe('search snapshot keys kept in kv by a schema-2 profile', () => {
  it('open the snapshot; the first new generation forgets them (one scrub), later ones owe none', async () => {
    const { vault, dir } = await vaults.fresh();
    fill(vault);
    let search = await SearchService.open(vault);
    search.snapshot();
    const generation = snapshotGeneration(vault);
    const oldKey = Buffer.from(vault.snapshotKeyGet(generation)!);
    // As a schema-2 build kept it.
    vault.kvSet('search', `file-key-${generation}`, oldKey);
    search.discard();
    vault.lock();
    await atRest(dir); // none is owed here; if one ever were, vault.db is the scrub's until it ends
    const before = kvSealed(dir);
    backToSchema2(dir);

    let again = await vaults.reopen(dir);
    search = await SearchService.open(again);
    expect(search.openedFrom).toBe('snapshot');
    expect(existsSync(join(dir, SCRUB_OWED_FILE))).toBe(false);
    search.snapshot();
    // The kv key was forgotten: that deletion owes the scrub, once.
    expect(existsSync(join(dir, SCRUB_OWED_FILE))).toBe(true);
    search.discard();
    again.lock();
    await Vault.scrubbed(dir);
    const db = new Database(join(dir, 'vault.db'), { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA);
    db.close();
    // The old key's kv row (the one the migration forgot) and the key itself are in no file.
    const oldRow = before.filter((sealed) => holds(sealed, oldKey));
    expect(oldRow).toHaveLength(1);
    expect(kvSealed(dir).filter((sealed) => holds(sealed, oldKey))).toEqual([]);
    expect(inAnyFile(dir, oldRow[0]!)).toBe(false);
    expect(inAnyFile(dir, oldKey)).toBe(false);

    // From now on a new generation owes no scrub: the lock frees the profile at once.
    again = await vaults.reopen(dir);
    search = await SearchService.open(again);
    expect(search.openedFrom).toBe('snapshot');
    search.snapshot();
    search.discard();
    again.lock();
    expect(readLockInfo(dir)).toBeUndefined();
    expect(existsSync(join(dir, SCRUB_OWED_FILE))).toBe(false);
  });
});
