// Typed errors of the wire protocol. Each carries a stable `code` so callers map them
// without string matching. Connection-level codes close the WebSocket with a close code
// (CLOSE_CODES); RPC-level codes travel inside an authenticated error response.
import { CodedError } from '../errors.ts';

/** Errors that end a connection. The relay closes with the code and the name as reason. */
export type ConnectionErrorCode =
  | 'BAD_FRAME'
  | 'RECORD_INVALID'
  | 'HANDSHAKE_INVALID'
  | 'FRAME_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'CERT_PIN_MISMATCH'
  | 'RELAY_SIGNATURE_INVALID'
  | 'INTERNAL';

export const CLOSE_CODES: Readonly<Record<ConnectionErrorCode, number>> = {
  BAD_FRAME: 4400,
  RECORD_INVALID: 4401,
  HANDSHAKE_INVALID: 4403,
  FRAME_TOO_LARGE: 4413,
  RATE_LIMITED: 4429,
  CERT_PIN_MISMATCH: 4495,
  RELAY_SIGNATURE_INVALID: 4496,
  INTERNAL: 4500,
};

export function closeCodeName(code: number): ConnectionErrorCode | undefined {
  for (const [name, value] of Object.entries(CLOSE_CODES)) if (value === code) return name as ConnectionErrorCode;
  return undefined;
}

/** Errors a relay method may answer with (inside an authenticated record). */
export type RpcErrorCode =
  | 'AUTH_KEY_UNBOUND'
  | 'BAD_REQUEST'
  | 'UNKNOWN_METHOD'
  | 'BIND_INVALID'
  | 'BIND_SIGNATURE_INVALID'
  | 'BIND_TEMP_KEY_MISMATCH'
  | 'BIND_TRANSCRIPT_MISMATCH'
  | 'BIND_SESSION_MISMATCH'
  | 'BIND_NONCE_REPLAYED'
  | 'EXPIRES_AT_INVALID'
  | 'TEMP_KEY_ALREADY_BOUND'
  | 'NOT_REGISTERED'
  | 'HANDLE_TAKEN'
  | 'NOT_FOUND'
  | 'QUEUE_FULL'
  | 'RATE_LIMITED'
  | 'BLOB_TOO_LARGE'
  | 'QUOTA_EXCEEDED'
  | 'INTERNAL';

export const RPC_ERROR_CODES: readonly RpcErrorCode[] = [
  'AUTH_KEY_UNBOUND', 'BAD_REQUEST', 'UNKNOWN_METHOD', 'BIND_INVALID', 'BIND_SIGNATURE_INVALID',
  'BIND_TEMP_KEY_MISMATCH', 'BIND_TRANSCRIPT_MISMATCH', 'BIND_SESSION_MISMATCH', 'BIND_NONCE_REPLAYED',
  'EXPIRES_AT_INVALID', 'TEMP_KEY_ALREADY_BOUND', 'NOT_REGISTERED', 'HANDLE_TAKEN', 'NOT_FOUND',
  'QUEUE_FULL', 'RATE_LIMITED', 'BLOB_TOO_LARGE', 'QUOTA_EXCEEDED', 'INTERNAL',
];

/** Transient errors: the same request may succeed later, so durable requests stay queued. */
export const RETRYABLE_RPC_ERRORS: ReadonlySet<string> = new Set(['QUEUE_FULL', 'RATE_LIMITED', 'INTERNAL']);

export class ProtocolError extends CodedError<ConnectionErrorCode> {
  constructor(code: ConnectionErrorCode, detail?: string) {
    super(code, detail ? `${code}: ${detail}` : code);
  }
}

/** Error answered by the relay to one request. `code` is whatever the relay sent (validated shape). */
export class RpcError extends CodedError {
  constructor(code: string, detail = '') {
    super(code, detail ? `${code}: ${detail}` : code);
  }
}
