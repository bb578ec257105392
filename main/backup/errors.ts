// Typed backup errors. Each carries a stable `code` so the CLI and the API boundary map them
// to messages and exit codes without string matching. Every one of them is thrown before the
// profile is changed (import verifies the whole file first).

export type BackupErrorCode =
  | 'WRONG_KEY'
  | 'CORRUPT'
  | 'MALFORMED'
  | 'UNSUPPORTED_VERSION'
  | 'BAD_PARAMETERS'
  | 'CANCELLED'
  | 'IO';

export class BackupError extends Error {
  readonly code: BackupErrorCode;
  constructor(code: BackupErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

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
