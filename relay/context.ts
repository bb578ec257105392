// What the relay's method handlers see: the temp key and device a request arrived on, and
// `serve`, which ties a handler to its entry in the shared method table (shared/protocol/
// methods.ts). Kept apart from relay.ts so handlers (methods.ts, keys.ts) need not import the
// relay, and the relay imports them without a cycle.
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { z } from 'zod';
import { RpcError } from '../shared/protocol/errors.ts';
import type { RelayMethod } from '../shared/protocol/methods.ts';
import type { RecordEndpoint } from '../shared/protocol/record.ts';
import type { Value } from '../shared/protocol/value.ts';
import type { TrackedConnection } from './connections.ts';
import type { KeyOrder } from './key-order.ts';
import type { SendFence } from './send-order.ts';

export interface TempKeyEntry {
  idHex: string;
  endpoint: RecordEndpoint;
  transcriptHash: Buffer;
  /** Relay time, ms. Unbound keys: creation + unboundTtl; bound: the bind's expires_at. */
  expiresAt: number;
  boundTo?: BoundDevice;
  conn?: Conn;
  /** On a cluster node: the random id of this key's binding in the shared store (never key material). */
  bindingId?: Buffer;
  /** On a cluster node: the order of this key's requests (relay/key-order.ts). */
  order?: KeyOrder;
}

export interface BoundDevice {
  permKeyId: Buffer;
  permHex: string;
  handle: string | null;
  key?: TempKeyEntry;
  /** Highest queue id pushed over the current key/connection. */
  cursor: number;
  inflight: Set<number>;
  /** True when the queue may hold envelopes beyond `cursor` not yet pushed (then read from disk). */
  backlog: boolean;
  /** On a cluster node: a queue read is under way (at most one per device)… */
  reading?: boolean;
  /** …and another was asked for meanwhile (a wake-up it may have missed). */
  readAgain?: boolean;
  /** Holds the device's later sends back while a refused one awaits its retry (relay/send-order.ts). */
  sendFence?: SendFence;
}

export interface Conn {
  ws: WebSocket;
  /** The underlying socket, corked while a batch of frames is written (one syscall, fewer TLS records). */
  socket: Socket | undefined;
  /** The source address's budget key (IPv6: its /64). */
  address: string;
  /** Admission and liveness record (absent only for sockets that did not come through startRelay). */
  tracked: TrackedConnection | undefined;
  keys: Set<TempKeyEntry>;
  unbound: TempKeyEntry[];
}

/** One request as a handler sees it. */
export interface CallContext {
  key: TempKeyEntry;
  device: BoundDevice | undefined;
  /** Relay time, ms. */
  now: number;
}

/** A method as the relay dispatches it: its params checked, then its handler run. */
export interface ServedMethod {
  readonly unbound: boolean;
  /** Writes nothing to the store (RelayMethod.readOnly): its answer need not wait for commit pacing. */
  readonly readOnly?: boolean;
  /** Throws RpcError (BAD_REQUEST for params the table refuses, or the handler's own). */
  run(ctx: CallContext, params: unknown): MaybePromise<Value>;
}

/** A store answer: a value from SQLite (synchronous, as before), a promise from PostgreSQL. */
export type MaybePromise<T> = T | Promise<T>;

/** `f` of the value, at once when it is one (the SQLite path stays synchronous), else after it. */
export function andThen<T, U>(v: MaybePromise<T>, f: (t: T) => MaybePromise<U>): MaybePromise<U> {
  return v instanceof Promise ? v.then(f) : f(v);
}

/**
 * Ties a handler to its table entry: the handler gets params typed (and checked) by the entry,
 * and must return what the entry's result schema says.
 */
export function serve<P extends z.ZodType, R extends z.ZodType>(
  def: RelayMethod<P, R>,
  handler: (ctx: CallContext, params: z.output<P>) => MaybePromise<z.output<R> & Value>,
): ServedMethod {
  const check = def.check ?? ((params: unknown): z.output<P> => {
    const parsed = def.params.safeParse(params);
    if (!parsed.success) throw new RpcError('BAD_REQUEST', parsed.error.issues[0]?.message ?? 'invalid params');
    return parsed.data;
  });
  return { unbound: def.unbound, readOnly: def.readOnly === true, run: (ctx, params) => handler(ctx, check(params)) };
}

export function requireDevice(ctx: CallContext): BoundDevice {
  const d = ctx.device;
  if (!d) throw new RpcError('AUTH_KEY_UNBOUND');
  return d;
}

/** The calling device, which must have registered a handle. */
export function requireHandle(ctx: CallContext): { permKeyId: Buffer; permHex: string; handle: string } {
  const d = requireDevice(ctx);
  if (d.handle === null) throw new RpcError('NOT_REGISTERED', 'register a handle first');
  return { permKeyId: d.permKeyId, permHex: d.permHex, handle: d.handle };
}
