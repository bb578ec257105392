// One password-strength policy (shared/api/password-policy.ts) for vault passwords and backup
// passphrases, in the CLI, in main (the messenger) and in the renderer: a weak secret is refused
// with a reason and nothing is written; --allow-weak (CLI) / allowWeakSecrets (tests) let it by.
// test/renderer/logic.test.ts checks that the renderer's estimate is this same function.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estimateStrength, MIN_STRENGTH_SCORE, weakSecretReason } from '../../shared/api/password-policy.ts';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { ExitCode } from '../../cli/io.ts';
import { runCli } from './run.ts';

const STRONG = 'violet tractor sings 4 lanterns';
const STRONG_BACKUP = 'seven quiet otters juggle pebbles';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ephemera-weak-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the strength policy', () => {
  it('refuses short, common and patterned secrets with a reason; accepts a few random words', () => {
    for (const weak of ['', 'x', 'abc', 'password', 'Password1', 'aaaaaaaaaaaa', 'qwertyuiop', '12345678', 'ephemera2024']) {
      expect(estimateStrength(weak).score, weak).toBeLessThan(MIN_STRENGTH_SCORE);
      expect(weakSecretReason(weak, 'password'), weak).toMatch(/^This password is too weak \((Very weak|Weak|Fair), about \d+ bits; at least "Good" is needed\)\. /);
    }
    for (const strong of [STRONG, STRONG_BACKUP, 'correct horse battery staple', 'vG7#qL2!xR9$mT4']) {
      expect(weakSecretReason(strong, 'password'), strong).toBeUndefined();
    }
  });
});

describe('CLI', () => {
  it('init refuses a weak password (exit 16, reason, no vault); --allow-weak accepts it', async () => {
    const profile = join(root, 'init');
    const weak = await runCli(['--profile', profile, 'init', '--kdf-test'], { EPHEMERA_PASSWORD: 'x' });
    expect(weak.code, weak.stderr).toBe(ExitCode.WEAK_SECRET);
    expect(weak.stderr).toContain('This password is too weak');
    expect(Vault.exists(profile)).toBe(false);
    const ok = await runCli(['--profile', profile, 'init', '--kdf-test', '--allow-weak'], { EPHEMERA_PASSWORD: 'x' });
    expect(ok.code, ok.stderr).toBe(0);
    expect(Vault.exists(profile)).toBe(true);
  });

  it('change-password and recover refuse a weak new password; the old one keeps working', async () => {
    const profile = join(root, 'change');
    const init = await runCli(['--profile', profile, '--json', 'init', '--kdf-test'], { EPHEMERA_PASSWORD: STRONG });
    expect(init.code, init.stderr).toBe(0);
    const phrase = (JSON.parse(init.stdout) as { recoveryPhrase: string }).recoveryPhrase;
    const change = await runCli(['--profile', profile, '--json', 'change-password'], { EPHEMERA_PASSWORD: STRONG, EPHEMERA_NEW_PASSWORD: 'hunter2' });
    expect(change.code, change.stderr).toBe(ExitCode.WEAK_SECRET);
    expect(JSON.parse(change.stdout)).toMatchObject({ ok: false, code: 'WEAK_PASSWORD' });
    expect((await runCli(['--profile', profile, 'unlock-check'], { EPHEMERA_PASSWORD: STRONG })).code).toBe(0);
    expect((await runCli(['--profile', profile, 'unlock-check'], { EPHEMERA_PASSWORD: 'hunter2' })).code).toBe(ExitCode.WRONG_SECRET);
    const recover = await runCli(['--profile', profile, 'recover'], { EPHEMERA_NEW_PASSWORD: 'password1' }, `${phrase}\n`);
    expect(recover.code, recover.stderr).toBe(ExitCode.WEAK_SECRET);
    expect((await runCli(['--profile', profile, 'unlock-check'], { EPHEMERA_PASSWORD: STRONG })).code).toBe(0);
  });

  it('export refuses a one-character backup passphrase with a reason and writes nothing; --allow-weak accepts it; import into a new profile checks its password', async () => {
    const profile = join(root, 'export');
    expect((await runCli(['--profile', profile, 'init', '--kdf-test'], { EPHEMERA_PASSWORD: STRONG })).code).toBe(0);
    const file = join(root, 'weak.age');
    const env = { EPHEMERA_PASSWORD: STRONG, EPHEMERA_BACKUP_PASSPHRASE: 'x' };
    const weak = await runCli(['--profile', profile, 'export', file, '--work-factor', '10'], env);
    expect(weak.code, weak.stderr).toBe(ExitCode.WEAK_SECRET);
    expect(weak.stderr).toMatch(/This backup passphrase is too weak \(Very weak, about \d+ bits; at least "Good" is needed\)/);
    expect(existsSync(file)).toBe(false);
    const allowed = await runCli(['--profile', profile, 'export', file, '--work-factor', '10', '--allow-weak'], env);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(existsSync(file)).toBe(true);
    const strongFile = join(root, 'strong.age');
    const strong = await runCli(['--profile', profile, 'export', strongFile, '--work-factor', '10'], { ...env, EPHEMERA_BACKUP_PASSPHRASE: STRONG_BACKUP });
    expect(strong.code, strong.stderr).toBe(0);

    // import into a new profile sets a vault password: the same check, and no profile is left.
    const fresh = join(root, 'imported');
    const importEnv = { EPHEMERA_PASSWORD: 'x', EPHEMERA_BACKUP_PASSPHRASE: STRONG_BACKUP, EPHEMERA_KDF: 'test' };
    const weakImport = await runCli(['--profile', fresh, 'import', strongFile, '--trust-unsigned'], importEnv);
    expect(weakImport.code, weakImport.stderr).toBe(ExitCode.WEAK_SECRET);
    expect(weakImport.stderr).toContain('This password is too weak');
    expect(Vault.exists(fresh)).toBe(false);
    const okImport = await runCli(['--profile', fresh, 'import', strongFile, '--trust-unsigned'], { ...importEnv, EPHEMERA_PASSWORD: STRONG });
    expect(okImport.code, okImport.stderr).toBe(0);
  });
});

describe('main (the messenger)', () => {
  it('refuses a weak vault password and a weak backup passphrase itself, with the same reason', async () => {
    const dir = join(root, 'messenger');
    const m = await openMessenger({ profileDir: dir, kdf: TEST_KDF });
    try {
      await expect(m.createVault({ password: 'x' })).rejects.toMatchObject({ code: 'WEAK_PASSWORD', message: weakSecretReason('x', 'password') });
      expect(Vault.exists(dir)).toBe(false);
      await m.createVault({ password: STRONG });
      await expect(m.changePassword({ oldPassword: STRONG, newPassword: 'abc' })).rejects.toMatchObject({ code: 'WEAK_PASSWORD' });
      const file = join(root, 'messenger.age');
      await expect(
        m.backupExport({ jobId: 'job-weak-1', path: file, protection: { kind: 'passphrase', passphrase: 'x' }, includeIdentity: false }),
      ).rejects.toMatchObject({ code: 'WEAK_PASSWORD', message: weakSecretReason('x', 'backup passphrase') });
      expect(existsSync(file)).toBe(false);
    } finally {
      await m.close();
    }
    // The old password still opens it: the weak change was refused before anything changed.
    (await Vault.unlock(dir, STRONG)).lock();
  });

  it('allowWeakSecrets (tests only) lets a weak password by', async () => {
    const m = await openMessenger({ profileDir: join(root, 'messenger-weak'), kdf: TEST_KDF, allowWeakSecrets: true });
    try {
      await m.createVault({ password: 'x' });
    } finally {
      await m.close();
    }
  });
});
