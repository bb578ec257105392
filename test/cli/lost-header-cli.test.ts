// `ephemera` with a lost vault.header.json: init refuses and leaves vault.db
// byte-identical, other commands say what happened, and `recover` with the phrase restores it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vault } from '../../main/vault/index.ts';
import { runCli, type CliResult } from './run.ts';

/** The real CLI (test/cli/run.ts: no caller EPHEMERA_* variable leaks in), at the test KDF. */
function cli(args: string[], env: Record<string, string> = {}, stdin = ''): Promise<CliResult> {
  return runCli(args, { EPHEMERA_KDF: 'test', ...env }, stdin);
}

describe('ephemera with a lost vault.header.json', () => {
  const root = mkdtempSync(join(tmpdir(), 'ephemera-lost-header-'));
  const profile = join(root, 'profile');
  let phrase = '';

  beforeAll(async () => {
    const r = await cli(['--profile', profile, '--json', 'init'], { EPHEMERA_PASSWORD: 'Lantern-Orchid-Quartz-7319' });
    expect(r.code).toBe(0);
    phrase = (JSON.parse(r.stdout) as { recoveryPhrase: string }).recoveryPhrase;
    const vault = await Vault.unlock(profile, 'Lantern-Orchid-Quartz-7319');
    vault.appendMessages([{ id: 'm1', conversationId: 'c1', direction: 'in', sender: 's', sentAt: 1, text: 'still here', state: 'received' }]);
    vault.lock();
    unlinkSync(join(profile, 'vault.header.json'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('init refuses (exit 8) with what happened and how to recover; vault.db byte-identical', async () => {
    const db = readFileSync(join(profile, 'vault.db'));
    const r = await cli(['--profile', profile, 'init'], { EPHEMERA_PASSWORD: 'Harbor-Violet-Granite-2846' });
    expect(r.code).toBe(8);
    expect(r.stderr).toContain('vault.header.json is missing; nothing was changed');
    expect(r.stderr).toContain(`ephemera recover --profile ${profile}`);
    expect(readFileSync(join(profile, 'vault.db')).equals(db)).toBe(true);
    for (const command of ['unlock-check', 'status']) {
      const u = await cli(['--profile', profile, command], { EPHEMERA_PASSWORD: 'Lantern-Orchid-Quartz-7319' });
      expect({ command, code: u.code }).toEqual({ command, code: 5 });
      expect(u.stderr).toContain('vault.header.json is missing');
    }
    expect(readFileSync(join(profile, 'vault.db')).equals(db)).toBe(true);
  });

  it('recover with the phrase restores the header; the history is readable with the new password', async () => {
    const r = await cli(['--profile', profile, 'recover'], { EPHEMERA_NEW_PASSWORD: 'Meadow-Copper-Falcon-5082' }, `${phrase}\n`);
    expect(r.code).toBe(0);
    const check = await cli(['--profile', profile, '--json', 'unlock-check'], { EPHEMERA_PASSWORD: 'Meadow-Copper-Falcon-5082' });
    expect(check.code).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ messages: 1 });
  });
});
