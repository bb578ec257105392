// Which exit code and which sentence each error gets. Two tables, both exhaustive over their
// enums, so adding a code without deciding its exit code (and, for relay refusals, its sentence)
// fails the type check; test/cli/exit-codes.test.ts walks them against `ephemera --help`.
import { ApiError, HANDLE_PATTERN, type ApiErrorCode } from '../shared/api.ts';
import type { RpcErrorCode } from '../shared/protocol/errors.ts';
import { RelayRefusal } from '../main/messenger/errors.ts';
import { weakSecretReason } from '../shared/api/password-policy.ts';
import { Option } from 'commander';
import { CliError, ExitCode, type ExitCodeValue } from './io.ts';

/** The exit code of every error the messenger (shared/api.ts ApiErrorCode) may throw. */
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
