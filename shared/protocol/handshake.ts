// Temporary key handshake: ephemeral X25519 between client and relay, authenticated by the
// relay's long-term Ed25519 signature over the transcript. HKDF-SHA256 (salt = transcript
// hash; info = purpose label and both sides' identities) yields the two directional
// XChaCha20-Poly1305 keys and the 8-byte temp_key_id. The result lives in RAM only.
import { createHash, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { isAllZero, u32be, u64be, ascii } from './bytes.ts';
import { testHooksAllowed } from '../packaged.ts';
import { ProtocolError } from './errors.ts';
import { encodeHello, encodeHelloReply, HANDSHAKE_NONCE_BYTES, PROTOCOL_VERSION, type HelloFrame, type HelloReplyFrame } from './frames.ts';
import { ed25519PublicKey, newX25519, x25519 } from './keys.ts';
import { observeKey } from './key-observer.ts';
import { hkdfSha256, keyCopy } from './secret-bytes.ts';

export const HANDSHAKE_LABEL = 'ephemera/v1 handshake';
export const TEMP_KEY_INFO_LABEL = 'ephemera/v1 temp key';

export interface TempKeyMaterial {
  /** 8-byte temp_key_id: names the key on the wire; not secret. */
  id: Buffer;
  /** Client -> relay AEAD key. */
  c2s: Buffer;
  /** Relay -> client AEAD key. */
  s2c: Buffer;
  /** SHA-256 of the handshake transcript; the bind message commits to it. */
  transcriptHash: Buffer;
}

export function zeroTempKey(m: TempKeyMaterial): void {
  m.c2s.fill(0);
  m.s2c.fill(0);
}

// Test-only observer: lets a test harness see every temp key that is derived so it can prove
// none of them reaches disk. Refuses to install outside a test run.
type TempKeyObserver = (material: { id: Buffer; c2s: Buffer; s2c: Buffer; sharedSecret: Buffer }) => void;
let observer: TempKeyObserver | undefined;
export function installTempKeyObserverForTests(fn: TempKeyObserver | undefined): void {
  if (!testHooksAllowed()) throw new Error('test hook outside tests');
  observer = fn;
}

export interface TranscriptFields {
  clientEphPub: Uint8Array;
  clientNonce: Uint8Array;
  relayIdentityPub: Uint8Array;
  relayEphPub: Uint8Array;
  relayNonce: Uint8Array;
  relayTime: number;
  maxTtlSec: number;
}

export function transcriptBytes(t: TranscriptFields): Buffer {
  return Buffer.concat([
    ascii(HANDSHAKE_LABEL),
    Buffer.of(PROTOCOL_VERSION),
    t.clientEphPub,
    t.clientNonce,
    t.relayIdentityPub,
    t.relayEphPub,
    t.relayNonce,
    u64be(t.relayTime),
    u32be(t.maxTtlSec),
  ]);
}

export function deriveTempKey(sharedSecret: Buffer, transcript: Buffer, t: TranscriptFields): TempKeyMaterial {
  const transcriptHash = createHash('sha256').update(transcript).digest();
  const info = Buffer.concat([ascii(TEMP_KEY_INFO_LABEL), t.relayIdentityPub, t.clientEphPub, t.relayEphPub]);
  // hkdfSha256 and keyCopy: no native copy of the shared secret waits for the garbage
  // collector, and the keys sit outside the V8 heap, so zeroTempKey erases them (secret-bytes.ts).
  const okm = hkdfSha256(sharedSecret, transcriptHash, info, 72);
  const m: TempKeyMaterial = {
    c2s: keyCopy(okm.subarray(0, 32)),
    s2c: keyCopy(okm.subarray(32, 64)),
    id: Buffer.from(okm.subarray(64, 72)),
    transcriptHash,
  };
  okm.fill(0);
  observeKey('temp.c2s', m.c2s);
  observeKey('temp.s2c', m.s2c);
  if (observer) observer({ id: Buffer.from(m.id), c2s: Buffer.from(m.c2s), s2c: Buffer.from(m.s2c), sharedSecret: Buffer.from(sharedSecret) });
  return m;
}

export interface HandshakeRandomness {
  /** Fixed values only for test vectors. */
  ephPrivate?: Uint8Array;
  nonce?: Uint8Array;
}

// The relay's identity key as a KeyObject, kept for the next handshake (a client process talks
// to one relay; a public key, nothing secret). Saves a key import per handshake.
let relayKeyCache: { hex: string; key: KeyObject } | undefined;
function relayKeyObject(pub: Uint8Array): KeyObject {
  const hex = Buffer.from(pub.buffer, pub.byteOffset, pub.byteLength).toString('hex');
  if (relayKeyCache?.hex !== hex) relayKeyCache = { hex, key: ed25519PublicKey(pub) };
  return relayKeyCache.key;
}

/** Client side of one handshake. */
export class ClientHandshake {
  private eph: ReturnType<typeof newX25519> | undefined;
  readonly nonce: Buffer;
  readonly helloFrame: Buffer;

  constructor(rand: HandshakeRandomness = {}) {
    this.eph = newX25519(rand.ephPrivate);
    this.nonce = rand.nonce ? Buffer.from(rand.nonce) : randomBytes(HANDSHAKE_NONCE_BYTES);
    this.helloFrame = encodeHello(this.eph.publicRaw, this.nonce);
  }

  /** Verifies the relay's signature and derives the temp key. Throws ProtocolError: RELAY_SIGNATURE_INVALID (not the pinned relay) or HANDSHAKE_INVALID. */
  finish(reply: HelloReplyFrame, relayIdentityPub: Uint8Array): TempKeyMaterial & { relayTime: number; maxTtlSec: number } {
    const eph = this.eph;
    if (!eph) throw new ProtocolError('HANDSHAKE_INVALID', 'handshake already finished');
    this.eph = undefined;
    const t: TranscriptFields = {
      clientEphPub: eph.publicRaw,
      clientNonce: this.nonce,
      relayIdentityPub,
      relayEphPub: reply.relayEphPub,
      relayNonce: reply.relayNonce,
      relayTime: reply.relayTime,
      maxTtlSec: reply.maxTtlSec,
    };
    const transcript = transcriptBytes(t);
    if (!verify(null, transcript, relayKeyObject(relayIdentityPub), reply.signature)) {
      throw new ProtocolError('RELAY_SIGNATURE_INVALID', 'relay signature does not verify');
    }
    let shared: Buffer;
    try {
      shared = x25519(eph.privateKey, reply.relayEphPub);
    } catch {
      throw new ProtocolError('HANDSHAKE_INVALID', 'key exchange failed');
    }
    try {
      if (isAllZero(shared)) throw new ProtocolError('HANDSHAKE_INVALID', 'degenerate key exchange');
      return { ...deriveTempKey(shared, transcript, t), relayTime: reply.relayTime, maxTtlSec: reply.maxTtlSec };
    } finally {
      shared.fill(0);
    }
  }
}

export interface RelayIdentity {
  privateKey: KeyObject;
  publicRaw: Buffer;
}

/** Relay side: answers a hello. Throws ProtocolError('HANDSHAKE_INVALID') for a bad client share. */
export function relayHandshake(
  hello: HelloFrame,
  identity: RelayIdentity,
  relayTime: number,
  maxTtlSec: number,
  rand: HandshakeRandomness = {},
): { reply: Buffer; material: TempKeyMaterial } {
  const eph = newX25519(rand.ephPrivate);
  const relayNonce = rand.nonce ? Buffer.from(rand.nonce) : randomBytes(HANDSHAKE_NONCE_BYTES);
  let shared: Buffer;
  try {
    shared = x25519(eph.privateKey, hello.clientEphPub);
  } catch {
    throw new ProtocolError('HANDSHAKE_INVALID', 'key exchange failed');
  }
  try {
    if (isAllZero(shared)) throw new ProtocolError('HANDSHAKE_INVALID', 'degenerate key exchange');
    const t: TranscriptFields = {
      clientEphPub: hello.clientEphPub,
      clientNonce: hello.clientNonce,
      relayIdentityPub: identity.publicRaw,
      relayEphPub: eph.publicRaw,
      relayNonce,
      relayTime,
      maxTtlSec,
    };
    const transcript = transcriptBytes(t);
    const signature = sign(null, transcript, identity.privateKey);
    const material = deriveTempKey(shared, transcript, t);
    const reply = encodeHelloReply({ relayEphPub: eph.publicRaw, relayNonce, relayTime, maxTtlSec, signature });
    return { reply, material };
  } finally {
    shared.fill(0);
  }
}
