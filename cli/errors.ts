// The CLI's errors: its exit codes (documented in `ephemera --help`), the one map from the
// contract's error codes (shared/api.ts ApiErrorCode) to them, and the checks of arguments made
// before anything opens. Commands reach the messenger through the contract (cli/client.ts), so
// every error they get is an ApiError whose sentence main wrote, the same the app shows (relay
// refusals too: main/messenger/refusals.ts). test/cli/exit-codes.test.ts walks the map against
// `ephemera --help`.
import { Option } from 'commander';
import { ApiError, HANDLE_PATTERN, type ApiErrorCode } from '../shared/api.ts';
import { CodedError } from '../shared/errors.ts';
import { weakSecretReason } from '../shared/api/password-policy.ts';
import { VaultError } from '../main/vault/errors.ts';

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
  DISK_WRITE_FAILED: ExitCode.VAULT_CORRUPT,
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
  UNKNOWN_UPLOAD: ExitCode.USAGE,
  ATTACHMENT_TOO_LARGE: ExitCode.RELAY_REJECTED,
  METADATA_NOT_REMOVED: ExitCode.ERROR,
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

/**
 * The machine codes `--json` gives a backup's refusals, as the backup commands named them before
 * they went through the contract (scripts match on them); the contract's own code is printed
 * beside them as `apiCode`, and the exit code is API_EXIT's (3, 5, 6, 15 as before).
 */
const CLI_CODE: Partial<Record<ApiErrorCode, string>> = {
  BACKUP_WRONG_KEY: 'WRONG_KEY',
  BACKUP_CORRUPT: 'CORRUPT',
  BACKUP_UNSUPPORTED: 'UNSUPPORTED_VERSION',
  BACKUP_UNTRUSTED: 'UNTRUSTED',
};

/** An error the CLI reports with a given exit code and a short machine code. */
export class CliError extends CodedError {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    code = 'USAGE',
    /** The contract's code, when the machine code above is another name for it. */
    readonly apiCode?: ApiErrorCode,
  ) {
    super(code, message);
  }
}

export function exitCodeFor(err: unknown): ExitCodeValue {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof VaultError) return API_EXIT[err.code];
  return ExitCode.ERROR;
}

/** The CliError for anything a contract call threw: its sentence, and its code's exit code. */
export function cliErrorFor(e: unknown): unknown {
  if (e instanceof ApiError) {
    const cliCode = CLI_CODE[e.code];
    return cliCode === undefined ? new CliError(e.message, API_EXIT[e.code], e.code) : new CliError(e.message, API_EXIT[e.code], cliCode, e.code);
  }
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
