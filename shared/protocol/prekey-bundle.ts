// Wire formats of public prekey material (client <-> relay). Public keys only, never a secret.
// JSON (UTF-8) with base64 byte fields; every decode is zod-validated with exact key lengths.
// Depends on zod and ./e2e-errors.ts only, so the relay uses the same module (see docs/e2e.md).
import { z } from 'zod';
import { BadBundle } from './e2e-errors.ts';

export const BUNDLE_FORMAT_VERSION = 1;
/** libsignal serialized sizes: type byte + key. */
export const EC_PUBLIC_KEY_BYTES = 33;
export const KYBER_PUBLIC_KEY_BYTES = 1569;
export const SIGNATURE_BYTES = 64;
/** Upper bound of one-time keys in one upload (a registration uploads 100 + 100 in chunks). */
export const MAX_KEYS_PER_UPLOAD = 200;

const bytesOf = (length: number) =>
  z
    .string()
    .max(Math.ceil(length / 3) * 4)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/)
    .transform((s, ctx) => {
      const bytes = new Uint8Array(Buffer.from(s, 'base64'));
      if (bytes.length !== length || Buffer.from(bytes).toString('base64') !== s) {
        ctx.addIssue({ code: 'custom', message: `expected ${length} bytes of canonical base64` });
        return z.NEVER;
      }
      return bytes;
    });

const keyId = z.number().int().min(1).max(0xffffff);

export const publicPreKeySchema = z.strictObject({ id: keyId, publicKey: bytesOf(EC_PUBLIC_KEY_BYTES) });
export const signedPublicPreKeySchema = z.strictObject({
  id: keyId,
  publicKey: bytesOf(EC_PUBLIC_KEY_BYTES),
  signature: bytesOf(SIGNATURE_BYTES),
});
export const kyberPublicPreKeySchema = z.strictObject({
  id: keyId,
  publicKey: bytesOf(KYBER_PUBLIC_KEY_BYTES),
  signature: bytesOf(SIGNATURE_BYTES),
});

const registrationId = z.number().int().min(1).max(16380);
const deviceId = z.number().int().min(1).max(127);

/** Uploaded at registration and after each signed-prekey rotation (same identity key). */
export const identityUploadSchema = z.strictObject({
  v: z.literal(BUNDLE_FORMAT_VERSION),
  registrationId,
  deviceId,
  identityKey: bytesOf(EC_PUBLIC_KEY_BYTES),
  signedPreKey: signedPublicPreKeySchema,
  kyberLastResort: kyberPublicPreKeySchema,
});

/** One-time prekeys, uploaded at registration and when replenishing. */
export const oneTimePreKeysUploadSchema = z.strictObject({
  v: z.literal(BUNDLE_FORMAT_VERSION),
  preKeys: z.array(publicPreKeySchema).max(MAX_KEYS_PER_UPLOAD),
  kyberPreKeys: z.array(kyberPublicPreKeySchema).max(MAX_KEYS_PER_UPLOAD),
});

/**
 * What the relay hands to someone starting a session: the identity, the current signed prekey,
 * at most one one-time EC prekey (null when exhausted) and one Kyber prekey (a one-time one if
 * any is left, else the last-resort one). The relay gives out each one-time key at most once.
 */
export const preKeyBundleSchema = z.strictObject({
  v: z.literal(BUNDLE_FORMAT_VERSION),
  registrationId,
  deviceId,
  identityKey: bytesOf(EC_PUBLIC_KEY_BYTES),
  signedPreKey: signedPublicPreKeySchema,
  preKey: publicPreKeySchema.nullable(),
  kyberPreKey: kyberPublicPreKeySchema,
});

export type PublicPreKey = z.output<typeof publicPreKeySchema>;
export type SignedPublicPreKey = z.output<typeof signedPublicPreKeySchema>;
export type KyberPublicPreKey = z.output<typeof kyberPublicPreKeySchema>;
export type IdentityUpload = z.output<typeof identityUploadSchema>;
export type OneTimePreKeysUpload = z.output<typeof oneTimePreKeysUploadSchema>;
export type PreKeyBundleWire = z.output<typeof preKeyBundleSchema>;

// JSON.stringify replacer: every Uint8Array becomes canonical base64.
function toJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v)),
  );
}

function fromJson<S extends z.ZodType>(schema: S, bytes: Uint8Array, what: string, maxBytes: number): z.output<S> {
  if (bytes.length > maxBytes) throw new BadBundle(`${what} is larger than ${maxBytes} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new BadBundle(`${what} is not UTF-8 JSON`, { cause });
  }
  const result = schema.safeParse(parsed);
  if (!result.success) throw new BadBundle(`${what}: ${z.prettifyError(result.error)}`);
  return result.data;
}

const KYBER_JSON = 2 * (KYBER_PUBLIC_KEY_BYTES + SIGNATURE_BYTES);
const SINGLE_MAX = 4 * 1024 + 2 * KYBER_JSON;
const UPLOAD_MAX = 4 * 1024 + MAX_KEYS_PER_UPLOAD * (KYBER_JSON + 128);

export const encodeIdentityUpload = (u: IdentityUpload): Uint8Array => toJson(u);
export const decodeIdentityUpload = (b: Uint8Array): IdentityUpload => fromJson(identityUploadSchema, b, 'identity upload', SINGLE_MAX);
export const encodeOneTimePreKeysUpload = (u: OneTimePreKeysUpload): Uint8Array => toJson(u);
export const decodeOneTimePreKeysUpload = (b: Uint8Array): OneTimePreKeysUpload =>
  fromJson(oneTimePreKeysUploadSchema, b, 'one-time prekeys upload', UPLOAD_MAX);
export const encodePreKeyBundle = (b: PreKeyBundleWire): Uint8Array => toJson(b);
export const decodePreKeyBundle = (b: Uint8Array): PreKeyBundleWire => fromJson(preKeyBundleSchema, b, 'prekey bundle', SINGLE_MAX);

/**
 * Splits one-time prekeys into uploads whose encoding stays under maxBytes (the transport's
 * frame limit is small; 100 Kyber public keys alone are about 220 KB as JSON).
 */
export function chunkOneTimePreKeys(upload: OneTimePreKeysUpload, maxBytes = 64 * 1024): OneTimePreKeysUpload[] {
  const perEc = 80;
  const perKyber = Math.ceil(((KYBER_PUBLIC_KEY_BYTES + SIGNATURE_BYTES) * 4) / 3) + 48;
  const budget = maxBytes - 128;
  if (budget < perKyber) throw new RangeError('maxBytes is too small for one Kyber prekey');
  const chunks: OneTimePreKeysUpload[] = [];
  let current: OneTimePreKeysUpload = { v: BUNDLE_FORMAT_VERSION, preKeys: [], kyberPreKeys: [] };
  let used = 0;
  const push = () => {
    chunks.push(current);
    current = { v: BUNDLE_FORMAT_VERSION, preKeys: [], kyberPreKeys: [] };
    used = 0;
  };
  for (const k of upload.kyberPreKeys) {
    if (used + perKyber > budget || current.kyberPreKeys.length >= MAX_KEYS_PER_UPLOAD) push();
    current.kyberPreKeys.push(k);
    used += perKyber;
  }
  for (const k of upload.preKeys) {
    if (used + perEc > budget || current.preKeys.length >= MAX_KEYS_PER_UPLOAD) push();
    current.preKeys.push(k);
    used += perEc;
  }
  if (current.preKeys.length > 0 || current.kyberPreKeys.length > 0 || chunks.length === 0) push();
  return chunks;
}
