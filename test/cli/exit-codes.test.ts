// One exit code per error kind, each documented in `ephemera --help`, and one sentence per relay
// refusal. The tables are walked over the enums themselves, so a code added to ApiErrorCode,
// RpcErrorCode or the vault's errors without an exit code (or a sentence) fails here.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, ApiErrorCode } from '../../shared/api.ts';
import { RPC_ERROR_CODES, RpcError } from '../../shared/protocol/errors.ts';
import { VaultError, type VaultErrorCode } from '../../main/vault/errors.ts';
import { toServiceError } from '../../main/messenger/errors.ts';
import { RELAY_REFUSALS } from '../../main/messenger/refusals.ts';
import { cliErrorFor } from '../../cli/errors.ts';
import { API_EXIT, CliError, ExitCode, exitCodeFor } from '../../cli/io.ts';
import { documentedExitCodes, runCli } from './run.ts';

let help = '';
let documented = new Set<number>();
let root: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ephemera-exit-codes-'));
  const r = await runCli(['--help']);
  expect(r.code).toBe(0);
  help = r.stdout;
  documented = documentedExitCodes(help);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

// Exhaustive by type: a new VaultErrorCode without an entry here does not compile.
const VAULT_CODES = Object.keys({
  WRONG_PASSWORD: 1, VAULT_CORRUPT: 1, PROFILE_LOCKED: 1, UNSUPPORTED_VERSION: 1, VAULT_LOCKED: 1,
  VAULT_EXISTS: 1, NO_VAULT: 1, BAD_PARAMETERS: 1, WRONG_RECOVERY_PHRASE: 1, BUSY: 1,
} satisfies Record<VaultErrorCode, 1>) as VaultErrorCode[];

describe('exit codes', () => {
  it('every ExitCode value is distinct and documented in --help', () => {
    const values = Object.values(ExitCode);
    expect(new Set(values).size).toBe(values.length);
    for (const [name, value] of Object.entries(ExitCode)) expect(documented.has(value), `${name} (${value}) in --help`).toBe(true);
    // and --help documents no code the CLI does not have
    for (const n of documented) expect(values as number[]).toContain(n);
  });

  it('every API error code maps to a documented exit code', () => {
    for (const code of ApiErrorCode.options) {
      const exit = API_EXIT[code];
      expect(exit, code).toBeTypeOf('number');
      expect(documented.has(exit), `${code} -> ${exit}`).toBe(true);
      const mapped = cliErrorFor(new ApiError(code, 'm'));
      expect(mapped).toBeInstanceOf(CliError);
      expect((mapped as CliError).exitCode).toBe(exit);
    }
  });

  it('every vault error code maps to a documented exit code', () => {
    for (const code of VAULT_CODES) {
      expect(documented.has(exitCodeFor(new VaultError(code, 'm'))), code).toBe(true);
      // One map: a vault error exits as the API error of the same code does.
      expect(exitCodeFor(new VaultError(code, 'm')), code).toBe(API_EXIT[code]);
    }
  });

  it('every relay refusal code has a sentence and a documented exit code', () => {
    expect(RPC_ERROR_CODES.length).toBeGreaterThan(10);
    for (const code of RPC_ERROR_CODES) {
      const r = RELAY_REFUSALS[code];
      expect(r, code).toBeDefined();
      const sentence = r.sentence({ handle: 'alice' });
      expect(sentence, code).toMatch(/^[A-Za-z].{15,}[.]$/);
      expect(sentence, code).not.toContain(code);
      const exit = API_EXIT[r.code];
      expect(documented.has(exit), `${code} -> ${exit}`).toBe(true);
      // The refusal as main throws it (about the handle the call named), then as the CLI exits.
      const mapped = cliErrorFor(toServiceError(new RpcError(code, 'detail'), { handle: 'alice' })) as CliError;
      expect(mapped.message).toBe(sentence);
      expect(mapped.exitCode).toBe(exit);
    }
    expect(RELAY_REFUSALS.HANDLE_TAKEN.sentence({ handle: 'alice' })).toBe('alice is already taken on this relay; choose another handle.');
    expect(API_EXIT[RELAY_REFUSALS.HANDLE_TAKEN.code]).toBe(ExitCode.HANDLE_TAKEN);
    // Refusals that pass are "busy, try again"; refusals of this client's request are "refused".
    for (const code of ['RATE_LIMITED', 'QUEUE_FULL', 'INTERNAL', 'AUTH_KEY_UNBOUND'] as const) expect(API_EXIT[RELAY_REFUSALS[code].code], code).toBe(ExitCode.BUSY);
    for (const code of ['BAD_REQUEST', 'UNKNOWN_METHOD', 'BIND_INVALID', 'EXPIRES_AT_INVALID'] as const) expect(API_EXIT[RELAY_REFUSALS[code].code], code).toBe(ExitCode.RELAY_REJECTED);
    // The table has no entry for a code the protocol does not define.
    expect(Object.keys(RELAY_REFUSALS).sort()).toEqual([...RPC_ERROR_CODES].sort());
  });

  it('a refusal code this client does not know is "relay refused" with the relay\'s words', () => {
    const mapped = cliErrorFor(toServiceError(new RpcError('SOMETHING_NEW'))) as CliError;
    expect(mapped.exitCode).toBe(ExitCode.RELAY_REJECTED);
    expect(mapped.message).toContain('SOMETHING_NEW');
  });

  it('a malformed handle is the documented invalid-handle code, before any profile is opened', async () => {
    expect(help).toMatch(new RegExp(`^ {2}${ExitCode.INVALID_HANDLE} +invalid handle`, 'm'));
    const profile = join(root, 'no-vault-here');
    const add = await runCli(['--profile', profile, 'contact', 'add', 'a b']);
    expect(add.code, add.stderr).toBe(ExitCode.INVALID_HANDLE);
    expect(add.stderr).toContain('"a b" is not a valid handle');
    const reg = await runCli(['--profile', profile, '--json', 'register', '--server', join(root, 'none.json'), '--handle', 'x y']);
    expect(reg.code, reg.stderr).toBe(ExitCode.INVALID_HANDLE);
    expect(JSON.parse(reg.stdout.trim())).toMatchObject({ ok: false, code: 'INVALID_HANDLE' });
    for (const cmd of [['send', 'Bob!', 'hi'], ['history', 'ab'], ['safety-number', 'x'.repeat(33)], ['verify', 'ALICE']]) {
      expect((await runCli(['--profile', profile, ...cmd])).code, cmd.join(' ')).toBe(ExitCode.INVALID_HANDLE);
    }
  });
});
