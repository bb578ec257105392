// Backup signatures (docs/backup-format.md, "Signature"). age authenticates nothing about the
// sender: anyone who knows an `age1…` recipient can write a file that decrypts. So a version-2
// stream names its signer (the account's libsignal identity public key) in the header and ends
// with a signature line: XEdDSA (libsignal PrivateKey.sign) over a fixed context string and the
// SHA-256 of every byte before that line. The signature lives inside the plaintext, so `age -d`
// still opens every backup and its output is still one JSON object per line.
import { createHash, type Hash } from 'node:crypto';
import { IdentityKeyPair, PublicKey } from '@signalapp/libsignal-client';
import type { VaultHandle } from '../vault/api.ts';

/** The account secret that holds the libsignal identity key pair (main/e2e/kv.ts SECRET.identity). */
export const IDENTITY_SECRET = 'e2e-identity-key-pair';
/** Domain separation: these signatures can never be confused with any other libsignal signature. */
export const SIGNATURE_CONTEXT = 'ephemera-backup/v2 signature\n';
/** libsignal serialized Curve25519 public key: type byte 0x05 + 32 bytes. */
export const SIGNER_KEY_BYTES = 33;
export const SIGNATURE_BYTES = 64;

/** The bytes that are signed: context || SHA-256(stream up to and including the end line). */
export function signedMessage(streamHash: Uint8Array): Uint8Array<ArrayBuffer> {
  const context = Buffer.from(SIGNATURE_CONTEXT, 'utf8');
  const out = new Uint8Array(context.length + streamHash.length);
  out.set(context, 0);
  out.set(streamHash, context.length);
  return out;
}

/** The account's identity key pair, or undefined for a profile that never registered (the secret's bytes are zeroed here). */
function identityKeyPairOf(vault: VaultHandle): IdentityKeyPair | undefined {
  const raw = vault.getAccountSecret(IDENTITY_SECRET);
  if (!raw) return undefined;
  const copy = new Uint8Array(raw);
  try {
    return IdentityKeyPair.deserialize(copy);
  } catch {
    // Not a key pair: treated as no identity (exports unsigned, every import asks first).
    return undefined;
  } finally {
    raw.fill(0);
    copy.fill(0);
  }
}

/** The profile's own identity public key (serialized, 33 bytes), if it has an identity. */
export function ownIdentityKey(vault: VaultHandle): Uint8Array | undefined {
  return identityKeyPairOf(vault)?.publicKey.serialize();
}

/** The public half of a serialized identity key pair (an `account-secret` value), or undefined if it is not one. */
export function publicKeyOfIdentitySecret(serialized: Uint8Array): Uint8Array | undefined {
  try {
    return IdentityKeyPair.deserialize(new Uint8Array(serialized)).publicKey.serialize();
  } catch {
    return undefined;
  }
}

export interface BackupSigningKey {
  publicKey: Uint8Array;
  sign(streamHash: Uint8Array): Uint8Array;
}

/** A signer for exports from this profile, or undefined when it has no identity (such a backup is unsigned). */
export function signingKeyOf(vault: VaultHandle): BackupSigningKey | undefined {
  const pair = identityKeyPairOf(vault);
  if (!pair) return undefined;
  return { publicKey: pair.publicKey.serialize(), sign: (hash) => pair.privateKey.sign(signedMessage(hash)) };
}

export function verifySignature(signer: Uint8Array, streamHash: Uint8Array, signature: Uint8Array): boolean {
  if (signer.length !== SIGNER_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    return PublicKey.deserialize(new Uint8Array(signer)).verify(signedMessage(streamHash), new Uint8Array(signature));
  } catch {
    // Not a valid curve point / key type: as good as a wrong signature.
    return false;
  }
}

/** A short, stable way to show a signer key to a person: SHA-256 of the key, 20 bytes as 5 groups of 8 hex digits. */
export function signerFingerprint(signer: Uint8Array): string {
  const hex = createHash('sha256').update(signer).digest('hex').slice(0, 40);
  return hex.match(/.{8}/g)!.join(' ');
}

/**
 * SHA-256 over the stream's bytes, fed with the blocks of complete lines splitLines decodes,
 * holding back the newest line: at the end it covers everything except the last line (the
 * signature line of a signed stream). Same result as hashing line by line, without a call per line.
 */
export class StreamHash {
  private readonly hash: Hash = createHash('sha256');
  private held: Uint8Array | undefined;
  private stopped = false;

  /** `block` holds one or more complete lines separated by '\n', without the last line's '\n'. */
  addLines(block: Uint8Array): void {
    if (this.stopped) return;
    this.flushHeld();
    const lastNl = block.lastIndexOf(0x0a);
    if (lastNl >= 0) this.hash.update(block.subarray(0, lastNl + 1));
    this.held = Uint8Array.from(block.subarray(lastNl + 1));
  }

  /** The same, for callers that have line strings (tests, tools). */
  addLine(text: string): void {
    if (this.stopped) return;
    this.flushHeld();
    this.held = Buffer.from(text, 'utf8');
  }

  /** SHA-256 of every line but the last, each with its '\n'. */
  beforeLastLine(): Uint8Array {
    if (this.stopped) throw new Error('the stream hash was stopped (an unsigned stream)');
    return this.hash.copy().digest();
  }

  /** An unsigned stream's hash is never asked for: stops hashing (a SHA-256 pass over every byte saved). */
  stop(): void {
    this.stopped = true;
    this.held = undefined;
  }

  private flushHeld(): void {
    if (this.held === undefined) return;
    this.hash.update(this.held);
    this.hash.update('\n');
    this.held = undefined;
  }
}
