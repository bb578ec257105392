// Every typed vault error, each provoked from real files on disk.
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { copyFileSync, existsSync, readFileSync, readdirSync, truncateSync, writeFileSync, statSync, mkdirSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import {
  BadParameters,
  NoVault,
  ProfileLocked,
  UnsupportedVersion,
  VaultCorrupt,
  VaultExists,
  WrongPassword,
  WrongRecoveryPhrase,
} from '../../main/vault/errors.ts';
import { msg, snapshotDir, tempProfile } from './helpers.ts';

const PW = 'the right password';

describe('vault errors from real files', () => {
  const profiles: ReturnType<typeof tempProfile>[] = [];
  afterEach(() => {
    for (const p of profiles.splice(0)) p.cleanup();
  });

  async function made(withMessages = 50): Promise<{ dir: string; phrase: string }> {
    const profile = tempProfile();
    profiles.push(profile);
    const { vault, recoveryPhrase } = await Vault.create(profile.dir, PW, { kdf: TEST_KDF });
    if (withMessages > 0) vault.appendMessages(Array.from({ length: withMessages }, (_, i) => msg('conv', `text ${i}`)));
    vault.lock();
    return { dir: profile.dir, phrase: recoveryPhrase };
  }

  it('WrongPassword leaves every file byte-identical, and the right one still works', async () => {
    const { dir } = await made();
    const before = snapshotDir(dir);
    await expect(Vault.unlock(dir, 'not it')).rejects.toBeInstanceOf(WrongPassword);
    await expect(Vault.unlock(dir, '')).rejects.toBeInstanceOf(WrongPassword);
    expect(snapshotDir(dir)).toEqual(before);
    const v = await Vault.unlock(dir, PW);
    expect(v.countMessages()).toBe(50);
    v.lock();
  });

  it('WrongRecoveryPhrase for a valid phrase of another vault and for garbage; files untouched', async () => {
    const { dir } = await made();
    const { phrase: otherPhrase } = await made(0);
    const before = snapshotDir(dir);
    await expect(Vault.unlockWithRecovery(dir, otherPhrase, 'new pw')).rejects.toBeInstanceOf(WrongRecoveryPhrase);
    await expect(Vault.unlockWithRecovery(dir, 'abandon abandon abandon', 'new pw')).rejects.toBeInstanceOf(WrongRecoveryPhrase);
    expect(snapshotDir(dir)).toEqual(before);
  });

  it('recovery sets a new password; changePassword re-wraps and the old password stops working', async () => {
    const { dir, phrase } = await made();
    const dbBefore = readFileSync(join(dir, 'vault.db'));
    const v = await Vault.unlockWithRecovery(dir, `  ${phrase.toUpperCase()}  `, 'recovered pw');
    expect(v.countMessages()).toBe(50);
    await expect(v.changePassword('wrong old', 'x')).rejects.toBeInstanceOf(WrongPassword);
    await v.changePassword('recovered pw', 'changed pw');
    v.lock();
    // Recovery and password change re-wrap the data key in the header only.
    expect(readFileSync(join(dir, 'vault.db')).equals(dbBefore)).toBe(true);
    await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(WrongPassword);
    await expect(Vault.unlock(dir, 'recovered pw')).rejects.toBeInstanceOf(WrongPassword);
    const again = await Vault.unlock(dir, 'changed pw');
    expect(again.countMessages()).toBe(50);
    again.lock();
    // The phrase keeps working after a password change.
    (await Vault.unlockWithRecovery(dir, phrase, 'third pw')).lock();
  });

  it('ProfileLocked for a second open of a profile that is open', async () => {
    const { dir } = await made();
    const v = await Vault.unlock(dir, PW);
    try {
      await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(ProfileLocked);
      await expect(Vault.unlockWithRecovery(dir, 'x', 'y')).rejects.toBeInstanceOf(WrongRecoveryPhrase);
    } finally {
      v.lock();
    }
    expect(existsSync(join(dir, 'vault.lock'))).toBe(false);
  });

  it('ProfileLocked while another process has the vault open, even if its lock file is deleted', async () => {
    const { dir } = await made();
    const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
    const holder = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/hold-open.ts', import.meta.url)), dir, PW], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (d: Buffer) => (d.toString().startsWith('ready') ? resolve() : undefined));
        holder.on('exit', () => reject(new Error('holder exited')));
      });
      await expect(Vault.unlock(dir, PW)).rejects.toThrow(new RegExp(`ProfileLocked|pid ${holder.pid}`));
      await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(ProfileLocked);
      // Lose the lock file (e.g. a racing stale-lock takeover): SQLite's exclusive lock still refuses.
      unlinkSync(join(dir, 'vault.lock'));
      await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(ProfileLocked);
      expect(existsSync(join(dir, 'vault.lock'))).toBe(false);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => (holder.exitCode !== null || holder.signalCode !== null ? r(undefined) : holder.once('exit', r)));
    }
    const v = await Vault.unlock(dir, PW);
    expect(v.countMessages()).toBe(50);
    v.lock();
  });

  it('ProfileLocked for a lock held by another live process; a dead owner is a stale lock', async () => {
    const { dir } = await made();
    // A live foreign pid: this test's parent process is alive and is not us.
    writeFileSync(join(dir, 'vault.lock'), JSON.stringify({ pid: process.ppid, host: hostname() }));
    await expect(Vault.unlock(dir, PW)).rejects.toThrow(ProfileLocked);
    await expect(Vault.unlock(dir, PW)).rejects.toThrow(new RegExp(`pid ${process.ppid}`));
    // A pid that has exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    writeFileSync(join(dir, 'vault.lock'), JSON.stringify({ pid: Number(dead), host: hostname() }));
    const v = await Vault.unlock(dir, PW);
    expect(JSON.parse(readFileSync(join(dir, 'vault.lock'), 'utf8'))).toMatchObject({ pid: process.pid });
    v.lock();
  });

  it('NoVault for an empty or missing directory; VaultExists for a second create', async () => {
    const profile = tempProfile();
    profiles.push(profile);
    await expect(Vault.unlock(profile.dir, PW)).rejects.toBeInstanceOf(NoVault);
    mkdirSync(profile.dir, { recursive: true });
    await expect(Vault.unlock(profile.dir, PW)).rejects.toBeInstanceOf(NoVault);
    const { dir } = await made(0);
    const before = snapshotDir(dir);
    await expect(Vault.create(dir, PW, { kdf: TEST_KDF })).rejects.toBeInstanceOf(VaultExists);
    expect(snapshotDir(dir)).toEqual(before);
  });

  it('create recovers from an interrupted create (database left without its header)', async () => {
    const profile = tempProfile();
    profiles.push(profile);
    mkdirSync(profile.dir, { recursive: true });
    writeFileSync(join(profile.dir, 'vault.db'), Buffer.alloc(0));
    writeFileSync(join(profile.dir, 'vault.db-wal'), Buffer.alloc(100, 1));
    expect(Vault.exists(profile.dir)).toBe(false);
    const { vault } = await Vault.create(profile.dir, PW, { kdf: TEST_KDF });
    vault.appendMessages([msg('c', 'fresh')]);
    vault.lock();
    const again = await Vault.unlock(profile.dir, PW);
    expect(again.countMessages()).toBe(1);
    again.lock();
  });

  it('BadParameters below the floor or above the ceiling, before any work or file', async () => {
    const profile = tempProfile();
    profiles.push(profile);
    const bad = [
      { memoryKiB: 18 * 1024, iterations: 1, parallelism: 1 },
      { memoryKiB: 4 * 1024 * 1024 + 1, iterations: 1, parallelism: 1 },
      { memoryKiB: 19 * 1024, iterations: 21, parallelism: 1 },
      { memoryKiB: 19 * 1024, iterations: 0, parallelism: 1 },
      { memoryKiB: 19 * 1024, iterations: 1, parallelism: 17 },
      { memoryKiB: 19 * 1024.5, iterations: 1, parallelism: 1 },
    ];
    for (const kdf of bad) await expect(Vault.create(profile.dir, PW, { kdf })).rejects.toBeInstanceOf(BadParameters);
    expect(existsSync(profile.dir)).toBe(false);
    await expect(Vault.create(profile.dir, '', { kdf: TEST_KDF })).rejects.toBeInstanceOf(BadParameters);

    // A crafted header asking for 8 GiB is refused on unlock, instantly.
    const { dir } = await made(0);
    const header = JSON.parse(readFileSync(join(dir, 'vault.header.json'), 'utf8')) as { kdf: { memoryKiB: number; iterations: number } };
    header.kdf.memoryKiB = 8 * 1024 * 1024;
    writeFileSync(join(dir, 'vault.header.json'), JSON.stringify(header));
    await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(BadParameters);
    header.kdf.memoryKiB = 19 * 1024;
    header.kdf.iterations = 1000;
    writeFileSync(join(dir, 'vault.header.json'), JSON.stringify(header));
    await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(BadParameters);
  });

  it('UnsupportedVersion for a newer header format or a newer database schema', async () => {
    const { dir } = await made();
    const headerPath = join(dir, 'vault.header.json');
    const original = readFileSync(headerPath);
    const header = JSON.parse(original.toString()) as { format: number };
    header.format = 2;
    writeFileSync(headerPath, JSON.stringify(header));
    await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(UnsupportedVersion);
    writeFileSync(headerPath, original);

    // An edited user_version is damage, not a newer build: the version is sealed (damage.test.ts
    // has the newer-build case).
    const db = new Database(join(dir, 'vault.db'));
    db.pragma('user_version = 99');
    db.close();
    const before = snapshotDir(dir);
    await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(VaultCorrupt);
    expect(snapshotDir(dir)).toEqual(before);
  });

  it('VaultCorrupt for a truncated or garbled header, a truncated or foreign database', async () => {
    const { dir } = await made(2000);
    const headerPath = join(dir, 'vault.header.json');
    const dbPath = join(dir, 'vault.db');
    const header = readFileSync(headerPath);
    writeFileSync(headerPath, header.subarray(0, header.length >> 1));
    await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(VaultCorrupt);
    writeFileSync(headerPath, '{"format":1,"vaultId":"AAAA"}');
    await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(VaultCorrupt);
    writeFileSync(headerPath, header);

    const db = readFileSync(dbPath);
    expect(readdirSync(dir).some((f) => f.endsWith('-wal'))).toBe(false);
    truncateSync(dbPath, Math.floor(statSync(dbPath).size / 2));
    await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(VaultCorrupt);
    truncateSync(dbPath, 4096 + 100);
    await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(VaultCorrupt);
    truncateSync(dbPath, 0);
    await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(VaultCorrupt);
    writeFileSync(dbPath, Buffer.alloc(8192, 7));
    await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(VaultCorrupt);
    writeFileSync(dbPath, db);
    const ok = await Vault.unlock(dir, PW);
    expect(ok.countMessages()).toBe(2000);
    ok.lock();

    // A database paired with another vault's header (same password): the key check fails.
    const { dir: other } = await made(0);
    copyFileSync(join(other, 'vault.header.json'), headerPath);
    await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(VaultCorrupt);
    expect(existsSync(join(dir, 'vault.lock'))).toBe(false);
  });
});
