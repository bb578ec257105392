// The relay's handlers for the methods of the shared table (shared/protocol/methods.ts). Each
// handler gets only the services it uses: the core's bind, delivery and lookup budget, the
// store's directory and queue, and (relay/keys.ts) the prekey store.
import { decodeBindMessage, permKeyIdOf, verifyBind } from '../shared/protocol/bind.ts';
import { bytesEqual } from '../shared/protocol/bytes.ts';
import { RpcError } from '../shared/protocol/errors.ts';
import { RELAY_METHODS, type RelayMethodName } from '../shared/protocol/methods.ts';
import { andThen, requireDevice, serve, type BoundDevice, type MaybePromise, type ServedMethod, type TempKeyEntry } from './context.ts';
import { blobMethods, type Blobs } from './blobs.ts';
import { keyMethods, type KeyServices } from './keys.ts';
import { sendManyMethod, type ManyItem } from './send-many.ts';
import { fenced, SendFence } from './send-order.ts';
import { DEFAULT_ENVELOPE_TTL_MS, type DeviceRow, type EnqueueResult, type QueuedEnvelope, type RelayStore } from './store.ts';

/** Binding a temp key to a device: the relay core's part of `bind`. */
export interface Binder {
  readonly maxTtlSec: number;
  /** False when the nonce was seen before. */
  rememberBindNonce(nonce: Buffer, until: number): boolean;
  bindKey(entry: TempKeyEntry, permKeyId: Buffer, permPub: Buffer, expiresAt: number): MaybePromise<BoundDevice>;
}

/** Pushing stored envelopes to connected devices: the relay core's part of `send` and `ack`. */
export interface Delivery {
  readonly queueLimit: number;
  /** Longest an envelope waits (a sender's `ttl` may only shorten it); default DEFAULT_ENVELOPE_TTL_MS. */
  readonly envelopeTtlMs?: number;
  notifyQueued(recipient: Buffer, env?: QueuedEnvelope): void;
  acked(d: BoundDevice, ids: readonly number[]): void;
}

/** Per-device budget of handle lookups (throws RATE_LIMITED). */
export interface LookupBudget {
  takeLookup(d: BoundDevice): void;
}

/** The handle directory and the queue: RelayStore (SQLite) answers at once, a cluster store later. */
export interface Directory {
  register(permKeyId: Buffer, handle: string): MaybePromise<void>;
  deviceByHandle(handle: string): MaybePromise<DeviceRow | undefined>;
}
export interface Queue {
  /** `fence`: the sender's (relay/send-order.ts), which a cluster's group commit also checks when it runs. */
  enqueue(...a: [...Parameters<RelayStore['enqueue']>, fence?: SendFence]): MaybePromise<EnqueueResult>;
  /** Many envelopes of one sender in one transaction (a cluster's sendMany); each answered, or refused by code. */
  enqueueMany?(sender: Buffer, senderHandle: string, items: readonly ManyItem[], now: number, queueLimit: number, expiresAt: number, fence: SendFence): Promise<(EnqueueResult | RpcError)[]>;
  ack(recipient: Buffer, ids: readonly number[]): MaybePromise<number>;
  withdraw(sender: Buffer, recipientHandle: string, idem: string): MaybePromise<void>;
}

export interface RelayServices extends KeyServices {
  /** Attachment blobs: relay.db and DIR/blobs, or on a cluster node PostgreSQL (relay/blobs-pg.ts). */
  blobs: Blobs | undefined;
  binder: Binder;
  delivery: Delivery;
  lookups: LookupBudget;
  directory: Directory;
  queue: Queue;
}

/** Every method of the table, served. */
export function relayMethods(s: RelayServices): Readonly<Record<RelayMethodName, ServedMethod>> {
  return {
    ping: serve(RELAY_METHODS.ping, (ctx) => ({ pong: true, relayTime: ctx.now })),
    time: serve(RELAY_METHODS.time, (ctx) => ({ relayTime: ctx.now })),
    bind: bindMethod(s.binder),
    register: registerMethod(s.directory),
    resolve: resolveMethod(s.lookups, s.directory),
    send: sendMethod(s.queue, s.delivery),
    sendMany: sendManyMethod(s.queue, s.delivery),
    ack: ackMethod(s.queue, s.delivery),
    withdraw: withdrawMethod(s.queue),
    ...keyMethods(s),
    ...blobMethods(s.blobs),
  };
}

function bindMethod(binder: Binder): ServedMethod {
  return serve(RELAY_METHODS.bind, (ctx, p) => {
    const f = decodeBindMessage(p.message);
    if (!f) throw new RpcError('BIND_INVALID', 'malformed bind message');
    if (ctx.key.boundTo) throw new RpcError('TEMP_KEY_ALREADY_BOUND');
    if (!bytesEqual(permKeyIdOf(f.permPub), f.permKeyId)) throw new RpcError('BIND_INVALID', 'perm_key_id does not match the key');
    if (!verifyBind(p.message, p.signature, f.permPub)) throw new RpcError('BIND_SIGNATURE_INVALID');
    if (!bytesEqual(f.tempKeyId, ctx.key.endpoint.tempKeyId)) throw new RpcError('BIND_TEMP_KEY_MISMATCH');
    if (!bytesEqual(f.transcriptHash, ctx.key.transcriptHash)) throw new RpcError('BIND_TRANSCRIPT_MISMATCH');
    if (!ctx.key.endpoint.sessionId || !bytesEqual(f.sessionId, ctx.key.endpoint.sessionId)) throw new RpcError('BIND_SESSION_MISMATCH');
    if (!(f.expiresAt > ctx.now && f.expiresAt <= ctx.now + binder.maxTtlSec * 1000)) throw new RpcError('EXPIRES_AT_INVALID');
    if (!binder.rememberBindNonce(f.nonce, f.expiresAt)) throw new RpcError('BIND_NONCE_REPLAYED');
    return andThen(binder.bindKey(ctx.key, f.permKeyId, f.permPub, f.expiresAt), (device) => (
      { permKeyId: f.permKeyId, expiresAt: f.expiresAt, handle: device.handle, relayTime: ctx.now }));
  });
}

function registerMethod(directory: Directory): ServedMethod {
  return serve(RELAY_METHODS.register, (ctx, p) => {
    const d = requireDevice(ctx);
    return andThen(directory.register(d.permKeyId, p.handle), () => {
      d.handle = p.handle;
      return { handle: p.handle };
    });
  });
}

function resolveMethod(lookups: LookupBudget, directory: Directory): ServedMethod {
  return serve(RELAY_METHODS.resolve, (ctx, p) => {
    lookups.takeLookup(requireDevice(ctx));
    return andThen(directory.deviceByHandle(p.handle), (row) => {
      if (!row || row.handle === null) throw new RpcError('NOT_FOUND', 'no such handle');
      return { handle: row.handle, permKeyId: row.permKeyId, permPub: row.permPub };
    });
  });
}

function sendMethod(queue: Queue, delivery: Delivery): ServedMethod {
  return serve(RELAY_METHODS.send, (ctx, p) => {
    const d = requireDevice(ctx);
    if (d.handle === null) throw new RpcError('NOT_REGISTERED', 'register a handle before sending');
    // The decoder made a fresh copy of the body; stored and pushed as is, no further copies.
    const body = Buffer.from(p.body.buffer, p.body.byteOffset, p.body.byteLength);
    const from = d.handle;
    const maxMs = delivery.envelopeTtlMs ?? DEFAULT_ENVELOPE_TTL_MS;
    const ttlMs = p.ttl === undefined ? maxMs : Math.min(p.ttl * 1000, maxMs);
    const fence = (d.sendFence ??= new SendFence());
    // Held back (relay/send-order.ts): only a duplicate is answered, nothing new is stored.
    const stored = fenced(fence, p.idem, ctx.now, (held) => queue.enqueue(d.permKeyId, from, p.to, p.idem, body, ctx.now, held ? 0 : delivery.queueLimit, ctx.now + ttlMs, fence), p.to);
    return andThen(stored, (r) => {
      if (!r.duplicate) delivery.notifyQueued(r.recipient, { id: r.id, from, body, sentAt: ctx.now });
      return { id: r.id, duplicate: r.duplicate };
    });
  });
}

function withdrawMethod(queue: Queue): ServedMethod {
  return serve(RELAY_METHODS.withdraw, (ctx, p) => {
    const d = requireDevice(ctx);
    // Keyed by the caller's own permanent key: only the original sender can name its envelope.
    return andThen(queue.withdraw(d.permKeyId, p.to, p.idem), () => ({ ok: true as const }));
  });
}

function ackMethod(queue: Queue, delivery: Delivery): ServedMethod {
  return serve(RELAY_METHODS.ack, (ctx, p) => {
    const d = requireDevice(ctx);
    return andThen(queue.ack(d.permKeyId, p.ids), (removed) => {
      delivery.acked(d, p.ids);
      return { removed };
    });
  });
}
