// How CLI commands reach the messenger: through the contract (shared/api.ts), in-process. Every
// call goes through the client and dispatchCall of shared/api/rpc.ts, the same path as the
// Electron app and the browser host, so parameters are checked by the same schemas and errors
// arrive as the same ApiError codes and sentences; the CLI only chooses exit codes for them
// (cli/errors.ts API_EXIT).
import { InvalidArgumentError } from 'commander';
import { openMessenger, type Messenger } from '../main/messenger.ts';
import type { KdfParams } from '../main/vault/index.ts';
import type { Contact } from '../shared/api.ts';
import { createApiClient, dispatchCall, type EphemeraClient } from '../shared/api/rpc.ts';
import { BadParameters } from '../main/vault/errors.ts';
import { checkStrength, CliError, cliErrorFor, ExitCode } from './errors.ts';
import { currentPassword, printNotice, requireVault, type GlobalOptions } from './io.ts';

export interface OpenClientOptions {
  /** How long the messenger waits for the relay (connect and bind) in one call. */
  relayTimeoutMs?: number;
  /** One-shot commands: unlocking does not connect to the relay (MessengerOptions.offline). */
  offline?: boolean;
  /** Argon2id parameters for createVault (init: default, or the test set). */
  kdf?: KdfParams;
  /** --allow-weak: the messenger accepts a password the strength policy calls weak. */
  allowWeakSecrets?: boolean;
  /** export's hidden --work-factor below the contract's floor (tests only): MessengerOptions.backupWorkFactor. */
  backupWorkFactor?: number;
}

/** The contract served in-process by a messenger on `profileDir`; `close` locks and closes it. */
export async function openClient(profileDir: string, opts: OpenClientOptions = {}): Promise<{ api: EphemeraClient; close: () => Promise<void> }> {
  const messenger = await openMessenger({
    profileDir,
    ...(opts.relayTimeoutMs !== undefined ? { relayTimeoutMs: opts.relayTimeoutMs } : {}),
    ...(opts.offline === true ? { offline: true } : {}),
    ...(opts.kdf ? { kdf: opts.kdf } : {}),
    ...(opts.allowWeakSecrets === true ? { allowWeakSecrets: true } : {}),
    ...(opts.backupWorkFactor !== undefined ? { backupWorkFactor: opts.backupWorkFactor } : {}),
  });
  const api = createApiClient({
    call: (method, params) => dispatchCall(messenger, method, params),
    subscribe: (listener) => messenger.subscribe((event) => listener(event.name, event.payload)),
  });
  noticeScrubWaits(messenger);
  return { api, close: () => messenger.close() };
}

/** A wait for the scrub at lock shorter than this goes unsaid. */
export const SCRUB_NOTICE_AFTER_MS = 1000;

/**
 * One line on stderr when the clean-up of deleted data at lock (main/vault/scrub.ts) keeps the
 * command waiting for more than a second: at its end (close) or before its unlock (another
 * process's scrub). Once per command.
 */
function noticeScrubWaits(messenger: Pick<Messenger, 'subscribe'>): void {
  let timer: NodeJS.Timeout | undefined;
  let told = false;
  messenger.subscribe((event) => {
    if (event.name !== 'scrub') return;
    clearTimeout(timer);
    timer = undefined;
    if (!event.payload.underWay || told) return;
    const since = Date.now();
    timer = setTimeout(() => {
      told = true;
      printNotice(`waiting for the vault's clean-up of deleted data (${Math.round((Date.now() - since) / 1000)} s so far)…`);
    }, SCRUB_NOTICE_AFTER_MS);
  });
}

export interface SessionOptions {
  /** Runs before the unlock, e.g. to subscribe to events the unlock already causes (the outbox flush). */
  onOpen?: (api: EphemeraClient) => void;
}

/**
 * Opens and unlocks the profile, runs `fn` with the contract, always locks again. Errors become
 * their exit code and sentence (cli/errors.ts). `waitS` bounds each wait for the relay.
 */
export async function withClient<T>(g: GlobalOptions, waitS: number, fn: (api: EphemeraClient) => Promise<T>, opts: SessionOptions = {}): Promise<T> {
  requireVault(g.profile);
  const password = await currentPassword();
  const { api, close } = await openClient(g.profile, { relayTimeoutMs: Math.max(1, Math.round(waitS * 1000)) });
  try {
    opts.onOpen?.(api);
    await api.unlock({ password });
    return await fn(api);
  } catch (e) {
    throw cliErrorFor(e);
  } finally {
    await close();
  }
}

/**
 * The contract without the relay, for commands on the vault alone (init, unlock-check, status,
 * recover, export, import, open-backup ...): `fn` unlocks (or creates) as it needs; the
 * messenger is always closed (locked) after. Errors become their exit code and sentence.
 */
export async function withOfflineClient<T>(profile: string, fn: (api: EphemeraClient) => Promise<T>, opts: Omit<OpenClientOptions, 'offline' | 'relayTimeoutMs'> = {}): Promise<T> {
  const { api, close } = await openClient(profile, { ...opts, offline: true });
  try {
    return await fn(api);
  } catch (e) {
    throw cliErrorFor(e);
  } finally {
    await close();
  }
}

/**
 * An empty password stops here: the contract's schema would call it a malformed request
 * (INVALID_ARGUMENT, exit 2); the CLI keeps the vault's refusal and exit code 9.
 */
export function refuseEmptyPassword(password: string): string {
  if (password.length === 0) throw new BadParameters('the password must not be empty');
  return password;
}

/**
 * A new vault password before it goes to the contract: the strength policy first (exit 16, the
 * same sentence main gives), then the empty password (exit 9).
 */
export function checkNewPassword(password: string, allowWeak: boolean | undefined): string {
  checkStrength(password, 'password', allowWeak);
  return refuseEmptyPassword(password);
}

/** The contact with this handle (contactsList), or UNKNOWN_CONTACT naming how to add it. */
export async function contactNamed(api: EphemeraClient, handle: string): Promise<Contact> {
  const c = (await api.contactsList()).find((x) => x.handle === handle);
  if (!c) throw new CliError(`No contact ${handle} in this profile (add it with: contact add ${handle}).`, ExitCode.UNKNOWN_CONTACT, 'UNKNOWN_CONTACT');
  return c;
}

/** Parses a command's `--wait <seconds>`: a number of seconds, at most 3600 (an hour, the contract's most). */
export function waitSeconds(v: string): number {
  if (!/^\d+(\.\d+)?$/.test(v)) throw new InvalidArgumentError('must be a number of seconds');
  const n = Number(v);
  if (n > 3600) throw new InvalidArgumentError('at most 3600 seconds');
  return n;
}

/** A wait in seconds as the contract's milliseconds (whole, within its bounds). */
export function waitMs(seconds: number): number {
  return Math.min(3_600_000, Math.max(0, Math.round(seconds * 1000)));
}
