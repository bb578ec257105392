// A temp key's life on the client: the bind that follows a handshake (lifetime with jitter,
// signed by the permanent key), when to rotate before expiry, and zeroing. The key material
// lives only in these objects' memory.
import { randomBytes } from 'node:crypto';
import { BIND_NONCE_BYTES, SESSION_ID_BYTES } from '../../shared/protocol/bind.ts';
import { zeroTempKey, type TempKeyMaterial } from '../../shared/protocol/handshake.ts';
import { RecordEndpoint } from '../../shared/protocol/record.ts';
import type { PermanentKey } from './permanent-key.ts';

export interface LiveKey {
  endpoint: RecordEndpoint;
  material: TempKeyMaterial;
  expiresAt: number;
}

/** Why a handshake was started: the first key, a re-bind after a loss, or a rotation. */
export type Purpose = 'initial' | 'rebind' | 'rotate';

/** A key whose bind request is in flight. */
export interface Binding extends LiveKey {
  reqId: number;
  purpose: Purpose;
}

const LIFETIME_JITTER = 0.04;
const ROTATION_LEAD_MAX_MS = 3600_000;

/** The bind for a finished handshake: the key to use once bound, and the signed bind params. */
export function newBinding(material: TempKeyMaterial & { relayTime: number; maxTtlSec: number }, o: {
  permanentKey: PermanentKey;
  /** Requested lifetime; capped by the relay, minus up to 4 % jitter. */
  lifetimeSec: number;
  relayNow: () => number;
  reqId: number;
  purpose: Purpose;
}): { binding: Binding; params: { message: Buffer; signature: Buffer } } {
  const sessionId = randomBytes(SESSION_ID_BYTES);
  const endpoint = new RecordEndpoint(material, 'client', o.relayNow, sessionId);
  const lifetimeMs = Math.min(o.lifetimeSec, material.maxTtlSec) * 1000 * (1 - Math.random() * LIFETIME_JITTER);
  const expiresAt = Math.floor(material.relayTime + Math.max(1000, lifetimeMs));
  const { message, signature } = o.permanentKey.signBind({
    tempKeyId: material.id,
    transcriptHash: material.transcriptHash,
    sessionId,
    nonce: randomBytes(BIND_NONCE_BYTES),
    expiresAt,
  });
  return { binding: { endpoint, material, expiresAt, reqId: o.reqId, purpose: o.purpose }, params: { message, signature } };
}

/** Ms until `key` should be rotated: about an hour early for a day-long key, a third early for short ones. */
export function rotationDelay(key: LiveKey, relayNow: number): number {
  const remaining = key.expiresAt - relayNow;
  const lead = Math.min(ROTATION_LEAD_MAX_MS, remaining / 3);
  return Math.max(0, remaining - lead);
}

export function zeroKey(k: LiveKey): void {
  k.endpoint.zero();
  zeroTempKey(k.material);
}
