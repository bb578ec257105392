// The real `ephemera` CLI as a child process: export / import / open-backup, --json, exit
// codes, the identity warning, and (in a pty) the passphrase prompt and progress bar.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IdentityKeyPair } from '@signalapp/libsignal-client';
import { Vault } from '../../main/vault/index.ts';
import { ageKeygen, ageRun, makeTempDir, type AgeKeyPair } from './helpers.ts';
import { repoRoot, runCli, type CliResult } from '../cli/run.ts';

const cliPath = fileURLToPath(new URL('../../cli/ephemera.ts', import.meta.url));
const PW = 'vault pw 1234';
const BP = 'backup passphrase';

type Result = CliResult;

/** The real CLI (test/cli/run.ts) with this file's vault password and passphrase; '' unsets one. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const full: Record<string, string> = { EPHEMERA_KDF: 'test', EPHEMERA_PASSWORD: PW, EPHEMERA_BACKUP_PASSPHRASE: BP, ...env };
  for (const k of Object.keys(env)) if (env[k] === '') delete full[k];
  return runCli(args, full);
}

const IDENTITY = IdentityKeyPair.generate().serialize();
const ALICE_KEY = IdentityKeyPair.generate().publicKey.serialize();

const json = (r: Result): Record<string, unknown> => JSON.parse(r.stdout.trim()) as Record<string, unknown>;

describe('ephemera CLI (backup subcommands)', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let source: string;
  let keys: AgeKeyPair;
  beforeAll(async () => {
    tmp = makeTempDir();
    keys = ageKeygen(tmp.dir);
    source = join(tmp.dir, 'source');
    const { vault } = await Vault.create(source, PW, { kdf: { memoryKiB: 19 * 1024, iterations: 1, parallelism: 1 } });
    vault.upsertContact({ id: 'c-a', handle: 'alice', displayName: 'Alice Émile', identityKey: ALICE_KEY, verifiedKey: ALICE_KEY, identityChanged: false, createdAt: 1 });
    vault.upsertConversation({ id: 'v-a', kind: 'direct', contactId: 'c-a', title: 'Alice Émile', lastActivity: 5, unread: 0 });
    vault.appendMessages(
      Array.from({ length: 9000 }, (_, i) => ({
        id: `m${i}`,
        conversationId: 'v-a',
        direction: (i % 2 ? 'out' : 'in') as 'in' | 'out',
        sender: i % 2 ? 'self' : 'c-a',
        sentAt: 1_763_900_000_000 + i * 60_000,
        text: `Grüße ${i} from the café`,
        state: 'read' as const,
      })),
    );
    vault.setAccountSecret('e2e-identity-key-pair', IDENTITY);
    vault.lock();
  });
  afterAll(() => tmp.cleanup());

  it('export, import into a new profile, import again: nothing added the second time', async () => {
    const file = join(tmp.dir, 'pass.age');
    const e = await cli(['--profile', source, '--json', 'export', file, '--work-factor', '10']);
    expect(e.code, e.stderr).toBe(0);
    expect(json(e)).toMatchObject({ ok: true, counts: { messages: 9000, contacts: 1, conversations: 1, secrets: 0 }, includesIdentity: false });
    expect(e.stderr).not.toContain('WARNING');

    expect(json(e).signer).toMatch(/^[0-9a-f]{8}( [0-9a-f]{8}){4}$/);

    // Signed by the source's identity, which the new profile does not have: refused without
    // --trust-unsigned, before any profile is created.
    const target = join(tmp.dir, 'target');
    const refused = await cli(['--profile', target, '--json', 'import', file]);
    expect(refused.code).toBe(15);
    expect(json(refused)).toMatchObject({ ok: false, code: 'UNTRUSTED' });
    expect(String(json(refused).message)).toContain(String(json(e).signer));
    expect(existsSync(target)).toBe(false);
    const first = await cli(['--profile', target, '--json', 'import', file, '--trust-unsigned']);
    expect(first.code, first.stderr).toBe(0);
    expect(json(first)).toMatchObject({ created: true, added: { messages: 9000, contacts: 1, conversations: 1 }, signer: { status: 'foreign', fingerprint: json(e).signer } });
    expect(typeof json(first).recoveryPhrase).toBe('string');
    const second = await cli(['--profile', target, '--json', 'import', file, '--trust-unsigned']);
    expect(second.code, second.stderr).toBe(0);
    expect(json(second)).toMatchObject({ created: false, added: { messages: 0, contacts: 0, conversations: 0, secrets: 0 } });
    // The confirmed foreign backup brought no verified mark, and no identity key to pin.
    const v = await Vault.unlock(target, PW);
    try {
      expect(v.getContact('c-a')?.verifiedKey).toBeUndefined();
      expect(v.getContact('c-a')?.identityKey).toBeUndefined();
    } finally {
      v.lock();
    }
  });

  it('--recipient export opens with --identity: history and search, human and --json', async () => {
    const file = join(tmp.dir, 'rcpt.age');
    const e = await cli(['--profile', source, 'export', file, '--recipient', keys.recipient]);
    expect(e.code, e.stderr + e.stdout).toBe(0);
    expect(ageRun(['-d', '-i', keys.identityFile, file]).status).toBe(0);
    const h = await cli(['open-backup', file, 'history', 'alice', '--identity', keys.identityFile, '--limit', '2', '--json'], { EPHEMERA_BACKUP_PASSPHRASE: '' });
    expect(h.code, h.stderr).toBe(0);
    expect((json(h).messages as Array<{ id: string }>).map((m) => m.id)).toEqual(['m8998', 'm8999']);
    const s = await cli(['open-backup', file, 'search', 'GRUSSE', '8999', '--identity', keys.identityFile]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain('Grüße 8999 from the café');
    const human = await cli(['open-backup', file, 'history', 'Alice Emile', '--identity', keys.identityFile, '--limit', '1']);
    expect(human.stdout).toContain('me: Grüße 8999 from the café');
    expect(readdirSync(tmp.dir).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('maps errors to exit codes and leaves no new profile behind', async () => {
    const file = join(tmp.dir, 'pass2.age');
    expect((await cli(['--profile', source, 'export', file, '--work-factor', '10'])).code).toBe(0);
    const wrong = await cli(['--json', 'open-backup', file, 'search', 'x'], { EPHEMERA_BACKUP_PASSPHRASE: 'nope' });
    expect(wrong.code).toBe(3);
    expect(json(wrong)).toMatchObject({ ok: false, code: 'WRONG_KEY' });

    const bytes = readFileSync(file);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 1;
    const bad = join(tmp.dir, 'bad.age');
    writeFileSync(bad, bytes);
    const fresh = join(tmp.dir, 'never-created');
    const r = await cli(['--profile', fresh, '--json', 'import', bad]);
    expect(r.code).toBe(5);
    expect(json(r)).toMatchObject({ ok: false, code: 'CORRUPT' });
    expect(existsSync(fresh)).toBe(false);

    const noKey = await cli(['open-backup', file, 'search', 'x'], { EPHEMERA_BACKUP_PASSPHRASE: '' });
    expect(noKey.code).toBe(2);
    const usage = await cli(['open-backup', file, 'browse', 'x']);
    expect(usage.code).toBe(2);
  });

  it('--with-identity warns, includes the identity, and import restores it only when asked', async () => {
    const file = join(tmp.dir, 'with-id.age');
    const e = await cli(['--profile', source, '--json', 'export', file, '--work-factor', '10', '--with-identity']);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stderr).toContain('WARNING');
    expect(json(e)).toMatchObject({ includesIdentity: true, counts: { secrets: 1 } });
    const target = join(tmp.dir, 'restored');
    const plain = await cli(['--profile', target, '--json', 'import', file, '--trust-unsigned']);
    expect(json(plain)).toMatchObject({ added: { secrets: 0 }, secretsSkipped: ['e2e-identity-key-pair'] });
    // Restoring the identity that signed it: the profile's own backup, no confirmation needed.
    const restored = await cli(['--profile', target, '--json', 'import', file, '--with-identity']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(json(restored)).toMatchObject({ added: { secrets: 1, messages: 0 }, signer: { status: 'own' } });
    const again = await cli(['--profile', target, '--json', 'import', file]);
    expect(again.code, again.stderr).toBe(0);
    expect(json(again)).toMatchObject({ signer: { status: 'own' } });
    const v = await Vault.unlock(target, PW);
    try {
      expect(Buffer.from(v.getAccountSecret('e2e-identity-key-pair')!)).toEqual(Buffer.from(IDENTITY));
    } finally {
      v.lock();
    }
  });

  it('in a terminal: prompts for the passphrase twice and draws a progress bar on stderr', async () => {
    const file = join(tmp.dir, 'tty.age');
    const cmd = [process.execPath, '--import', 'tsx', cliPath, '--profile', source, 'export', file, '--work-factor', '10']
      .map((a) => `'${a}'`)
      .join(' ');
    const env: Record<string, string | undefined> = { ...process.env, EPHEMERA_KDF: 'test', EPHEMERA_PASSWORD: PW };
    delete env.EPHEMERA_BACKUP_PASSPHRASE;
    const out = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn('script', ['-qefc', cmd, '/dev/null'], { cwd: repoRoot, env, stdio: ['pipe', 'pipe', 'pipe'] });
      let output = '';
      let answered = 0;
      child.stdout.on('data', (d: Buffer) => {
        output += d.toString();
        const prompts = (output.match(/Backup passphrase: |Repeat to confirm: /g) ?? []).length;
        while (answered < prompts) {
          answered++;
          child.stdin.write(`${BP}\r`);
        }
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, output }));
    });
    expect(out.code, out.output).toBe(0);
    expect(out.output).toContain('Repeat to confirm');
    expect(out.output).toMatch(/export .*\d+\/9000 messages/);
    expect(out.output).toContain('Backup written to');
    const check = await cli(['--json', 'open-backup', file, 'search', 'Grüße 42 '], {});
    expect(check.code, check.stderr).toBe(0);
  });
});
