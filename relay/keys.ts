// Relay prekey methods (docs/e2e.md "What the relay must do"): upload the identity part and
// one-time prekeys, count them, and fetch a bundle for someone else's handle. Uploads are
// validated with the shared wire schemas and every signature is checked with libsignal, so the
// relay never hands out a bundle that its owner's identity key did not sign.
import { PublicKey } from '@signalapp/libsignal-client';
import type Database from 'better-sqlite3';
import { z } from 'zod';
import { RpcError } from '../shared/protocol/errors.ts';
import {
  decodeIdentityUpload,
  decodeOneTimePreKeysUpload,
  encodePreKeyBundle,
  type PreKeyBundleWire,
} from '../shared/protocol/prekey-bundle.ts';
import { E2eError } from '../shared/protocol/e2e-errors.ts';
import { KeyStore } from './key-store.ts';
import type { BoundDevice, MethodContext } from './relay.ts';
import type { MethodSpec } from './methods.ts';

const bytes = (min: number, max: number) =>
  z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length >= min && v.length <= max, { message: `bytes of length ${min}..${max}` });

/** One upload fits one transport frame; the client chunks one-time keys to 64 KiB. */
const MAX_UPLOAD_BYTES = 96 * 1024;
/** keys.fetch: bundles per caller per second, and burst. Draining someone's keys forces the last-resort path, so it is limited. */
export const FETCH_RATE_PER_SEC = 2;
export const FETCH_BURST = 30;

const stores = new WeakMap<object, KeyStore>();
const buckets = new WeakMap<object, Map<string, { tokens: number; last: number }>>();

/** The relay store exposes its database so prekey tables live beside devices and the queue. */
interface HasDatabase {
  readonly database: Database.Database;
}

function keyStore(ctx: MethodContext): KeyStore {
  const owner = ctx.relay.store as unknown as HasDatabase;
  let s = stores.get(owner);
  if (!s) {
    s = new KeyStore(owner.database);
    stores.set(owner, s);
  }
  return s;
}

function requireHandle(ctx: MethodContext): BoundDevice & { handle: string } {
  const d = ctx.device;
  if (!d) throw new RpcError('AUTH_KEY_UNBOUND');
  if (d.handle === null) throw new RpcError('NOT_REGISTERED', 'register a handle first');
  return d as BoundDevice & { handle: string };
}

function takeFetchToken(ctx: MethodContext, caller: string): void {
  let map = buckets.get(ctx.relay);
  if (!map) {
    map = new Map();
    buckets.set(ctx.relay, map);
  }
  let b = map.get(caller);
  if (!b) {
    if (map.size > 100_000) map.clear();
    b = { tokens: FETCH_BURST, last: ctx.now };
    map.set(caller, b);
  }
  b.tokens = Math.min(FETCH_BURST, b.tokens + (Math.max(0, ctx.now - b.last) / 1000) * FETCH_RATE_PER_SEC);
  b.last = ctx.now;
  if (b.tokens < 1) throw new RpcError('RATE_LIMITED', 'too many key fetches');
  b.tokens -= 1;
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

function spec<S extends z.ZodType>(s: MethodSpec<S>): MethodSpec<z.ZodType> {
  return s as unknown as MethodSpec<z.ZodType>;
}

export const KEY_METHODS: Readonly<Record<string, MethodSpec<z.ZodType>>> = {
  'keys.upload': spec({
    unbound: false,
    params: z.object({ identity: bytes(1, MAX_UPLOAD_BYTES) }),
    handler: (ctx, p) => {
      const d = requireHandle(ctx);
      const u = decoded(() => decodeIdentityUpload(p.identity));
      const ik = identityPublicKey(u.identityKey);
      verify(ik, u.signedPreKey.publicKey, u.signedPreKey.signature, 'signed prekey');
      verify(ik, u.kyberLastResort.publicKey, u.kyberLastResort.signature, 'Kyber last-resort prekey');
      const { reRegistered } = keyStore(ctx).putIdentity(
        d.permKeyId,
        {
          registrationId: u.registrationId,
          deviceId: u.deviceId,
          identityKey: Buffer.from(u.identityKey),
          signedPreKey: { id: u.signedPreKey.id, publicKey: Buffer.from(u.signedPreKey.publicKey), signature: Buffer.from(u.signedPreKey.signature) },
          kyberLastResort: { id: u.kyberLastResort.id, publicKey: Buffer.from(u.kyberLastResort.publicKey), signature: Buffer.from(u.kyberLastResort.signature) },
        },
        ctx.now,
      );
      return { reRegistered };
    },
  }),

  'keys.uploadOneTime': spec({
    unbound: false,
    params: z.object({ keys: bytes(1, MAX_UPLOAD_BYTES) }),
    handler: (ctx, p) => {
      const d = requireHandle(ctx);
      const store = keyStore(ctx);
      const identity = store.identity(d.permKeyId);
      if (!identity) throw new RpcError('NOT_FOUND', 'upload the identity before one-time prekeys');
      const u = decoded(() => decodeOneTimePreKeysUpload(p.keys));
      const ik = identityPublicKey(identity.identityKey);
      for (const k of u.kyberPreKeys) verify(ik, k.publicKey, k.signature, `Kyber prekey ${k.id}`);
      const added = store.addOneTime(
        d.permKeyId,
        u.preKeys.map((k) => ({ id: k.id, publicKey: Buffer.from(k.publicKey) })),
        u.kyberPreKeys.map((k) => ({ id: k.id, publicKey: Buffer.from(k.publicKey), signature: Buffer.from(k.signature) })),
      );
      return { added: { preKeys: added.preKeys, kyberPreKeys: added.kyberPreKeys }, ...store.counts(d.permKeyId) };
    },
  }),

  'keys.count': spec({
    unbound: false,
    params: z.unknown(),
    handler: (ctx) => {
      const d = requireHandle(ctx);
      const store = keyStore(ctx);
      const identity = store.identity(d.permKeyId);
      return { ...store.counts(d.permKeyId), hasIdentity: identity !== undefined, signedPreKeyId: identity?.signedPreKey.id ?? 0 };
    },
  }),

  'keys.fetch': spec({
    unbound: false,
    params: z.object({ handle: z.string().regex(/^[a-z0-9_]{3,32}$/) }),
    handler: (ctx, p) => {
      const d = requireHandle(ctx);
      takeFetchToken(ctx, d.permHex);
      const owner = ctx.relay.store.deviceByHandle(p.handle);
      const store = keyStore(ctx);
      const identity = owner ? store.identity(owner.permKeyId) : undefined;
      if (!owner || !identity) throw new RpcError('NOT_FOUND', 'no prekeys for that handle');
      const { preKey, kyberPreKey } = store.takeOneTime(owner.permKeyId);
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
      return { bundle: encodePreKeyBundle(bundle) };
    },
  }),
};
