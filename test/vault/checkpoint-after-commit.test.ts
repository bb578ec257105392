// A deletion inside a transaction (a received "delete for everyone" runs in the receive batch's
// step) cannot truncate the WAL there: the checkpoint it asks for runs when the outermost
// transaction commits, so the deleted row's sealed bytes leave vault.db-wal then, not only at the
// next lock (review s16: a group file's chunks stayed in the WAL while the member was unlocked).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { tempProfile } from './helpers.ts';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const PASSWORD = 'pw-checkpoint-after-commit';

async function withRow(): Promise<{ dir: string; vault: Vault; sealed: Buffer }> {
  const profile = tempProfile();
  // After the lock (unshifted below): the scrub a deletion owes runs in a worker on this folder.
  cleanups.push(async () => {
    await Vault.scrubbed(profile.dir);
    profile.cleanup();
  });
  const created = (await Vault.create(profile.dir, PASSWORD, { kdf: TEST_KDF })).vault;
  created.kvSet('chunks', 'c1', new Uint8Array(48 * 1024).fill(7));
  created.lock();
  // The row as it sits in the files: its sealed value (nothing else of it is distinctive). The
  // vault holds its database exclusively while unlocked, so this is read while it is locked.
  const reader = new Database(join(profile.dir, 'vault.db'), { readonly: true });
  let sealed: Buffer | undefined;
  try {
    const rows = reader.prepare('SELECT sealed FROM kv').all() as { sealed: Buffer }[];
    sealed = rows.map((r) => r.sealed).find((b) => b.length > 48 * 1024);
  } finally {
    reader.close();
  }
  if (!sealed) throw new Error('the sealed row was not found');
  const vault = await Vault.unlock(profile.dir, PASSWORD);
  cleanups.unshift(() => vault.lock());
  return { dir: profile.dir, vault, sealed: Buffer.from(sealed) };
}

/** Whether a 64-byte run from the middle of `sealed` is in vault.db or its WAL. */
function inFiles(dir: string, sealed: Buffer): boolean {
  const needle = sealed.subarray(sealed.length >> 1, (sealed.length >> 1) + 64);
  return ['vault.db', 'vault.db-wal'].some((f) => existsSync(join(dir, f)) && readFileSync(join(dir, f)).includes(needle));
}

describe('a checkpoint asked for inside a transaction', () => {
  it('runs when a receive batch commits: the deleted row is gone from vault.db and the WAL', async () => {
    const { dir, vault, sealed } = await withRow();
    expect(inFiles(dir, sealed)).toBe(true);
    vault.batchedTransaction(() => vault.kvForget('chunks', 'c1'));
    // Still inside the open batch: the WAL cannot be truncated yet.
    vault.commitBatch();
    expect(vault.kvGet('chunks', 'c1')).toBeUndefined();
    expect(inFiles(dir, sealed)).toBe(false);
  });

  it('runs when the outermost plain transaction commits, not inside it', async () => {
    const { dir, vault, sealed } = await withRow();
    vault.transaction(() => {
      vault.kvForget('chunks', 'c1');
      expect(inFiles(dir, sealed)).toBe(true);
    });
    expect(inFiles(dir, sealed)).toBe(false);
  });

  it('a rolled-back deletion keeps the row, and the next commit still truncates the WAL', async () => {
    const { dir, vault, sealed } = await withRow();
    expect(() =>
      vault.transaction(() => {
        vault.kvForget('chunks', 'c1');
        throw new Error('undo');
      }),
    ).toThrow('undo');
    expect(vault.kvGet('chunks', 'c1')?.length).toBe(48 * 1024);
    vault.transaction(() => vault.kvSet('chunks', 'c2', new Uint8Array([1])));
    // The row is kept (in vault.db now), and the WAL is empty after that commit's checkpoint.
    const wal = join(dir, 'vault.db-wal');
    expect(existsSync(wal) ? readFileSync(wal).length : 0).toBe(0);
    expect(inFiles(dir, sealed)).toBe(true);
  });
});
