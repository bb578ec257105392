// The relay's method table. Each entry says whether an unbound temp key may call it, how its
// params are validated, and what it does. Issue 4 adds prekey methods here.
import { z } from 'zod';
import { decodeBindMessage, permKeyIdOf, verifyBind } from '../shared/protocol/bind.ts';
import { bytesEqual } from '../shared/protocol/bytes.ts';
import { RpcError } from '../shared/protocol/errors.ts';
import type { Value } from '../shared/protocol/value.ts';
import { KEY_METHODS } from './keys.ts';
import type { BoundDevice, MethodContext } from './relay.ts';

const bytes = (min: number, max: number) =>
  z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length >= min && v.length <= max, { message: `bytes of length ${min}..${max}` });

export const HANDLE_RE = /^[a-z0-9_]{3,32}$/;
export const MAX_ENVELOPE_BYTES = 64 * 1024;
const handle = z.string().regex(HANDLE_RE);
export const IDEM_RE = /^[A-Za-z0-9_-]{8,64}$/;
export const MAX_ACK_IDS = 1000;

function badRequest(detail: string): never {
  throw new RpcError('BAD_REQUEST', detail);
}

/** Own enumerable keys of a plain params map, or a BAD_REQUEST. Extra keys are ignored (as zod objects do). */
function paramsMap(v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) badRequest('params must be a map');
  return v as Record<string, unknown>;
}

function own(m: Record<string, unknown>, k: string): unknown {
  return Object.hasOwn(m, k) ? m[k] : undefined;
}

export function checkSendParams(v: unknown): { to: string; idem: string; body: Uint8Array } {
  const m = paramsMap(v);
  const to = own(m, 'to');
  const idem = own(m, 'idem');
  const body = own(m, 'body');
  if (typeof to !== 'string' || !HANDLE_RE.test(to)) badRequest('to: invalid handle');
  if (typeof idem !== 'string' || !IDEM_RE.test(idem)) badRequest('idem: invalid idempotency key');
  if (!(body instanceof Uint8Array) || body.length < 1 || body.length > MAX_ENVELOPE_BYTES) badRequest(`body: bytes of length 1..${MAX_ENVELOPE_BYTES}`);
  return { to, idem, body };
}

export function checkAckParams(v: unknown): { ids: number[] } {
  const ids = own(paramsMap(v), 'ids');
  if (!Array.isArray(ids) || ids.length < 1 || ids.length > MAX_ACK_IDS) badRequest(`ids: 1..${MAX_ACK_IDS} ids`);
  for (const id of ids) if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) badRequest('ids: non-negative integers');
  return { ids: ids as number[] };
}

export interface MethodSpec<S extends z.ZodType> {
  /** true: callable on an unbound temp key (bind, ping, time only). */
  unbound: boolean;
  params: S;
  /**
   * Optional hand-written check that accepts exactly what `params` accepts, for methods on the
   * per-message path (send, ack), where zod's generic parse cost more than the AEAD. Throws
   * RpcError('BAD_REQUEST'). test/relay/params.property.test.ts holds the two in agreement.
   */
  check?: (params: unknown) => z.infer<S>;
  handler: (ctx: MethodContext, params: z.infer<S>) => Value;
}

function method<S extends z.ZodType>(spec: MethodSpec<S>): MethodSpec<z.ZodType> {
  return spec as unknown as MethodSpec<z.ZodType>;
}

function requireDevice(ctx: MethodContext): BoundDevice {
  const d = ctx.device;
  if (!d) throw new RpcError('AUTH_KEY_UNBOUND');
  return d;
}

export const METHODS: Readonly<Record<string, MethodSpec<z.ZodType>>> = {
  ping: method({ unbound: true, params: z.unknown(), handler: (ctx) => ({ pong: true, relayTime: ctx.now }) }),
  time: method({ unbound: true, params: z.unknown(), handler: (ctx) => ({ relayTime: ctx.now }) }),

  bind: method({
    unbound: true,
    params: z.object({ message: bytes(1, 512), signature: bytes(64, 64) }),
    handler: (ctx, p) => {
      const f = decodeBindMessage(p.message);
      if (!f) throw new RpcError('BIND_INVALID', 'malformed bind message');
      if (ctx.key.boundTo) throw new RpcError('TEMP_KEY_ALREADY_BOUND');
      if (!bytesEqual(permKeyIdOf(f.permPub), f.permKeyId)) throw new RpcError('BIND_INVALID', 'perm_key_id does not match the key');
      if (!verifyBind(p.message, p.signature, f.permPub)) throw new RpcError('BIND_SIGNATURE_INVALID');
      if (!bytesEqual(f.tempKeyId, ctx.key.endpoint.tempKeyId)) throw new RpcError('BIND_TEMP_KEY_MISMATCH');
      if (!bytesEqual(f.transcriptHash, ctx.key.transcriptHash)) throw new RpcError('BIND_TRANSCRIPT_MISMATCH');
      if (!ctx.key.endpoint.sessionId || !bytesEqual(f.sessionId, ctx.key.endpoint.sessionId)) throw new RpcError('BIND_SESSION_MISMATCH');
      if (!(f.expiresAt > ctx.now && f.expiresAt <= ctx.now + ctx.relay.maxTtlSec * 1000)) throw new RpcError('EXPIRES_AT_INVALID');
      if (!ctx.relay.rememberBindNonce(f.nonce, f.expiresAt)) throw new RpcError('BIND_NONCE_REPLAYED');
      const device = ctx.relay.bindKey(ctx.key, f.permKeyId, f.permPub, f.expiresAt);
      return { permKeyId: f.permKeyId, expiresAt: f.expiresAt, handle: device.handle, relayTime: ctx.now };
    },
  }),

  register: method({
    unbound: false,
    params: z.object({ handle }),
    handler: (ctx, p) => {
      const d = requireDevice(ctx);
      ctx.relay.store.register(d.permKeyId, p.handle);
      d.handle = p.handle;
      return { handle: p.handle };
    },
  }),

  resolve: method({
    unbound: false,
    params: z.object({ handle }),
    handler: (ctx, p) => {
      ctx.relay.takeLookup(requireDevice(ctx));
      const row = ctx.relay.store.deviceByHandle(p.handle);
      if (!row || row.handle === null) throw new RpcError('NOT_FOUND', 'no such handle');
      return { handle: row.handle, permKeyId: row.permKeyId, permPub: row.permPub };
    },
  }),

  send: method({
    unbound: false,
    params: z.object({ to: handle, idem: z.string().regex(IDEM_RE), body: bytes(1, MAX_ENVELOPE_BYTES) }),
    check: checkSendParams,
    handler: (ctx, p) => {
      const d = requireDevice(ctx);
      if (d.handle === null) throw new RpcError('NOT_REGISTERED', 'register a handle before sending');
      // The decoder made a fresh copy of the body; stored and pushed as is, no further copies.
      const body = Buffer.from(p.body.buffer, p.body.byteOffset, p.body.byteLength);
      const r = ctx.relay.store.enqueue(d.permKeyId, d.handle, p.to, p.idem, body, ctx.now, ctx.relay.queueLimit);
      if (!r.duplicate) ctx.relay.notifyQueued(r.recipient, { id: r.id, from: d.handle, body, sentAt: ctx.now });
      return { id: r.id, duplicate: r.duplicate };
    },
  }),

  ack: method({
    unbound: false,
    params: z.object({ ids: z.array(z.number().int().nonnegative()).min(1).max(MAX_ACK_IDS) }),
    check: checkAckParams,
    handler: (ctx, p) => {
      const d = requireDevice(ctx);
      const removed = ctx.relay.store.ack(d.permKeyId, p.ids);
      ctx.relay.acked(d, p.ids);
      return { removed };
    },
  }),

  ...KEY_METHODS,
};
