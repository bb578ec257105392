// The bind message: signed by the device's permanent Ed25519 key, sent over the new temp
// key, it tells the relay "this temp key speaks for this device until expires_at".
import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { ascii, toBuffer, u64be } from './bytes.ts';
import { ed25519PublicKey } from './keys.ts';

export const BIND_LABEL = 'ephemera/v1 bind';
export const PERM_KEY_ID_BYTES = 8;
export const SESSION_ID_BYTES = 8;
export const BIND_NONCE_BYTES = 16;
const LABEL = ascii(BIND_LABEL);
export const BIND_MESSAGE_BYTES = LABEL.length + 8 + 32 + 8 + 32 + 8 + 16 + 8;

export interface BindFields {
  permKeyId: Buffer;
  permPub: Buffer;
  tempKeyId: Buffer;
  transcriptHash: Buffer;
  sessionId: Buffer;
  nonce: Buffer;
  /** ms since the epoch, relay time. */
  expiresAt: number;
}

/** perm_key_id = first 8 bytes of SHA-256(permanent public key). */
export function permKeyIdOf(permPub: Uint8Array): Buffer {
  return createHash('sha256').update(permPub).digest().subarray(0, PERM_KEY_ID_BYTES);
}

export function encodeBindMessage(f: BindFields): Buffer {
  return Buffer.concat([LABEL, f.permKeyId, f.permPub, f.tempKeyId, f.transcriptHash, f.sessionId, f.nonce, u64be(f.expiresAt)]);
}

/** Structural decode; undefined when the layout or label is wrong. */
export function decodeBindMessage(input: Uint8Array): BindFields | undefined {
  const b = toBuffer(input);
  if (b.length !== BIND_MESSAGE_BYTES || !b.subarray(0, LABEL.length).equals(LABEL)) return undefined;
  let p = LABEL.length;
  const take = (n: number): Buffer => {
    const s = Buffer.from(b.subarray(p, p + n));
    p += n;
    return s;
  };
  const permKeyId = take(8);
  const permPub = take(32);
  const tempKeyId = take(8);
  const transcriptHash = take(32);
  const sessionId = take(8);
  const nonce = take(16);
  const expires = b.readBigUInt64BE(p);
  if (expires > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return { permKeyId, permPub, tempKeyId, transcriptHash, sessionId, nonce, expiresAt: Number(expires) };
}

export function signBind(fields: BindFields, permPrivate: KeyObject): { message: Buffer; signature: Buffer } {
  const message = encodeBindMessage(fields);
  return { message, signature: sign(null, message, permPrivate) };
}

export function verifyBind(message: Uint8Array, signature: Uint8Array, permPub: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    return verify(null, message, ed25519PublicKey(permPub), signature);
  } catch {
    return false;
  }
}
