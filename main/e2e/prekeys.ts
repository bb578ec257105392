// Registration material and its upkeep: identity, registration id, signed prekey, Kyber
// last-resort prekey, one-time EC and Kyber prekeys; replenishing and rotation.
// Private halves go to the sealed vault only; the functions return public parts for the relay.
import {
  IdentityKeyPair,
  KEMKeyPair,
  KyberPreKeyRecord,
  PreKeyRecord,
  PrivateKey,
  SignedPreKeyRecord,
} from '@signalapp/libsignal-client';
import { randomInt } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  BUNDLE_FORMAT_VERSION,
  type IdentityUpload,
  type KyberPublicPreKey,
  type OneTimePreKeysUpload,
  type SignedPublicPreKey,
} from '../../shared/protocol/prekey-bundle.ts';
import { AlreadyRegistered } from '../../shared/protocol/e2e-errors.ts';
import { NS, SECRET, type E2eKv, type Namespace } from './kv.ts';
import { hasMeta, MAX_PREKEY_ID, readMeta, takeIds, writeMeta, type E2eMeta } from './meta.ts';
import { VaultKyberPreKeyStore, VaultSignedPreKeyStore } from './stores.ts';

export const DEVICE_ID = 1;
export const ONE_TIME_PREKEY_COUNT = 100;
/** Replenish when the relay holds fewer than this many one-time keys of either kind. */
export const REPLENISH_THRESHOLD = 20;
/** Signal rotates its signed prekey every few days; a week bounds exposure of a stolen one. */
export const SIGNED_PREKEY_ROTATION_MS = 7 * 24 * 3600 * 1000;
/** Retired signed / last-resort prekeys stay this long for messages still queued at the relay. */
export const RETIRED_PREKEY_GRACE_MS = 30 * 24 * 3600 * 1000;

export interface RegistrationResult {
  identityKey: Uint8Array;
  registrationId: number;
  identity: IdentityUpload;
  oneTimePreKeys: OneTimePreKeysUpload;
}

/** Makes and stores a new identity with all prekeys. Refuses when the profile already has one. */
export async function generateRegistration(
  kv: E2eKv,
  localName: string,
  now: number,
  oneTimeCount = ONE_TIME_PREKEY_COUNT,
): Promise<RegistrationResult> {
  // The meta record is written last and is the commit point: without it, leftovers of an
  // interrupted registration (nothing of it was uploaded yet) are cleared and made anew.
  if (hasMeta(kv)) throw new AlreadyRegistered();
  for (const ns of Object.values(NS)) for (const key of kv.keys(ns)) kv.delete(ns, key);
  const identity = IdentityKeyPair.generate();
  const registrationId = randomInt(1, 16381);
  // Random starting ids, so ids say little about how long the account has existed.
  const meta: E2eMeta = {
    v: 1,
    localName,
    deviceId: DEVICE_ID,
    registrationId,
    nextPreKeyId: randomInt(1, MAX_PREKEY_ID),
    nextKyberPreKeyId: randomInt(1, MAX_PREKEY_ID),
    nextSignedPreKeyId: randomInt(1, MAX_PREKEY_ID),
    signedPreKeyId: 0,
    kyberLastResortId: 0,
    signedPreKeyCreatedAt: now,
    retired: [],
  };
  const signed = makeSignedPreKeys(kv, identity.privateKey, meta, now);
  const identityKey = identity.publicKey.serialize();
  const secret = identity.serialize();
  kv.vault.setAccountSecret(SECRET.identity, secret);
  secret.fill(0);
  const oneTimePreKeys = await makeOneTimePreKeys(kv, identity.privateKey, meta, oneTimeCount, now);
  writeMeta(kv, meta);
  return {
    identityKey,
    registrationId,
    identity: { v: BUNDLE_FORMAT_VERSION, registrationId, deviceId: DEVICE_ID, identityKey, ...signed },
    oneTimePreKeys,
  };
}

/** Makes `count` more one-time EC and Kyber prekeys; returns their public parts for upload. */
export async function generateOneTimePreKeys(kv: E2eKv, identityKey: PrivateKey, count: number, now: number): Promise<OneTimePreKeysUpload> {
  const meta = readMeta(kv);
  const upload = await makeOneTimePreKeys(kv, identityKey, meta, count, now);
  writeMeta(kv, meta);
  return upload;
}

/** True when the relay's remaining count of either kind is below the threshold. */
export function needsReplenish(relayCounts: { preKeys: number; kyberPreKeys: number }, threshold = REPLENISH_THRESHOLD): boolean {
  return relayCounts.preKeys < threshold || relayCounts.kyberPreKeys < threshold;
}

export interface RotationResult {
  rotated: boolean;
  /** Present when rotated: upload it so new sessions use the new keys. */
  identity?: IdentityUpload;
  /** Retired keys removed now because their grace period ended. */
  removed: number;
}

/**
 * Rotates the signed prekey and the Kyber last-resort prekey when `now` is at least `intervalMs`
 * past the current one's creation (or `force`). Keeps retired ones for the grace period, then
 * deletes them: a deleted signed prekey cannot decrypt anything recorded earlier.
 */
export function rotateSignedPreKeyIfDue(
  kv: E2eKv,
  identity: IdentityKeyPair,
  now: number,
  options: { intervalMs?: number; graceMs?: number; force?: boolean } = {},
): RotationResult {
  const intervalMs = options.intervalMs ?? SIGNED_PREKEY_ROTATION_MS;
  const graceMs = options.graceMs ?? RETIRED_PREKEY_GRACE_MS;
  const meta = readMeta(kv);
  const signedStore = new VaultSignedPreKeyStore(kv);
  const kyberStore = new VaultKyberPreKeyStore(kv);

  let removed = 0;
  meta.retired = meta.retired.filter((r) => {
    if (now - r.retiredAt < graceMs) return true;
    signedStore.removeSignedPreKey(r.signedPreKeyId);
    kyberStore.removeLastResort(r.kyberLastResortId);
    removed++;
    return false;
  });

  const due = options.force === true || now - meta.signedPreKeyCreatedAt >= intervalMs;
  if (!due) {
    writeMeta(kv, meta);
    return { rotated: false, removed };
  }
  meta.retired.push({ signedPreKeyId: meta.signedPreKeyId, kyberLastResortId: meta.kyberLastResortId, retiredAt: now });
  const signed = makeSignedPreKeys(kv, identity.privateKey, meta, now);
  writeMeta(kv, meta);
  return {
    rotated: true,
    removed,
    identity: {
      v: BUNDLE_FORMAT_VERSION,
      registrationId: meta.registrationId,
      deviceId: meta.deviceId,
      identityKey: identity.publicKey.serialize(),
      ...signed,
    },
  };
}

function makeSignedPreKeys(
  kv: E2eKv,
  identityKey: PrivateKey,
  meta: E2eMeta,
  now: number,
): { signedPreKey: SignedPublicPreKey; kyberLastResort: KyberPublicPreKey } {
  const signedId = meta.nextSignedPreKeyId;
  meta.nextSignedPreKeyId = takeIds(signedId, 1).next;
  const kyberId = meta.nextKyberPreKeyId;
  meta.nextKyberPreKeyId = takeIds(kyberId, 1).next;

  const ec = PrivateKey.generate();
  const ecPublic = ec.getPublicKey().serialize();
  const ecSignature = identityKey.sign(ecPublic);
  writeZeroed(kv, NS.signedPreKey, String(signedId), SignedPreKeyRecord.new(signedId, now, ec.getPublicKey(), ec, ecSignature).serialize());

  const kem = KEMKeyPair.generate();
  const kemPublic = kem.getPublicKey().serialize();
  const kemSignature = identityKey.sign(kemPublic);
  new VaultKyberPreKeyStore(kv).saveLastResort(kyberId, KyberPreKeyRecord.new(kyberId, now, kem, kemSignature));

  meta.signedPreKeyId = signedId;
  meta.kyberLastResortId = kyberId;
  meta.signedPreKeyCreatedAt = now;
  return {
    signedPreKey: { id: signedId, publicKey: ecPublic, signature: ecSignature },
    kyberLastResort: { id: kyberId, publicKey: kemPublic, signature: kemSignature },
  };
}

// Each key is one durable vault write (an fsync); yielding every few keys keeps the event loop
// (IPC, the connection) responsive during the ~0.5 s a registration takes.
const KEYS_PER_SLICE = 8;

async function makeOneTimePreKeys(kv: E2eKv, identityKey: PrivateKey, meta: E2eMeta, count: number, now: number): Promise<OneTimePreKeysUpload> {
  const ec = takeIds(meta.nextPreKeyId, count);
  const kyber = takeIds(meta.nextKyberPreKeyId, count);
  meta.nextPreKeyId = ec.next;
  meta.nextKyberPreKeyId = kyber.next;
  const upload: OneTimePreKeysUpload = { v: BUNDLE_FORMAT_VERSION, preKeys: [], kyberPreKeys: [] };
  for (const [i, id] of ec.ids.entries()) {
    if (i % KEYS_PER_SLICE === KEYS_PER_SLICE - 1) await yieldToEventLoop();
    const key = PrivateKey.generate();
    writeZeroed(kv, NS.preKey, String(id), PreKeyRecord.new(id, key.getPublicKey(), key).serialize());
    upload.preKeys.push({ id, publicKey: key.getPublicKey().serialize() });
  }
  for (const [i, id] of kyber.ids.entries()) {
    if (i % KEYS_PER_SLICE === KEYS_PER_SLICE - 1) await yieldToEventLoop();
    const kem = KEMKeyPair.generate();
    const publicKey = kem.getPublicKey().serialize();
    const signature = identityKey.sign(publicKey);
    writeZeroed(kv, NS.kyberPreKey, String(id), KyberPreKeyRecord.new(id, now, kem, signature).serialize());
    upload.kyberPreKeys.push({ id, publicKey, signature });
  }
  return upload;
}

function writeZeroed(kv: E2eKv, ns: Namespace, key: string, secretBytes: Uint8Array): void {
  kv.set(ns, key, secretBytes);
  secretBytes.fill(0);
}
