// Maps errors of the parts (vault, e2e, relay) to ApiError codes the caller can act on. Vault
// errors already carry ApiErrorCode-compatible codes and pass through unchanged; anything
// without a known code stays as it is and becomes INTERNAL at the boundary (toApiErrorValue).
import { ApiError, ApiErrorCode, type ApiErrorCode as Code } from '../../shared/api.ts';
import { E2eError } from '../../shared/protocol/e2e-errors.ts';
import { RpcError } from '../../shared/protocol/errors.ts';
import { weakSecretReason } from '../../shared/api/password-policy.ts';
import { refusalFor, type RefusalContext } from './refusals.ts';

const E2E_CODES: Partial<Record<string, Code>> = {
  UNTRUSTED_IDENTITY: 'IDENTITY_CHANGED',
  NOT_REGISTERED: 'NOT_REGISTERED',
  ALREADY_REGISTERED: 'ALREADY_REGISTERED',
  BAD_BUNDLE: 'RELAY_REJECTED',
  BAD_ADDRESS: 'INVALID_ARGUMENT',
  BAD_CONTENT: 'INVALID_ARGUMENT',
};

/**
 * A refusal answered by the relay: the ApiError callers act on, plus the relay's own code
 * (shared/protocol/errors.ts RpcErrorCode, or whatever a newer relay sent), so the CLI can say
 * one sentence per refusal and pick its exit code.
 */
export class RelayRefusal extends ApiError {
  constructor(
    code: Code,
    readonly relayCode: string,
    message: string,
  ) {
    super(code, message);
  }
}

export function apiError(code: Code, message: string): ApiError {
  return new ApiError(code, message);
}

/** The error to throw to a caller of the service; `about` names the handle a relay refusal concerns. */
export function toServiceError(error: unknown, about: RefusalContext = {}): unknown {
  if (error instanceof ApiError) return error;
  if (error instanceof E2eError) {
    const code = E2E_CODES[error.code];
    return code ? new ApiError(code, error.message) : error;
  }
  if (error instanceof RpcError) {
    // One sentence per refusal (main/messenger/refusals.ts); a code this client does not know (a
    // newer relay) keeps the relay's own words.
    const refusal = refusalFor(error.code);
    if (!refusal) return new RelayRefusal('RELAY_REJECTED', error.code, `The relay refused the request (${error.message}).`);
    return new RelayRefusal(refusal.code, error.code, refusal.sentence(about));
  }
  if (typeof error === 'object' && error !== null && ApiErrorCode.safeParse((error as { code?: unknown }).code).success) return error;
  return error;
}

/** acceptIdentity was given a safety number that is not the one of the key pending now. */
export function safetyNumberChanged(handle: string): ApiError {
  return new ApiError(
    'IDENTITY_CHANGED',
    `The safety number with ${handle} changed again since it was shown (or the digits given are not the ones shown). Nothing was accepted: look at the safety number again and compare it before accepting.`,
  );
}

/**
 * Refuses a weak vault password or backup passphrase (WEAK_PASSWORD, with the reason) before
 * anything is written: the renderer checks too, but main must not rely on it.
 */
export function refuseWeakSecret(secret: string, what: 'password' | 'backup passphrase', allowWeak: boolean): void {
  if (allowWeak) return;
  const reason = weakSecretReason(secret, what);
  if (reason !== undefined) throw new ApiError('WEAK_PASSWORD', reason);
}
