// Typed backup errors. Each carries a stable `code` so the CLI and the API boundary map them
// to messages and exit codes without string matching. Every one of them is thrown before the
// profile is changed (import verifies the whole file first).
import { CodedError } from '../../shared/errors.ts';

export type BackupErrorCode =
  | 'WRONG_KEY'
  | 'CORRUPT'
  | 'MALFORMED'
  | 'UNSUPPORTED_VERSION'
  | 'BAD_PARAMETERS'
  | 'BAD_SIGNATURE'
  | 'UNTRUSTED'
  | 'CANCELLED'
  | 'IO';

export class BackupError extends CodedError<BackupErrorCode> {}

/** No passphrase or identity given opens the file (or a recipient stanza is damaged, which looks the same). */
export class BackupWrongKey extends BackupError {
  constructor(kind: 'passphrase' | 'identity' | 'any') {
    const what = kind === 'passphrase' ? 'The passphrase' : kind === 'identity' ? 'The identity' : 'The passphrase or identity';
    super('WRONG_KEY', `${what} does not open this backup (wrong key, or a damaged header).`);
  }
}

/** The age layer failed: not an age file, bad header MAC, a chunk failed authentication, or the file is truncated. */
export class BackupCorrupt extends BackupError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('CORRUPT', `The backup file is damaged, truncated or was tampered with: ${detail}`, options);
  }
}

/** The file decrypts, but its content is not a valid Ephemera backup stream. */
export class BackupMalformed extends BackupError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('MALFORMED', `The backup content is not valid: ${detail}`, options);
  }
}

export class BackupUnsupportedVersion extends BackupError {
  constructor(found: number, supported: number) {
    super(
      'UNSUPPORTED_VERSION',
      `The backup has format version ${found}; this build reads up to version ${supported}. Update Ephemera to open it.`,
    );
  }
}

/** Refused parameters: a scrypt work factor above the ceiling, an invalid recipient or identity string. */
export class BackupBadParameters extends BackupError {
  constructor(detail: string) {
    super('BAD_PARAMETERS', detail);
  }
}

/** A signed stream whose signature is missing or does not verify: someone changed it, or forged it. */
export class BackupSignatureInvalid extends BackupError {
  constructor(detail: string) {
    super('BAD_SIGNATURE', `The backup's signature is not valid: ${detail}. Nothing was imported.`);
  }
}

/**
 * Not signed by the profile's own identity (unsigned, or signed by another identity), and the
 * caller did not confirm: anyone who knows the backup's recipient or passphrase could have written it.
 */
export class BackupUntrusted extends BackupError {
  constructor(
    readonly signer: { status: 'unsigned' } | { status: 'foreign'; key: Uint8Array; fingerprint: string },
  ) {
    super(
      'UNTRUSTED',
      signer.status === 'unsigned'
        ? 'This backup is not signed, so anyone who knows its recipient or passphrase could have written it. Nothing was imported; import it only if you made it yourself (it then carries no verified marks).'
        : `This backup is signed by another identity (key ${signer.fingerprint}), not by this profile's. Nothing was imported; import it only if you trust where it came from (it then carries no verified marks).`,
    );
  }
}

export class BackupCancelled extends BackupError {
  constructor() {
    super('CANCELLED', 'The backup operation was cancelled.');
  }
}

export class BackupIoError extends BackupError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('IO', detail, options);
  }
}

/** A Node file-system error (ENOSPC, EACCES, ...), as opposed to a typed vault or backup error. */
export function isFsError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}
