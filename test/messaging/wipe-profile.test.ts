// The messenger's "Delete all data" (wipeProfile): a wrong password leaves the vault open and
// every file as it was; the right one closes search and the vault, removes the profile folder,
// reports vault 'none', and a new vault can be created in the same place.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, linkSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMessenger, type Messenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';
import { SCRUB_OWED_FILE } from '../../main/vault/scrub.ts';
import type { ApiEvent } from '../../shared/api.ts';

const PASSWORD = 'a long enough wipe test password';

function files(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.set(join(e.parentPath, e.name), readFileSync(join(e.parentPath, e.name)));
  }
  return out;
}

describe('messenger wipeProfile', () => {
  let root: string;
  let profile: string;
  let m: Messenger;

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'ephemera-wipe-api-'));
    profile = join(root, 'profile');
    m = await openMessenger({ profileDir: profile, kdf: TEST_KDF });
    await m.createVault({ password: PASSWORD });
  });
  afterEach(async () => {
    await m.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('a wrong password is WRONG_PASSWORD and changes nothing: the vault stays unlocked, no byte changes', async () => {
    await m.settingsUpdate({ theme: 'dark' });
    const before = files(profile);
    await expect(m.wipeProfile({ password: 'not the password' })).rejects.toMatchObject({ code: 'WRONG_PASSWORD' });
    expect((await m.vaultStatus()).vault).toBe('unlocked');
    expect(files(profile)).toEqual(before);
  });

  it('the right password removes the profile folder and the app is back to no vault', async () => {
    const events: ApiEvent[] = [];
    m.subscribe((e) => events.push(e));
    // Every file the open profile has (vault.db and its WAL while unlocked, the header, the search
    // snapshot, settings.json), hard-linked outside it so the bytes left in each inode can be read
    // back. Closing the vault deletes the WAL and replaces the snapshot: wipe must overwrite them anyway.
    // (vault.lock holds only a pid and is simply removed.)
    const links = [...files(profile)].filter(([path]) => !path.endsWith('vault.lock')).map(([path, original], i) => {
      const link = join(root, `link-${i}`);
      linkSync(path, link);
      return { path, link, original };
    });
    expect(links.map((l) => l.path)).toEqual(expect.arrayContaining([join(profile, 'vault.db'), join(profile, 'vault.db-wal'), join(profile, 'search-index.sealed'), join(profile, 'vault.header.json'), join(profile, 'settings.json')]));
    const summary = await m.wipeProfile({ password: PASSWORD });
    expect(summary.files).toBeGreaterThanOrEqual(4);
    for (const { path, link, original } of links) {
      const now = readFileSync(link);
      // An inode that held nothing has nothing to leak: vault.db-wal is empty here since schema 3
      // (the search snapshot key's write is checkpointed with TRUNCATE), and closing the vault
      // truncates a non-empty one before the wipe's overwrite reaches it.
      if (original.length === 0) expect(now.length, path).toBe(0);
      else expect(now.equals(original), path).toBe(false);
      if (path.endsWith('vault.db')) expect(now.subarray(0, 15).toString('latin1')).not.toBe('SQLite format 3');
    }
    expect(existsSync(profile)).toBe(false);
    expect((await m.vaultStatus()).vault).toBe('none');
    expect(events.filter((e) => e.name === 'vault').at(-1)).toMatchObject({ payload: { vault: 'none' } });
    // The same messenger creates a fresh vault in the same place.
    await m.createVault({ password: PASSWORD });
    expect((await m.vaultStatus()).vault).toBe('unlocked');
  });

  it('with a scrub owed (the lock then rebuilds vault.db in a worker), the wipe waits for it and removes the folder', async () => {
    // As an earlier unlock that deleted something and never locked leaves it (main/vault/scrub.ts).
    writeFileSync(join(profile, SCRUB_OWED_FILE), '');
    const summary = await m.wipeProfile({ password: PASSWORD });
    expect(summary.files).toBeGreaterThanOrEqual(4);
    expect(existsSync(profile)).toBe(false);
    expect((await m.vaultStatus()).vault).toBe('none');
  });
});
