// The real `ephemera` CLI as a child process: vault subcommands, --json, env/stdin input,
// exit codes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vault } from '../../main/vault/index.ts';
import { runCli, type CliResult } from './run.ts';

type Result = CliResult;

/** The CLI with the test key-derivation parameters and only the EPHEMERA_* variables given. */
function cli(args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}): Promise<Result> {
  return runCli(args, { EPHEMERA_KDF: 'test', ...opts.env }, opts.stdin ?? '');
}

function json(r: Result): Record<string, unknown> {
  return JSON.parse(r.stdout.trim()) as Record<string, unknown>;
}

describe('ephemera CLI (vault subcommands)', () => {
  let root: string;
  let profile: string;
  let phrase: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'ephemera-cli-test-'));
    profile = join(root, 'profile');
    // Short passwords throughout, so --allow-weak (test/cli/weak-secret.test.ts covers the check).
    const r = await cli(['--profile', profile, '--json', 'init', '--allow-weak'], { env: { EPHEMERA_PASSWORD: 'first pw' } });
    expect(r.code).toBe(0);
    phrase = json(r).recoveryPhrase as string;
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('--help documents the subcommands and the exit codes', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const word of ['init', 'unlock-check', 'change-password', 'recover', 'status', 'Exit codes', 'wrong password', 'EPHEMERA_PASSWORD']) {
      expect(r.stdout).toContain(word);
    }
  });

  it('init printed a 24-word phrase once (JSON) and stores it nowhere; a second init is exit 8', async () => {
    expect(phrase.split(' ')).toHaveLength(24);
    for (const f of readdirSync(profile)) expect(readFileSync(join(profile, f)).includes(Buffer.from(phrase))).toBe(false);
    const again = await cli(['--profile', profile, 'init'], { env: { EPHEMERA_PASSWORD: 'x' } });
    expect(again.code).toBe(8);
    expect(again.stderr).toContain('already exists');
  });

  it('human init shows the numbered phrase', async () => {
    const dir = join(root, 'human');
    const r = await cli(['--profile', dir, 'init', '--kdf-test', '--allow-weak'], { env: { EPHEMERA_PASSWORD: 'pw', EPHEMERA_KDF: 'default' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Recovery phrase/u);
    expect(r.stdout).toMatch(/24\. [a-z]+/u);
    // --kdf-test took effect although EPHEMERA_KDF said default.
    expect(json(await cli(['--profile', dir, '--json', 'status']))).toMatchObject({ kdf: { memoryKiB: 19 * 1024, iterations: 1, parallelism: 1 } });
  });

  it('unlock-check: 0 with the right password, 3 with a wrong one, 2 with no password and no terminal', async () => {
    const ok = await cli(['--profile', profile, '--json', 'unlock-check'], { env: { EPHEMERA_PASSWORD: 'first pw' } });
    expect(ok.code).toBe(0);
    expect(json(ok)).toMatchObject({ ok: true, messages: 0 });
    const wrong = await cli(['--profile', profile, '--json', 'unlock-check'], { env: { EPHEMERA_PASSWORD: 'nope' } });
    expect(wrong.code).toBe(3);
    expect(json(wrong)).toMatchObject({ ok: false, code: 'WRONG_PASSWORD' });
    const none = await cli(['--profile', profile, 'unlock-check']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('EPHEMERA_PASSWORD');
  });

  // Nine CLI processes one after another: past the 120 s default at load 12-20; nothing in it asserts on time.
  it('change-password and recover', { timeout: 240_000 }, async () => {
    const dir = join(root, 'change');
    const init = await cli(['--profile', dir, '--json', 'init', '--allow-weak'], { env: { EPHEMERA_PASSWORD: 'old pw' } });
    const p = json(init).recoveryPhrase as string;
    const bad = await cli(['--profile', dir, 'change-password', '--allow-weak'], { env: { EPHEMERA_PASSWORD: 'wrong', EPHEMERA_NEW_PASSWORD: 'new pw' } });
    expect(bad.code).toBe(3);
    const changed = await cli(['--profile', dir, 'change-password', '--allow-weak'], { env: { EPHEMERA_PASSWORD: 'old pw', EPHEMERA_NEW_PASSWORD: 'new pw' } });
    expect(changed.code).toBe(0);
    expect((await cli(['--profile', dir, 'unlock-check'], { env: { EPHEMERA_PASSWORD: 'old pw' } })).code).toBe(3);
    expect((await cli(['--profile', dir, 'unlock-check'], { env: { EPHEMERA_PASSWORD: 'new pw' } })).code).toBe(0);

    const wrongPhrase = await cli(['--profile', dir, '--json', 'recover', '--allow-weak'], { env: { EPHEMERA_NEW_PASSWORD: 'x' }, stdin: `${phrase}\n` });
    expect(wrongPhrase.code).toBe(3);
    expect(json(wrongPhrase)).toMatchObject({ code: 'WRONG_RECOVERY_PHRASE' });
    const noPassword = await cli(['--profile', dir, 'recover'], { stdin: `${p}\n` });
    expect(noPassword.code).toBe(2);
    const recovered = await cli(['--profile', dir, 'recover', '--allow-weak'], { env: { EPHEMERA_NEW_PASSWORD: 'recovered pw' }, stdin: `${p}\n` });
    expect(recovered.code).toBe(0);
    expect((await cli(['--profile', dir, 'unlock-check'], { env: { EPHEMERA_PASSWORD: 'recovered pw' } })).code).toBe(0);
  });

  it('status without a password; profile locked by another process is exit 4', async () => {
    const none = await cli(['--profile', join(root, 'empty'), '--json', 'status']);
    expect(none.code).toBe(0);
    expect(json(none)).toMatchObject({ exists: false });
    const vault = await Vault.unlock(profile, 'first pw');
    try {
      const st = await cli(['--profile', profile, '--json', 'status']);
      expect(st.code).toBe(0);
      expect(json(st)).toMatchObject({ exists: true, format: 1, lockedBy: process.pid });
      const locked = await cli(['--profile', profile, 'unlock-check'], { env: { EPHEMERA_PASSWORD: 'first pw' } });
      expect(locked.code).toBe(4);
      expect(locked.stderr).toContain(`pid ${process.pid}`);
    } finally {
      vault.lock();
    }
    const human = await cli(['--profile', profile, 'status'], { env: { EPHEMERA_PASSWORD: 'first pw' } });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/messages:\s+0/u);
  });

  it('maps vault errors to exit codes: 7 no vault, 5 corrupt, 6 newer version, 9 bad parameters', async () => {
    expect((await cli(['--profile', join(root, 'nothing'), 'unlock-check'], { env: { EPHEMERA_PASSWORD: 'x' } })).code).toBe(7);
    const dir = join(root, 'broken');
    expect((await cli(['--profile', dir, 'init', '--allow-weak'], { env: { EPHEMERA_PASSWORD: 'pw' } })).code).toBe(0);
    const headerPath = join(dir, 'vault.header.json');
    const header = readFileSync(headerPath, 'utf8');
    writeFileSync(headerPath, header.slice(0, 40));
    expect((await cli(['--profile', dir, 'unlock-check'], { env: { EPHEMERA_PASSWORD: 'pw' } })).code).toBe(5);
    writeFileSync(headerPath, header.replace('"format": 1', '"format": 7'));
    expect((await cli(['--profile', dir, 'unlock-check'], { env: { EPHEMERA_PASSWORD: 'pw' } })).code).toBe(6);
    writeFileSync(headerPath, header.replace(/"memoryKiB": \d+/u, '"memoryKiB": 8388608'));
    expect((await cli(['--profile', dir, 'unlock-check'], { env: { EPHEMERA_PASSWORD: 'pw' } })).code).toBe(9);
    // An empty password is refused by the strength check (16) and, past it, by the vault (9).
    expect((await cli(['--profile', join(root, 'e'), 'init'], { env: { EPHEMERA_PASSWORD: '' } })).code).toBe(16);
    expect((await cli(['--profile', join(root, 'e'), 'init', '--allow-weak'], { env: { EPHEMERA_PASSWORD: '' } })).code).toBe(9);
  });

  it('usage errors are exit 2', async () => {
    expect((await cli(['no-such-command'])).code).toBe(2);
    const noProfile = await cli(['status']);
    expect(noProfile.code).toBe(2);
    expect(noProfile.stderr).toContain('--profile');
    expect((await cli(['--profile', profile, 'init'], { env: { EPHEMERA_KDF: 'weird', EPHEMERA_PASSWORD: 'x' } })).code).toBe(2);
  });
});
