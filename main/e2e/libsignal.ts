// Adapters between Ephemera's types and libsignal's: addresses (one device per account, names
// checked), byte views, prekey bundles from the wire, and libsignal's decrypt verdicts as typed
// E2E errors.
import { ErrorCode, KEMPublicKey, LibSignalErrorBase, PreKeyBundle, ProtocolAddress, PublicKey } from '@signalapp/libsignal-client';
import { LRUCache } from 'lru-cache';
import type { PreKeyBundleWire } from '../../shared/protocol/prekey-bundle.ts';
import { BadAddress, BadBundle, BadMessage, DuplicateMessage, NoSession } from '../../shared/protocol/e2e-errors.ts';

/** Every contact has one device (Ephemera accounts are single-device). */
const DEVICE = 1;
const MAX_ADDRESS_CHARS = 128;

/**
 * Addresses made before, by name (immutable native objects, so shared): each receive and send
 * made one, with its name's check, and the stores then read the name back out of it.
 */
const addresses = new LRUCache<string, ProtocolAddress>({ max: 1_000 });

export function protocolAddress(name: string): ProtocolAddress {
  let address = addresses.get(name);
  if (address === undefined) {
    checkAddress(name);
    address = ProtocolAddress.new(name, DEVICE);
    addresses.set(name, address);
  }
  return address;
}

/** At lock: the addresses kept name the account's contacts; nothing of them stays in memory. */
export function forgetAddresses(): void {
  addresses.clear();
}

export function checkAddress(name: string): void {
  const hasControl = [...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (name.length === 0 || name.length > MAX_ADDRESS_CHARS || hasControl) throw new BadAddress(name);
}

// libsignal's types want Uint8Array<ArrayBuffer>; copy anything else (e.g. a Buffer view).
export function ab(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

/** A bundle fetched from the relay as libsignal's; throws BadBundle when its keys do not parse. */
export function nativeBundle(wire: PreKeyBundleWire): PreKeyBundle {
  try {
    return PreKeyBundle.new(
      wire.registrationId,
      DEVICE,
      wire.preKey?.id ?? null,
      wire.preKey ? PublicKey.deserialize(ab(wire.preKey.publicKey)) : null,
      wire.signedPreKey.id,
      PublicKey.deserialize(ab(wire.signedPreKey.publicKey)),
      ab(wire.signedPreKey.signature),
      PublicKey.deserialize(ab(wire.identityKey)),
      wire.kyberPreKey.id,
      KEMPublicKey.deserialize(ab(wire.kyberPreKey.publicKey)),
      ab(wire.kyberPreKey.signature),
    );
  } catch (cause) {
    throw new BadBundle('keys do not parse', { cause });
  }
}

/** libsignal's verdicts become typed E2E errors; anything else (vault errors) passes through unchanged. */
export function decryptError(error: unknown, address: string): unknown {
  if (error instanceof LibSignalErrorBase) {
    if (error.code === ErrorCode.DuplicatedMessage) return new DuplicateMessage({ cause: error });
    if (error.code === ErrorCode.InvalidSession) return new NoSession(address, { cause: error });
    return new BadMessage(error.message, { cause: error });
  }
  return error;
}
