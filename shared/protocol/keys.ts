// Raw 32-byte X25519 / Ed25519 keys <-> node:crypto KeyObjects (native, fast).
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, randomFillSync, type KeyObject } from 'node:crypto';
import { keyBuffer } from './secret-bytes.ts';

const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');

function raw32(b: Uint8Array, what: string): Buffer {
  if (b.length !== 32) throw new RangeError(`${what} must be 32 bytes`);
  return Buffer.from(b.buffer, b.byteOffset, 32);
}

export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  const der = Buffer.concat([ED25519_PKCS8, raw32(seed, 'Ed25519 seed')]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

// Public keys are imported as JWK: OpenSSL 3's DER decoder costs ~130-180 µs per key here,
// the JWK path ~17 µs, and the relay imports two public keys per client handshake and bind.
function okpPublicKey(crv: 'Ed25519' | 'X25519', pub: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv, x: pub.toString('base64url') }, format: 'jwk' });
}

export function ed25519PublicKey(pub: Uint8Array): KeyObject {
  return okpPublicKey('Ed25519', raw32(pub, 'Ed25519 public key'));
}

export function x25519PrivateKey(priv: Uint8Array): KeyObject {
  const der = Buffer.concat([X25519_PKCS8, raw32(priv, 'X25519 private key')]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

export function x25519PublicKey(pub: Uint8Array): KeyObject {
  return okpPublicKey('X25519', raw32(pub, 'X25519 public key'));
}

/** Raw 32-byte public key of an X25519 or Ed25519 KeyObject (public or private). */
export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' });
  const raw = typeof jwk.x === 'string' ? Buffer.from(jwk.x, 'base64url') : Buffer.alloc(0);
  if (raw.length !== 32) throw new Error('not an X25519 or Ed25519 key');
  return raw;
}

export function newX25519(priv?: Uint8Array): { privateKey: KeyObject; publicRaw: Buffer } {
  if (priv) {
    const privateKey = x25519PrivateKey(priv);
    return { privateKey, publicRaw: rawPublicKey(privateKey) };
  }
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicRaw: rawPublicKey(publicKey) };
}

/** X25519; throws on failure (OpenSSL refuses an all-zero shared secret from low-order points). */
export function x25519(privateKey: KeyObject, peerPublicRaw: Uint8Array): Buffer {
  return diffieHellman({ privateKey, publicKey: x25519PublicKey(peerPublicRaw) });
}

/** In a keyBuffer (outside the V8 heap), so zeroing it erases it. */
export function newEd25519Seed(): Buffer {
  return randomFillSync(keyBuffer(32));
}
