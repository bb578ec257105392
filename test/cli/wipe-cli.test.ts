// `ephemera wipe` through the real CLI process: a wrong password, a missing confirmation or a
// profile open elsewhere change no byte; the right password overwrites every file in place
// (seen through a hard link made outside the profile, which keeps the inode) and removes the folder.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { runCli, runCliInPty } from './run.ts';

/** The CLI under a real pseudo-terminal, answering one prompt. */
const inPty = (args: string[], env: Record<string, string>, prompt: string, reply: string) => runCliInPty(args, [{ prompt, reply }], env);

const PASSWORD = 'wipe test password';

/** Every file under dir (relative path -> bytes). */
function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

describe('ephemera wipe', () => {
  let root: string;
  let profile: string;

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'ephemera-wipe-'));
    profile = join(root, 'profile');
    const { vault } = await Vault.create(profile, PASSWORD, { kdf: TEST_KDF });
    vault.lock();
    // Stand-ins for the other files a profile holds: settings, an export kept in backups/.
    writeFileSync(join(profile, 'settings.json'), '{"theme":"dark"}');
    mkdirSync(join(profile, 'backups'));
    writeFileSync(join(profile, 'backups', 'old.ephemera-backup'), Buffer.alloc(5000, 7));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('a wrong password changes nothing (exit 3, WRONG_PASSWORD)', async () => {
    const before = snapshot(profile);
    const r = await runCli(['--profile', profile, '--json', 'wipe', '--yes'], { EPHEMERA_PASSWORD: 'not the password' });
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, code: 'WRONG_PASSWORD' });
    expect(snapshot(profile)).toEqual(before);
  });

  it('without --yes and without a terminal it refuses (exit 2), even with EPHEMERA_PASSWORD set', async () => {
    const before = snapshot(profile);
    const r = await runCli(['--profile', profile, 'wipe'], { EPHEMERA_PASSWORD: PASSWORD });
    expect(r.code).toBe(2);
    expect(snapshot(profile)).toEqual(before);
  });

  it('a profile open in another process is not touched (exit 4)', async () => {
    const vault = await Vault.unlock(profile, PASSWORD);
    try {
      const before = snapshot(profile);
      const r = await runCli(['--profile', profile, 'wipe', '--yes'], { EPHEMERA_PASSWORD: PASSWORD });
      expect(r.code).toBe(4);
      expect(snapshot(profile)).toEqual(before);
    } finally {
      vault.lock();
    }
  });

  it('the right password overwrites every file in place, then removes the profile folder', async () => {
    // Hard links outside the profile keep the inodes alive after the unlink, so the bytes the
    // wipe left in them can be read back.
    // vault.scrubbed.json: the time of the last scrub (non-secret), written since afd777a at create.
    const names = ['vault.db', 'vault.header.json', 'vault.scrubbed.json', 'settings.json', join('backups', 'old.ephemera-backup')];
    expect([...snapshot(profile).keys()].sort()).toEqual([...names].sort());
    const links = names.map((name, i) => {
      const link = join(root, `link-${i}`);
      linkSync(join(profile, name), link);
      return { link, original: readFileSync(link) };
    });
    const r = await runCli(['--profile', profile, '--json', 'wipe', '--yes'], { EPHEMERA_PASSWORD: PASSWORD });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, profile, files: names.length });
    expect(existsSync(profile)).toBe(false);
    for (const { link, original } of links) {
      const now = readFileSync(link);
      expect(statSync(link).nlink).toBe(1);
      expect(now.length).toBe(original.length);
      expect(now.equals(original)).toBe(false);
      // Not a partial overwrite: no 16-byte run of the original survives at its offset.
      for (let off = 0; off + 16 <= now.length; off += 16) {
        expect(now.subarray(off, off + 16).equals(original.subarray(off, off + 16))).toBe(false);
      }
    }
    expect(readFileSync(links[0]!.link).subarray(0, 15).toString('latin1')).not.toBe('SQLite format 3');
  });

  it('on a terminal without --yes it asks (no echo) and ignores EPHEMERA_PASSWORD', async () => {
    const before = snapshot(profile);
    // The right password in the environment does not count without --yes: the typed one does.
    const wrong = await inPty(['--profile', profile, 'wipe'], { EPHEMERA_PASSWORD: PASSWORD }, 'Password to delete all data: ', 'typed wrong secret');
    expect(wrong.code).toBe(3);
    expect(wrong.transcript).not.toContain('typed wrong secret');
    expect(snapshot(profile)).toEqual(before);
    const right = await inPty(['--profile', profile, 'wipe'], {}, 'Password to delete all data: ', PASSWORD);
    expect(right.code).toBe(0);
    expect(right.transcript).not.toContain(PASSWORD);
    expect(existsSync(profile)).toBe(false);
  });

  it('no vault: exit 7, nothing removed', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'keep.txt'), 'x');
    const r = await runCli(['--profile', empty, 'wipe', '--yes'], { EPHEMERA_PASSWORD: PASSWORD });
    expect(r.code).toBe(7);
    expect(readFileSync(join(empty, 'keep.txt'), 'utf8')).toBe('x');
  });
});
