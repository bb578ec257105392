// Safety numbers: libsignal's displayable fingerprint over both identities, 60 digits, the same
// string on both sides (libsignal orders the two halves). Users compare it out of band.
import { Fingerprint, PublicKey } from '@signalapp/libsignal-client';
import { BadBundle } from '../../shared/protocol/e2e-errors.ts';

/** Signal's parameters for version-2 fingerprints (iterations of SHA-512 over key and id). */
const ITERATIONS = 5200;
const VERSION = 2;

export function safetyNumber(ourHandle: string, ourIdentity: Uint8Array, theirHandle: string, theirIdentity: Uint8Array): string {
  const fingerprint = Fingerprint.new(
    ITERATIONS,
    VERSION,
    new TextEncoder().encode(ourHandle),
    publicKey(ourIdentity),
    new TextEncoder().encode(theirHandle),
    publicKey(theirIdentity),
  );
  return fingerprint.displayableFingerprint().toString();
}

/** "12345 67890 ..." — 12 groups of 5 digits, as Signal shows it. */
export function formatSafetyNumber(digits: string): string {
  return (digits.match(/\d{1,5}/g) ?? []).join(' ');
}

function publicKey(bytes: Uint8Array): PublicKey {
  try {
    return PublicKey.deserialize(new Uint8Array(bytes));
  } catch (cause) {
    throw new BadBundle('not an identity public key', { cause });
  }
}
