// Which sentence and exit code each relay refusal gets, exhaustive over RpcErrorCode, so adding a
// code without deciding them fails the type check (the exit code of every other error is
// API_EXIT in io.ts); test/cli/exit-codes.test.ts walks both against `ephemera --help`.
import { ApiError, HANDLE_PATTERN } from '../shared/api.ts';
import type { RpcErrorCode } from '../shared/protocol/errors.ts';
import { RelayRefusal } from '../main/messenger/errors.ts';
import { weakSecretReason } from '../shared/api/password-policy.ts';
import { Option } from 'commander';
import { API_EXIT, CliError, ExitCode, type ExitCodeValue } from './io.ts';

/** What the CLI knows when a relay refuses: the handle the command was about, if any. */
export interface RefusalContext {
  handle?: string;
}

interface Refusal {
  exit: ExitCodeValue;
  sentence: (ctx: RefusalContext) => string;
}

const them = (ctx: RefusalContext): string => ctx.handle ?? 'that handle';
const KEY_REFUSED = 'The relay refused the binding of this device\'s connection key; check that this computer\'s clock is right and try again.';

/** One sentence and one exit code per relay refusal (shared/protocol/errors.ts RpcErrorCode). */
export const RELAY_REFUSALS: Readonly<Record<RpcErrorCode, Refusal>> = {
  HANDLE_TAKEN: { exit: ExitCode.HANDLE_TAKEN, sentence: (c) => `${them(c)} is already taken on this relay; choose another handle.` },
  NOT_FOUND: { exit: ExitCode.UNKNOWN_CONTACT, sentence: (c) => `No one is registered as ${them(c)} on this relay.` },
  NOT_REGISTERED: { exit: ExitCode.NOT_REGISTERED, sentence: () => 'The relay does not know this device: run register first.' },
  RATE_LIMITED: { exit: ExitCode.BUSY, sentence: () => 'The relay is limiting requests from this device or address; try again in a minute.' },
  QUEUE_FULL: { exit: ExitCode.BUSY, sentence: (c) => `The relay's queue for ${them(c)} is full until they collect their messages; try again later.` },
  INTERNAL: { exit: ExitCode.BUSY, sentence: () => 'The relay failed on its side; try again later.' },
  BLOB_TOO_LARGE: { exit: ExitCode.RELAY_REJECTED, sentence: () => 'The file is larger than this relay accepts for one attachment.' },
  QUOTA_EXCEEDED: { exit: ExitCode.BUSY, sentence: () => 'Your attachments waiting on the relay use up your quota; try again once recipients have fetched them.' },
  AUTH_KEY_UNBOUND: { exit: ExitCode.BUSY, sentence: () => 'The relay had not yet bound this connection (it may have restarted); try again.' },
  BAD_REQUEST: { exit: ExitCode.RELAY_REJECTED, sentence: () => 'The relay refused the request as malformed (is this client older or newer than the relay?).' },
  UNKNOWN_METHOD: { exit: ExitCode.RELAY_REJECTED, sentence: () => 'The relay does not offer this request (it runs an older or newer version).' },
  BIND_INVALID: { exit: ExitCode.RELAY_REJECTED, sentence: () => KEY_REFUSED },
  BIND_SIGNATURE_INVALID: { exit: ExitCode.RELAY_REJECTED, sentence: () => 'The relay did not accept this device\'s signature: the profile may be registered on another relay.' },
  BIND_TEMP_KEY_MISMATCH: { exit: ExitCode.RELAY_REJECTED, sentence: () => KEY_REFUSED },
  BIND_TRANSCRIPT_MISMATCH: { exit: ExitCode.RELAY_REJECTED, sentence: () => KEY_REFUSED },
  BIND_SESSION_MISMATCH: { exit: ExitCode.RELAY_REJECTED, sentence: () => KEY_REFUSED },
  BIND_NONCE_REPLAYED: { exit: ExitCode.RELAY_REJECTED, sentence: () => KEY_REFUSED },
  EXPIRES_AT_INVALID: { exit: ExitCode.RELAY_REJECTED, sentence: () => 'The relay refused the connection key\'s lifetime: check that this computer\'s clock is right.' },
  TEMP_KEY_ALREADY_BOUND: { exit: ExitCode.RELAY_REJECTED, sentence: () => KEY_REFUSED },
};

function isRpcCode(code: string): code is RpcErrorCode {
  return Object.hasOwn(RELAY_REFUSALS, code);
}

/** The CliError for anything the messenger threw: relay refusals get their sentence. */
export function cliErrorFor(e: unknown, ctx: RefusalContext = {}): unknown {
  if (e instanceof RelayRefusal) {
    const r = isRpcCode(e.relayCode) ? RELAY_REFUSALS[e.relayCode] : undefined;
    // A code this client does not know (a newer relay): the relay's own words, as untrusted text.
    if (!r) return new CliError(e.message, ExitCode.RELAY_REJECTED, e.code);
    return new CliError(r.sentence(ctx), r.exit, e.code);
  }
  if (e instanceof ApiError) return new CliError(e.message, API_EXIT[e.code], e.code);
  return e;
}

/** A handle typed on the command line; a malformed one is INVALID_HANDLE before anything opens. */
export function checkHandle(handle: string): string {
  if (!HANDLE_PATTERN.test(handle)) {
    throw new CliError(`"${handle}" is not a valid handle: a handle is 3-32 of a-z, 0-9 and _.`, ExitCode.INVALID_HANDLE, 'INVALID_HANDLE');
  }
  return handle;
}

/** `--allow-weak` for the commands that set a password or a backup passphrase. */
export function allowWeakOption(): Option {
  return new Option('--allow-weak', 'accept a password or passphrase the strength check calls weak (for tests, not for real secrets)');
}

/**
 * Refuses a weak new vault password or backup passphrase with the reason (exit 16), before
 * anything is written. The same policy as the app and main (shared/api/password-policy.ts).
 */
export function checkStrength(secret: string, what: 'password' | 'backup passphrase', allowWeak: boolean | undefined): void {
  if (allowWeak === true) return;
  const reason = weakSecretReason(secret, what);
  if (reason !== undefined) throw new CliError(reason, ExitCode.WEAK_SECRET, 'WEAK_PASSWORD');
}
