// Shared helpers for `ephemera` subcommands: exit codes, error mapping, password and phrase
// input (environment or a no-echo prompt), and human/JSON output. Every command module uses
// these so behaviour is the same across subcommands.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { VaultError } from '../main/vault/errors.ts';
import { CliError, ExitCode, exitCodeFor } from './errors.ts';
import { DEFAULT_KDF, TEST_KDF, Vault, type KdfParams } from '../main/vault/index.ts';
import { headerMissingMessage } from '../main/vault/recovery-copy.ts';
import { forTerminal, jsonForTerminal, untrusted } from './terminal.ts';

// The exit codes and the one map from error codes to them live in cli/errors.ts; command modules
// import them from here too.
export { API_EXIT, CliError, EXIT_CODES_HELP, ExitCode, exitCodeFor, type ExitCodeValue } from './errors.ts';

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
  const apiCode = err instanceof CliError ? err.apiCode : undefined;
  if (json) printJson({ ok: false, code, message, ...(apiCode !== undefined ? { apiCode } : {}) });
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
