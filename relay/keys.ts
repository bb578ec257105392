// Relay prekey methods (docs/e2e.md "What the relay must do"): upload the identity part and
// one-time prekeys, count them, and fetch a bundle for someone else's handle. Uploads are
// validated with the shared wire schemas and every signature is checked with libsignal, so the
// relay never hands out a bundle that its owner's identity key did not sign.
import { PublicKey } from '@signalapp/libsignal-client';
import { RpcError } from '../shared/protocol/errors.ts';
import { RELAY_METHODS } from '../shared/protocol/methods.ts';
import {
  decodeIdentityUpload,
  decodeOneTimePreKeysUpload,
  encodePreKeyBundle,
  type PreKeyBundleWire,
} from '../shared/protocol/prekey-bundle.ts';
import { E2eError } from '../shared/protocol/e2e-errors.ts';
import { andThen, requireHandle, serve, type MaybePromise, type ServedMethod } from './context.ts';
import type { OneTimeKey, StoredIdentity } from './key-store.ts';
import type { DeviceRow } from './store.ts';

/** keys.fetch: bundles per caller per second, and burst. Draining someone's keys forces the last-resort path, so it is limited. */
export const FETCH_RATE_PER_SEC = 2;
export const FETCH_BURST = 30;

/** The prekey tables: KeyStore (SQLite) answers at once, a cluster store later. */
export interface Prekeys {
  identity(permKeyId: Buffer): MaybePromise<StoredIdentity | undefined>;
  putIdentity(permKeyId: Buffer, id: StoredIdentity, now: number): MaybePromise<{ reRegistered: boolean }>;
  addOneTime(permKeyId: Buffer, preKeys: readonly OneTimeKey[], kyberPreKeys: readonly OneTimeKey[]): MaybePromise<{ preKeys: number; kyberPreKeys: number }>;
  counts(permKeyId: Buffer): MaybePromise<{ preKeys: number; kyberPreKeys: number }>;
  takeOneTime(permKeyId: Buffer): MaybePromise<{ preKey: OneTimeKey | undefined; kyberPreKey: OneTimeKey | undefined }>;
}

/** What the prekey methods use: the prekey tables, the handle directory, and the fetch budget. */
export interface KeyServices {
  prekeys: Prekeys;
  directory: { deviceByHandle(handle: string): MaybePromise<DeviceRow | undefined> };
  fetches: FetchBudget;
}

/** Token buckets of keys.fetch, per calling device. */
export class FetchBudget {
  private readonly buckets = new Map<string, { tokens: number; last: number }>();

  /** Takes a token for `caller` at relay time `now`, or throws RATE_LIMITED. */
  take(caller: string, now: number): void {
    const map = this.buckets;
    let b = map.get(caller);
    if (!b) {
      if (map.size > 100_000) map.clear();
      b = { tokens: FETCH_BURST, last: now };
      map.set(caller, b);
    }
    b.tokens = Math.min(FETCH_BURST, b.tokens + (Math.max(0, now - b.last) / 1000) * FETCH_RATE_PER_SEC);
    b.last = now;
    if (b.tokens < 1) throw new RpcError('RATE_LIMITED', 'too many key fetches');
    b.tokens -= 1;
  }
}

function verify(identityKey: PublicKey, publicKey: Uint8Array, signature: Uint8Array, what: string): void {
  let ok: boolean;
  try {
    ok = identityKey.verify(Buffer.from(publicKey), Buffer.from(signature));
  } catch {
    ok = false;
  }
  if (!ok) throw new RpcError('BAD_REQUEST', `${what}: signature does not verify`);
}

function identityPublicKey(raw: Uint8Array): PublicKey {
  try {
    return PublicKey.deserialize(Buffer.from(raw));
  } catch {
    throw new RpcError('BAD_REQUEST', 'identity key does not parse');
  }
}

/** Bundle decoding errors become BAD_REQUEST with their sentence. */
function decoded<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof E2eError) throw new RpcError('BAD_REQUEST', e.message.slice(0, 300));
    throw e;
  }
}

/** The prekey methods of the table, served. */
export function keyMethods({ prekeys, directory, fetches }: KeyServices): Record<'keys.upload' | 'keys.uploadOneTime' | 'keys.count' | 'keys.fetch', ServedMethod> {
  return {
    'keys.upload': serve(RELAY_METHODS['keys.upload'], (ctx, p) => {
      const d = requireHandle(ctx);
      const u = decoded(() => decodeIdentityUpload(p.identity));
      const ik = identityPublicKey(u.identityKey);
      verify(ik, u.signedPreKey.publicKey, u.signedPreKey.signature, 'signed prekey');
      verify(ik, u.kyberLastResort.publicKey, u.kyberLastResort.signature, 'Kyber last-resort prekey');
      return andThen(prekeys.putIdentity(
        d.permKeyId,
        {
          registrationId: u.registrationId,
          deviceId: u.deviceId,
          identityKey: Buffer.from(u.identityKey),
          signedPreKey: { id: u.signedPreKey.id, publicKey: Buffer.from(u.signedPreKey.publicKey), signature: Buffer.from(u.signedPreKey.signature) },
          kyberLastResort: { id: u.kyberLastResort.id, publicKey: Buffer.from(u.kyberLastResort.publicKey), signature: Buffer.from(u.kyberLastResort.signature) },
        },
        ctx.now,
      ), ({ reRegistered }) => ({ reRegistered }));
    }),

    'keys.uploadOneTime': serve(RELAY_METHODS['keys.uploadOneTime'], (ctx, p) => {
      const d = requireHandle(ctx);
      return andThen(prekeys.identity(d.permKeyId), (identity) => {
        if (!identity) throw new RpcError('NOT_FOUND', 'upload the identity before one-time prekeys');
        const u = decoded(() => decodeOneTimePreKeysUpload(p.keys));
        const ik = identityPublicKey(identity.identityKey);
        for (const k of u.kyberPreKeys) verify(ik, k.publicKey, k.signature, `Kyber prekey ${k.id}`);
        const added = prekeys.addOneTime(
          d.permKeyId,
          u.preKeys.map((k) => ({ id: k.id, publicKey: Buffer.from(k.publicKey) })),
          u.kyberPreKeys.map((k) => ({ id: k.id, publicKey: Buffer.from(k.publicKey), signature: Buffer.from(k.signature) })),
        );
        return andThen(added, (a) => andThen(prekeys.counts(d.permKeyId), (counts) => (
          { added: { preKeys: a.preKeys, kyberPreKeys: a.kyberPreKeys }, ...counts })));
      });
    }),

    'keys.count': serve(RELAY_METHODS['keys.count'], (ctx) => {
      const d = requireHandle(ctx);
      return andThen(prekeys.identity(d.permKeyId), (identity) => andThen(prekeys.counts(d.permKeyId), (counts) => (
        { ...counts, hasIdentity: identity !== undefined, signedPreKeyId: identity?.signedPreKey.id ?? 0 })));
    }),

    'keys.fetch': serve(RELAY_METHODS['keys.fetch'], (ctx, p) => {
      const d = requireHandle(ctx);
      fetches.take(d.permHex, ctx.now);
      return andThen(directory.deviceByHandle(p.handle), (owner) => andThen(owner ? prekeys.identity(owner.permKeyId) : undefined, (identity) => {
        if (!owner || !identity) throw new RpcError('NOT_FOUND', 'no prekeys for that handle');
        // Without one-time prekeys when asked: a caller that needs the identity key only leaves them to first messages.
        if (p.oneTime === false) return { bundle: bundleOf(identity, undefined, undefined) };
        return andThen(prekeys.takeOneTime(owner.permKeyId), ({ preKey, kyberPreKey }) => ({ bundle: bundleOf(identity, preKey, kyberPreKey) }));
      }));
    }),
  };
}

function bundleOf(identity: StoredIdentity, preKey: OneTimeKey | undefined, kyberPreKey: OneTimeKey | undefined): Uint8Array {
  const kyber = kyberPreKey?.signature ? kyberPreKey : identity.kyberLastResort;
  const u8 = (b: Buffer): Uint8Array<ArrayBuffer> => new Uint8Array(b);
  const sp = identity.signedPreKey;
  const bundle: PreKeyBundleWire = {
    v: 1,
    registrationId: identity.registrationId,
    deviceId: identity.deviceId,
    identityKey: u8(identity.identityKey),
    signedPreKey: { id: sp.id, publicKey: u8(sp.publicKey), signature: u8(sp.signature) },
    preKey: preKey ? { id: preKey.id, publicKey: u8(preKey.publicKey) } : null,
    kyberPreKey: { id: kyber.id, publicKey: u8(kyber.publicKey), signature: u8(kyber.signature ?? Buffer.alloc(0)) },
  };
  return encodePreKeyBundle(bundle);
}
