// Shared helpers for `ephemera` subcommands: exit codes, error mapping, password and phrase
// input (environment or a no-echo prompt), and human/JSON output. Every command module uses
// these so behaviour is the same across subcommands.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { VaultError } from '../main/vault/errors.ts';
import type { ApiErrorCode } from '../shared/api.ts';
import { CodedError } from '../shared/errors.ts';
import { DEFAULT_KDF, TEST_KDF, Vault, type KdfParams } from '../main/vault/index.ts';
import { headerMissingMessage } from '../main/vault/recovery-copy.ts';
import { forTerminal, jsonForTerminal, untrusted } from './terminal.ts';

export const ExitCode = {
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  WRONG_SECRET: 3,
  PROFILE_LOCKED: 4,
  VAULT_CORRUPT: 5,
  UNSUPPORTED_VERSION: 6,
  NO_VAULT: 7,
  VAULT_EXISTS: 8,
  BAD_PARAMETERS: 9,
  // messaging (cli/commands/messaging.ts)
  UNKNOWN_CONTACT: 10,
  RELAY_UNREACHABLE: 11,
  NOT_REGISTERED: 12,
  IDENTITY_CHANGED: 13,
  RELAY_REJECTED: 14,
  // backup (cli/commands/backup.ts)
  UNTRUSTED_BACKUP: 15,
  // cli/errors.ts
  WEAK_SECRET: 16,
  INVALID_HANDLE: 17,
  HANDLE_TAKEN: 18,
  BUSY: 19,
  ALREADY_REGISTERED: 20,
  INTERRUPTED: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `
Exit codes:
  0    success
  1    unexpected error
  2    usage error (bad arguments, or a password is needed and there is no terminal and no env var)
  3    wrong password or wrong recovery phrase
  4    profile is open in another process
  5    vault is damaged or was tampered with
  6    vault was written by a newer version
  7    no vault in the profile directory
  8    a vault already exists in the profile directory
  9    refused parameters (key-derivation parameters out of range, empty password)
  10   unknown contact, handle or message (not in this profile, or no such handle on the relay)
  11   relay unreachable (a message being sent stays queued in the sealed outbox; send exits 0 and says so)
  12   profile not registered on a relay (run register first)
  13   the contact's identity key changed: compare the safety number, then accept-identity
  14   the relay refused the request (malformed, unknown to this relay version, or the connection key's binding)
  15   backup not signed by this profile's identity (import refused; --trust-unsigned after checking)
  16   password or backup passphrase too weak (the reason is printed; --allow-weak for tests)
  17   invalid handle (a handle is 3-32 of a-z, 0-9 and _)
  18   handle already taken on the relay
  19   busy: the relay is rate limiting, its queue for the contact is full or it failed, or the
       profile is busy with an import; try again later
  20   this profile is already registered (under another handle)
  130  interrupted at a prompt

Environment:
  EPHEMERA_PROFILE            profile directory when --profile is not given
  EPHEMERA_PASSWORD           the (current) vault password; otherwise you are prompted (no echo)
  EPHEMERA_NEW_PASSWORD       the new password for change-password and recover
  EPHEMERA_BACKUP_PASSPHRASE  the backup passphrase for export, import and open-backup
  EPHEMERA_KDF=test|default   test: the smallest legal Argon2id parameters for a new vault
                              (tests only; same as init --kdf-test)
  EPHEMERA_DEBUG=1            print the stack trace of an unexpected error (exit code 1)
`;

/**
 * The one map from error codes to exit codes: every error the messenger (shared/api.ts
 * ApiErrorCode) may throw, and so every vault error (its codes are API codes). Exhaustive by type.
 */
export const API_EXIT: Readonly<Record<ApiErrorCode, ExitCodeValue>> = {
  WRONG_PASSWORD: ExitCode.WRONG_SECRET,
  WRONG_RECOVERY_PHRASE: ExitCode.WRONG_SECRET,
  VAULT_LOCKED: ExitCode.ERROR,
  VAULT_EXISTS: ExitCode.VAULT_EXISTS,
  NO_VAULT: ExitCode.NO_VAULT,
  VAULT_CORRUPT: ExitCode.VAULT_CORRUPT,
  PROFILE_LOCKED: ExitCode.PROFILE_LOCKED,
  UNSUPPORTED_VERSION: ExitCode.UNSUPPORTED_VERSION,
  BAD_PARAMETERS: ExitCode.BAD_PARAMETERS,
  WEAK_PASSWORD: ExitCode.WEAK_SECRET,
  NOT_REGISTERED: ExitCode.NOT_REGISTERED,
  ALREADY_REGISTERED: ExitCode.ALREADY_REGISTERED,
  HANDLE_TAKEN: ExitCode.HANDLE_TAKEN,
  UNKNOWN_HANDLE: ExitCode.UNKNOWN_CONTACT,
  UNKNOWN_CONTACT: ExitCode.UNKNOWN_CONTACT,
  UNKNOWN_CONVERSATION: ExitCode.UNKNOWN_CONTACT,
  UNKNOWN_MESSAGE: ExitCode.UNKNOWN_CONTACT,
  IDENTITY_CHANGED: ExitCode.IDENTITY_CHANGED,
  BAD_DESCRIPTOR: ExitCode.USAGE,
  RELAY_UNREACHABLE: ExitCode.RELAY_UNREACHABLE,
  RELAY_REJECTED: ExitCode.RELAY_REJECTED,
  BACKUP_WRONG_KEY: ExitCode.WRONG_SECRET,
  BACKUP_CORRUPT: ExitCode.VAULT_CORRUPT,
  BACKUP_UNSUPPORTED: ExitCode.UNSUPPORTED_VERSION,
  BACKUP_UNTRUSTED: ExitCode.UNTRUSTED_BACKUP,
  FILE_ERROR: ExitCode.ERROR,
  CANCELLED: ExitCode.INTERRUPTED,
  UNKNOWN_BACKUP: ExitCode.USAGE,
  INVALID_ARGUMENT: ExitCode.USAGE,
  UNKNOWN_METHOD: ExitCode.ERROR,
  PROTOCOL_ERROR: ExitCode.ERROR,
  DISCONNECTED: ExitCode.ERROR,
  FORBIDDEN: ExitCode.ERROR,
  PATH_NOT_ALLOWED: ExitCode.USAGE,
  BUSY: ExitCode.BUSY,
  NOT_AVAILABLE: ExitCode.ERROR,
  INTERNAL: ExitCode.ERROR,
};

/** An error the CLI reports with a given exit code and a short machine code. */
export class CliError extends CodedError {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    code = 'USAGE',
  ) {
    super(code, message);
  }
}

export function exitCodeFor(err: unknown): ExitCodeValue {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof VaultError) return API_EXIT[err.code];
  return ExitCode.ERROR;
}

export interface GlobalOptions {
  profile: string;
  json: boolean;
}

/** --profile / --json from the root program; the profile falls back to EPHEMERA_PROFILE. */
export function globalOptions(cmd: Command): GlobalOptions {
  const opts = cmd.optsWithGlobals<{ profile?: string; json?: boolean }>();
  const profile = opts.profile ?? process.env.EPHEMERA_PROFILE;
  if (!profile) throw new CliError('no profile directory: pass --profile DIR or set EPHEMERA_PROFILE', ExitCode.USAGE);
  return { profile: resolve(profile), json: opts.json === true };
}

/** Fails before any prompt when the profile has no vault (asking for a password would be for nothing). */
/** Argon2 parameters for a new vault: `--kdf-test` or EPHEMERA_KDF=test picks the fast test set. */
export function kdfFor(kdfTest?: boolean): KdfParams {
  const env = process.env.EPHEMERA_KDF;
  if (env !== undefined && env !== 'test' && env !== 'default') throw new CliError('EPHEMERA_KDF must be "test" or "default"', ExitCode.USAGE);
  return kdfTest === true || env === 'test' ? TEST_KDF : DEFAULT_KDF;
}

export function requireVault(profile: string): void {
  if (Vault.headerMissing(profile)) throw new CliError(headerMissingMessage(profile), ExitCode.VAULT_CORRUPT, 'VAULT_CORRUPT');
  if (!Vault.exists(profile)) throw new CliError(`There is no vault in ${profile}; run init first.`, ExitCode.NO_VAULT, 'NO_VAULT');
}

/** The vault password: EPHEMERA_PASSWORD, else a no-echo prompt. */
export function currentPassword(): Promise<string> {
  return readSecret({ envVar: 'EPHEMERA_PASSWORD', prompt: 'Password: ', what: 'password' });
}

export function wantsJson(cmd: Command): boolean {
  return cmd.optsWithGlobals<{ json?: boolean }>().json === true;
}

// Every line a command prints goes through the functions below, which make untrusted text
// harmless on a terminal (cli/terminal.ts); commands never write to stdout/stderr themselves.

/** One JSON object on stdout (exact values; terminal-unsafe characters as \uXXXX escapes). */
export function printJson(data: Record<string, unknown>): void {
  process.stdout.write(`${jsonForTerminal(data)}\n`);
}

/** Prints the result: JSON object on stdout with --json, else the human text. */
export function printResult(json: boolean, human: string, data: Record<string, unknown>): void {
  if (json) printJson({ ok: true, ...data });
  else {
    const text = forTerminal(human, process.stdout.isTTY === true);
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }
}

/** A warning or notice for the user on stderr (also with --json, where stdout is for data). */
export function printNotice(text: string): void {
  process.stderr.write(`${forTerminal(text)}\n`);
}

export function printError(json: boolean, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  const code = err instanceof VaultError ? err.code : err instanceof CliError ? err.code : 'ERROR';
  if (json) printJson({ ok: false, code, message });
  // One line: error details can come from the relay or from a file.
  process.stderr.write(`ephemera: ${untrusted(message)}\n`);
}

/** Wraps a command action: maps thrown errors to their exit code and message. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1] as Command;
    try {
      await fn(...args);
    } catch (err) {
      printError(wantsJson(cmd), err);
      const code = exitCodeFor(err);
      if (code === ExitCode.ERROR && !(err instanceof VaultError) && !(err instanceof CliError) && process.env.EPHEMERA_DEBUG) {
        process.stderr.write(`${forTerminal((err as Error).stack ?? '')}\n`);
      }
      process.exitCode = code;
    }
  };
}

/**
 * A secret from `envVar`, else a no-echo prompt on the terminal. With `confirm`, the prompt
 * asks twice. Fails clearly (usage error) when there is neither.
 */
export async function readSecret(opts: { envVar: string; prompt: string; confirm?: boolean; what: string }): Promise<string> {
  const fromEnv = process.env[opts.envVar];
  if (fromEnv !== undefined) return fromEnv;
  if (!process.stdin.isTTY) {
    throw new CliError(`${opts.what} needed: set ${opts.envVar} or run in a terminal to be prompted`, ExitCode.USAGE);
  }
  const first = await promptHidden(opts.prompt);
  if (opts.confirm) {
    const second = await promptHidden('Repeat to confirm: ');
    if (first !== second) throw new CliError(`the two ${opts.what}s do not match`, ExitCode.USAGE);
  }
  return first;
}

/** Reads one line from the terminal without echoing it. Ctrl-C exits with 130. */
export function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolvePromise, reject) => {
    let value = '';
    const wasRaw = stdin.isRaw;
    // Echo off before the prompt appears, so nothing typed early is echoed.
    stdin.setRawMode(true);
    process.stderr.write(question);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err?: Error) => {
      stdin.setRawMode(wasRaw);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolvePromise(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new CliError('interrupted', ExitCode.INTERRUPTED, 'INTERRUPTED'));
        if (ch === '\u0004') {
          if (value.length === 0) return done(new CliError('no input', ExitCode.USAGE));
          return done();
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** All of stdin as text (for a piped recovery phrase). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
