// A lost vault.header.json: create must not clear the remaining vault.db; unlock says
// what happened; the recovery phrase opens the vault from vault.db's recovery copy alone and
// writes a new header.
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { NoVault, VaultCorrupt, VaultExists, WrongPassword, WrongRecoveryPhrase } from '../../main/vault/errors.ts';
import { newRecoveryPhrase } from '../../main/vault/kdf.ts';
import { msg, snapshotDir, tempProfile } from './helpers.ts';

const PW = 'lost header pw';

describe('a lost vault.header.json', () => {
  const profiles: ReturnType<typeof tempProfile>[] = [];
  afterEach(() => {
    for (const p of profiles.splice(0)) p.cleanup();
  });

  async function vaultWithHistory(): Promise<{ dir: string; phrase: string; texts: string[] }> {
    const profile = tempProfile();
    profiles.push(profile);
    const { vault, recoveryPhrase } = await Vault.create(profile.dir, PW, { kdf: TEST_KDF });
    const texts = Array.from({ length: 30 }, (_, i) => `kept ${i}`);
    vault.appendMessages(texts.map((t) => msg('conv', t)));
    // The copy holds no password wrap, so a password change leaves it valid.
    await vault.changePassword(PW, `${PW} 2`);
    await vault.changePassword(`${PW} 2`, PW);
    vault.lock();
    return { dir: profile.dir, phrase: recoveryPhrase, texts };
  }

  it('create refuses, saying what happened and how to recover; every file byte-identical', async () => {
    const { dir } = await vaultWithHistory();
    unlinkSync(join(dir, 'vault.header.json'));
    const before = snapshotDir(dir);
    expect(Vault.headerMissing(dir)).toBe(true);
    expect(Vault.headerLost(dir)).toBe(true);
    const err = await Vault.create(dir, 'new password', { kdf: TEST_KDF }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VaultExists);
    expect((err as Error).message).toMatch(/vault\.db exists .* but vault\.header\.json is missing; nothing was changed/);
    expect((err as Error).message).toContain('ephemera recover');
    expect(snapshotDir(dir)).toEqual(before);
    // Unlock with the password cannot work without the header: it says why, and changes nothing.
    await expect(Vault.unlock(dir, PW)).rejects.toThrow(/vault\.header\.json is missing/);
    await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(VaultCorrupt);
    expect(snapshotDir(dir)).toEqual(before);
  });

  it('the recovery phrase opens it from the database alone and writes a new header', async () => {
    const { dir, phrase, texts } = await vaultWithHistory();
    unlinkSync(join(dir, 'vault.header.json'));
    const before = snapshotDir(dir);
    const wrong = newRecoveryPhrase(Buffer.alloc(32, 7));
    await expect(Vault.unlockWithRecovery(dir, wrong, 'new pw')).rejects.toBeInstanceOf(WrongRecoveryPhrase);
    expect(snapshotDir(dir)).toEqual(before);

    const vault = await Vault.unlockWithRecovery(dir, phrase, 'new pw');
    expect(vault.pageMessages('conv', { limit: 100 }).map((m) => m.text)).toEqual(texts);
    vault.lock();
    expect(existsSync(join(dir, 'vault.header.json'))).toBe(true);
    const again = await Vault.unlock(dir, 'new pw');
    expect(again.countMessages()).toBe(texts.length);
    again.lock();
    await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(WrongPassword);
  });

  it('a copy with a changed vault id or a KDF above the ceiling does not open it; nothing changes', async () => {
    const { dir, phrase } = await vaultWithHistory();
    unlinkSync(join(dir, 'vault.header.json'));
    const db = new Database(join(dir, 'vault.db'));
    const row = db.prepare<[], { sealed: Buffer }>("SELECT sealed FROM vault_meta WHERE name = 'recovery_copy'").get();
    db.close();
    if (!row) throw new Error('no recovery copy');
    const copy = JSON.parse(row.sealed.toString('utf8')) as { vaultId: string; kdf: { memoryKiB: number } };
    const edit = (value: object): void => {
      const d = new Database(join(dir, 'vault.db'));
      d.prepare("UPDATE vault_meta SET sealed = ? WHERE name = 'recovery_copy'").run(Buffer.from(JSON.stringify(value)));
      d.close();
    };
    edit({ ...copy, vaultId: Buffer.alloc(16, 1).toString('base64') });
    let before = snapshotDir(dir);
    await expect(Vault.unlockWithRecovery(dir, phrase, 'x')).rejects.toBeInstanceOf(WrongRecoveryPhrase);
    expect(snapshotDir(dir)).toEqual(before);
    edit({ ...copy, kdf: { ...copy.kdf, memoryKiB: 8 * 1024 * 1024 } });
    before = snapshotDir(dir);
    await expect(Vault.unlockWithRecovery(dir, phrase, 'x')).rejects.toMatchObject({ code: 'BAD_PARAMETERS' });
    expect(snapshotDir(dir)).toEqual(before);
  });

  it('a database without a copy (an interrupted create, or an older vault) is moved aside by create, not deleted', async () => {
    const { dir, phrase } = await vaultWithHistory();
    const db = new Database(join(dir, 'vault.db'));
    db.prepare("DELETE FROM vault_meta WHERE name = 'recovery_copy'").run();
    const rows = (db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
    db.close();
    unlinkSync(join(dir, 'vault.header.json'));
    expect(Vault.headerLost(dir)).toBe(false);
    await expect(Vault.unlockWithRecovery(dir, phrase, 'x')).rejects.toThrow(/holds no copy of the recovery data/);
    const { vault, setAside } = await Vault.create(dir, 'fresh', { kdf: TEST_KDF });
    expect(vault.countMessages()).toBe(0);
    vault.lock();
    // Kept, private, with every row: restoring the old header beside it would open it again.
    expect(setAside).toMatch(/[/\\]vault\.db\.orphaned-[0-9TZ-]+$/);
    expect(statSync(setAside!).mode & 0o777).toBe(0o600);
    const kept = new Database(setAside!, { readonly: true });
    expect((kept.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n).toBe(rows);
    kept.close();
    expect(rows).toBeGreaterThan(0);
    // No database, no header: simply no vault.
    const empty = tempProfile();
    profiles.push(empty);
    await expect(Vault.unlockWithRecovery(empty.dir, phrase, 'x')).rejects.toBeInstanceOf(NoVault);
  });

  it('vaults made before the copy existed get it on their next unlock', async () => {
    const { dir, phrase } = await vaultWithHistory();
    const db = new Database(join(dir, 'vault.db'));
    db.prepare("DELETE FROM vault_meta WHERE name = 'recovery_copy'").run();
    db.close();
    (await Vault.unlock(dir, PW)).lock();
    unlinkSync(join(dir, 'vault.header.json'));
    expect(Vault.headerLost(dir)).toBe(true);
    const vault = await Vault.unlockWithRecovery(dir, phrase, 'again');
    expect(vault.countMessages()).toBe(30);
    vault.lock();
  });

  it('through the API (Messenger): the vault shows as locked, unlock says why, the phrase opens it', async () => {
    const { dir, phrase, texts } = await vaultWithHistory();
    unlinkSync(join(dir, 'vault.header.json'));
    const m = await openMessenger({ profileDir: dir });
    try {
      // Not 'none': the app must offer unlock and "forgot password", not create (which refuses).
      expect((await m.vaultStatus()).vault).toBe('locked');
      await expect(m.unlock({ password: PW })).rejects.toMatchObject({ code: 'VAULT_CORRUPT', message: expect.stringContaining('Forgot password') });
      expect((await m.unlockWithRecovery({ recoveryPhrase: phrase, newPassword: 'Juniper-Atlas-Ember-4417' })).vault).toBe('unlocked');
      expect(existsSync(join(dir, 'vault.header.json'))).toBe(true);
      const vault = await (async () => {
        await m.lock();
        return Vault.unlock(dir, 'Juniper-Atlas-Ember-4417');
      })();
      expect(vault.pageMessages('conv', { limit: 100 }).map((x) => x.text)).toEqual(texts);
      vault.lock();
    } finally {
      await m.close();
    }
  });
});
