// What a relay refusal (shared/protocol/errors.ts RpcErrorCode) means to the user of this
// device: one API error code and one sentence per refusal, exhaustive by type, so the app, the
// browser and the CLI (which exits by the code, cli/errors.ts) all say the same thing.
import type { ApiErrorCode } from '../../shared/api.ts';
import type { RpcErrorCode } from '../../shared/protocol/errors.ts';

/** What the messenger knows when the relay refuses: the handle the call was about, if any. */
export interface RefusalContext {
  handle?: string;
}

export interface Refusal {
  code: ApiErrorCode;
  sentence: (ctx: RefusalContext) => string;
}

const them = (ctx: RefusalContext): string => ctx.handle ?? 'that handle';
const KEY_REFUSED = "The relay refused the binding of this device's connection key; check that this computer's clock is right and try again.";

export const RELAY_REFUSALS: Readonly<Record<RpcErrorCode, Refusal>> = {
  HANDLE_TAKEN: { code: 'HANDLE_TAKEN', sentence: (c) => `${them(c)} is already taken on this relay; choose another handle.` },
  NOT_FOUND: { code: 'UNKNOWN_HANDLE', sentence: (c) => `No one is registered as ${them(c)} on this relay.` },
  NOT_REGISTERED: { code: 'NOT_REGISTERED', sentence: () => 'The relay does not know this device: run register first.' },
  // Refusals that pass: trying again later can succeed.
  RATE_LIMITED: { code: 'BUSY', sentence: () => 'The relay is limiting requests from this device or address; try again in a minute.' },
  QUEUE_FULL: { code: 'BUSY', sentence: (c) => `The relay's queue for ${them(c)} is full until they collect their messages; try again later.` },
  INTERNAL: { code: 'BUSY', sentence: () => 'The relay failed on its side; try again later.' },
  QUOTA_EXCEEDED: { code: 'BUSY', sentence: () => 'Your attachments waiting on the relay use up your quota; try again once recipients have fetched them.' },
  AUTH_KEY_UNBOUND: { code: 'BUSY', sentence: () => 'The relay had not yet bound this connection (it may have restarted); try again.' },
  // Refusals of this client's request or key: trying again alone does not help.
  BAD_REQUEST: { code: 'RELAY_REJECTED', sentence: () => 'The relay refused the request as malformed (is this client older or newer than the relay?).' },
  BLOB_TOO_LARGE: { code: 'RELAY_REJECTED', sentence: () => 'The file is larger than this relay accepts for one attachment.' },
  UNKNOWN_METHOD: { code: 'RELAY_REJECTED', sentence: () => 'The relay does not offer this request (it runs an older or newer version).' },
  BIND_INVALID: { code: 'RELAY_REJECTED', sentence: () => KEY_REFUSED },
  BIND_SIGNATURE_INVALID: { code: 'RELAY_REJECTED', sentence: () => "The relay did not accept this device's signature: the profile may be registered on another relay." },
  BIND_TEMP_KEY_MISMATCH: { code: 'RELAY_REJECTED', sentence: () => KEY_REFUSED },
  BIND_TRANSCRIPT_MISMATCH: { code: 'RELAY_REJECTED', sentence: () => KEY_REFUSED },
  BIND_SESSION_MISMATCH: { code: 'RELAY_REJECTED', sentence: () => KEY_REFUSED },
  BIND_NONCE_REPLAYED: { code: 'RELAY_REJECTED', sentence: () => KEY_REFUSED },
  EXPIRES_AT_INVALID: { code: 'RELAY_REJECTED', sentence: () => "The relay refused the connection key's lifetime: check that this computer's clock is right." },
  TEMP_KEY_ALREADY_BOUND: { code: 'RELAY_REJECTED', sentence: () => KEY_REFUSED },
};

/** The refusal for a code the relay sent, or undefined for one this client does not know (a newer relay). */
export function refusalFor(relayCode: string): Refusal | undefined {
  return Object.hasOwn(RELAY_REFUSALS, relayCode) ? RELAY_REFUSALS[relayCode as RpcErrorCode] : undefined;
}
