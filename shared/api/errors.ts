// Errors of the renderer <-> main contract (shared/api.ts): typed values with a sentence a person can read.
import { z } from 'zod';
import { CodedError } from '../errors.ts';

export const ApiErrorCode = z.enum([
  // vault (mirrors main/vault/errors.ts)
  'WRONG_PASSWORD',
  'WRONG_RECOVERY_PHRASE',
  'VAULT_LOCKED',
  'VAULT_EXISTS',
  'NO_VAULT',
  'VAULT_CORRUPT',
  /** A write to disk failed (an fsync or I/O error): nothing goes to the relay until lock and unlock. */
  'DISK_WRITE_FAILED',
  'PROFILE_LOCKED',
  'UNSUPPORTED_VERSION',
  'BAD_PARAMETERS',
  'WEAK_PASSWORD',
  // account and contacts
  'NOT_REGISTERED',
  'ALREADY_REGISTERED',
  'HANDLE_TAKEN',
  'UNKNOWN_HANDLE',
  'UNKNOWN_CONTACT',
  'UNKNOWN_CONVERSATION',
  'UNKNOWN_MESSAGE',
  'IDENTITY_CHANGED',
  // relay
  'BAD_DESCRIPTOR',
  'RELAY_UNREACHABLE',
  'RELAY_REJECTED',
  // backup
  'BACKUP_WRONG_KEY',
  'BACKUP_CORRUPT',
  'BACKUP_UNSUPPORTED',
  /** Not signed by this profile's identity: ask the user, then call backupImport again with trustUnsigned. */
  'BACKUP_UNTRUSTED',
  'FILE_ERROR',
  'ATTACHMENT_TOO_LARGE',
  /** An image to send without its metadata does not parse: refused, not sent as it is (the setting keepImageMetadata sends it unchanged). */
  'METADATA_NOT_REMOVED',
  'UNKNOWN_UPLOAD',
  'CANCELLED',
  'UNKNOWN_BACKUP',
  // boundary
  'INVALID_ARGUMENT',
  'UNKNOWN_METHOD',
  'PROTOCOL_ERROR',
  'DISCONNECTED',
  'FORBIDDEN',
  /** A backup path the host does not allow (not from the file dialog; outside the backups folder). */
  'PATH_NOT_ALLOWED',
  'BUSY',
  'NOT_AVAILABLE',
  'INTERNAL',
]);
export type ApiErrorCode = z.infer<typeof ApiErrorCode>;

export const ApiErrorValue = z.strictObject({ code: ApiErrorCode, message: z.string().min(1).max(1000) });
export type ApiErrorValue = z.infer<typeof ApiErrorValue>;

/** What a caller of EphemeraApi catches. */
export class ApiError extends CodedError<ApiErrorCode> {
  constructor(code: ApiErrorCode, message: string) {
    super(code, message);
    // One name for every API error (a RelayRefusal too): callers tell them apart by code.
    this.name = 'ApiError';
  }
  toValue(): ApiErrorValue {
    return { code: this.code, message: this.message };
  }
}

const INTERNAL_MESSAGE = 'Something went wrong inside Ephemera. Try again; if it persists, restart the app.';

/**
 * Maps anything thrown by the service to a value that may cross the boundary. Errors with a
 * known `code` (ApiError, VaultError, ...) keep their human message; anything else becomes
 * INTERNAL with a generic sentence, so stack traces and internals never reach the renderer.
 */
export function toApiErrorValue(error: unknown): ApiErrorValue {
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    const parsedCode = ApiErrorCode.safeParse(code);
    if (parsedCode.success && typeof message === 'string' && message.length > 0) {
      return { code: parsedCode.data, message: message.slice(0, 1000) };
    }
  }
  return { code: 'INTERNAL', message: INTERNAL_MESSAGE };
}
