// Typed errors of the E2E layer. Each carries a stable `code` so the messenger, the CLI and the
// API boundary can map them to exit codes and UI states without matching on messages.
// Shared by main/e2e (its modules import it from here) and the relay (its prekey methods throw
// BadBundle when validating uploads), so it imports only the error base.
import { CodedError } from '../errors.ts';

export type E2eErrorCode =
  | 'UNTRUSTED_IDENTITY'
  | 'BAD_MESSAGE'
  | 'DUPLICATE_MESSAGE'
  | 'NO_SESSION'
  | 'BAD_CONTENT'
  | 'UNSUPPORTED_CONTENT'
  | 'BAD_BUNDLE'
  | 'NOT_REGISTERED'
  | 'ALREADY_REGISTERED'
  | 'NO_PENDING_IDENTITY'
  | 'BAD_ADDRESS';

export class E2eError extends CodedError<E2eErrorCode> {}

/**
 * The contact's identity key differs from the one we trust. Nothing was decrypted or sent with
 * it. The new key is recorded as *pending* until `E2e.acceptIdentity` is called; an incoming
 * envelope that hit this is kept sealed in the vault (`held`) and is released on acceptance.
 */
export class UntrustedIdentity extends E2eError {
  readonly address: string;
  /** The new, not yet accepted, identity key (libsignal serialized, 33 bytes). */
  readonly identityKey: Uint8Array;
  /** True when the incoming envelope was stored for `E2e.releaseHeld`. */
  readonly held: boolean;
  constructor(address: string, identityKey: Uint8Array, held: boolean, options?: { cause?: unknown }) {
    super('UNTRUSTED_IDENTITY', `The identity key of ${address} changed and has not been accepted.`, options);
    this.address = address;
    this.identityKey = identityKey;
    this.held = held;
  }
}

/** The ciphertext is malformed, forged, for another recipient, or references keys we no longer have. */
export class BadMessage extends E2eError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('BAD_MESSAGE', `Cannot decrypt the message: ${detail}`, options);
  }
}

/** The message was already decrypted once (for example a redelivery after a lost ack). */
export class DuplicateMessage extends E2eError {
  constructor(options?: { cause?: unknown }) {
    super('DUPLICATE_MESSAGE', 'The message was already received.', options);
  }
}

export class NoSession extends E2eError {
  constructor(address: string, options?: { cause?: unknown }) {
    super('NO_SESSION', `There is no session with ${address}; fetch their prekey bundle first.`, options);
  }
}

/** Decrypted fine, but the content structure is invalid. */
export class BadContent extends E2eError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('BAD_CONTENT', `Invalid message content: ${detail}`, options);
  }
}

/**
 * Valid envelope, but its content version (or, within a known version, its kind) is newer than
 * this build understands. The messenger can show "update to read this message".
 */
export class UnsupportedContent extends E2eError {
  readonly version: unknown;
  readonly kind: string | undefined;
  constructor(version: unknown, kind?: string) {
    super(
      'UNSUPPORTED_CONTENT',
      kind === undefined
        ? `Message content version ${String(version)} is not supported by this build.`
        : `Message content kind "${kind}" (version ${String(version)}) is not supported by this build.`,
    );
    this.version = version;
    this.kind = kind;
  }
}

export class BadBundle extends E2eError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('BAD_BUNDLE', `Invalid prekey bundle: ${detail}`, options);
  }
}

export class NotRegistered extends E2eError {
  constructor() {
    super('NOT_REGISTERED', 'This profile has no Signal identity yet; register first.');
  }
}

export class AlreadyRegistered extends E2eError {
  constructor() {
    super('ALREADY_REGISTERED', 'This profile already has a Signal identity.');
  }
}

export class NoPendingIdentity extends E2eError {
  constructor(address: string, detail = 'there is no pending identity change') {
    super('NO_PENDING_IDENTITY', `Cannot accept the identity of ${address}: ${detail}.`);
  }
}

export class BadAddress extends E2eError {
  constructor(name: string) {
    super('BAD_ADDRESS', `Invalid address name ${JSON.stringify(name.slice(0, 40))}: 1-128 characters, no control characters.`);
  }
}
