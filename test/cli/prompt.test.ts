// Interactive input through a real pseudo-terminal (util-linux `script`): the password prompt
// does not echo, asks twice on init, and a wrong confirmation is refused.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { runCliInPty } from './run.ts';

const hasScript = existsSync('/usr/bin/script');

/** The CLI under a pty with the test key-derivation parameters. */
const inPty = (args: string[], answers: { prompt: string; reply: string }[]) => runCliInPty(args, answers, { EPHEMERA_KDF: 'test' });

describe.skipIf(!hasScript)('CLI prompts on a terminal', () => {
  const root = mkdtempSync(join(tmpdir(), 'ephemera-cli-pty-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('init asks twice without echo; unlock-check prompts; mismatch is a usage error', async () => {
    const profile = join(root, 'p');
    const mismatch = await inPty(['--profile', profile, 'init'], [
      { prompt: 'New password:', reply: 'Typed-Once-111' },
      { prompt: 'Repeat to confirm:', reply: 'Typed-Other-222' },
    ]);
    expect(mismatch.code).toBe(2);
    expect(mismatch.transcript).toContain('do not match');

    const init = await inPty(['--profile', profile, 'init'], [
      { prompt: 'New password:', reply: 'Hidden-Pw-98765' },
      { prompt: 'Repeat to confirm:', reply: 'Hidden-Pw-98765' },
    ]);
    expect(init.code).toBe(0);
    expect(init.transcript).toContain('Recovery phrase');
    expect(init.transcript).not.toContain('Hidden-Pw-98765');

    const ok = await inPty(['--profile', profile, 'unlock-check'], [{ prompt: 'Password:', reply: 'Hidden-Pw-98765' }]);
    expect(ok.code).toBe(0);
    expect(ok.transcript).toContain('OK');
    expect(ok.transcript).not.toContain('Hidden-Pw-98765');
    const bad = await inPty(['--profile', profile, 'unlock-check'], [{ prompt: 'Password:', reply: 'nope' }]);
    expect(bad.code).toBe(3);
  });

  it('search on a terminal says it is opening the index while it unlocks, then clears that line', async () => {
    const profile = join(root, 's');
    const { vault } = await Vault.create(profile, 'Search-Pw-24680', { kdf: TEST_KDF });
    vault.upsertConversation({ id: 'd-one', kind: 'direct', contactId: 'c-one', title: 'one', lastActivity: 1, unread: 0 });
    vault.appendMessages([{ id: 'm-one', conversationId: 'd-one', direction: 'in', sender: 'c-one', sentAt: 1, text: 'quinces in the cellar', state: 'received' }]);
    vault.lock();
    const r = await inPty(['--profile', profile, 'search', 'quinces'], [{ prompt: 'Password:', reply: 'Search-Pw-24680' }]);
    expect(r.code, r.transcript).toBe(0);
    const shown = r.transcript.indexOf('opening the vault and its search index...');
    const cleared = r.transcript.indexOf('\r\u001b[K', shown);
    expect(shown).toBeGreaterThan(0);
    expect(cleared).toBeGreaterThan(shown);
    expect(r.transcript.indexOf('1 result.')).toBeGreaterThan(cleared);
  });
});
