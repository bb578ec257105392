// The client-relay contract: every relay method in one table, with its params schema, its
// result schema and whether an unbound temp key may call it (docs/protocol.md "Methods").
// The relay (relay/methods.ts) validates params with it and must return what `result` says
// (checked by the compiler); the client (main/net/client.ts) calls by name, typed from it, and
// validates each answer with it.
import { z } from 'zod';
import { ProtocolError, RpcError } from './errors.ts';
import { bytes, handle, HANDLE_RE } from './schema.ts';
import { isValueMap, type Value } from './value.ts';

/** Largest envelope body `send` accepts. */
export const MAX_ENVELOPE_BYTES = 64 * 1024;
/** An idempotency key of `send`. */
export const IDEM_RE = /^[A-Za-z0-9_-]{8,64}$/;
/**
 * Longest envelope lifetime a sender may ask for with `send`'s `ttl` (seconds). The relay keeps
 * an envelope for the shorter of that and its own maximum (`--envelope-ttl`, default 30 days).
 */
export const MAX_SEND_TTL_SEC = 366 * 86400;
/** Most queue ids one `ack` may name. */
export const MAX_ACK_IDS = 1000;
/**
 * Most envelopes one `sendMany` carries: a message to every other member of a group of 256
 * plus, for each, a sender key distribution in the same request.
 */
export const MAX_SEND_MANY_ITEMS = 512;
/** Most distinct bodies one `sendMany` carries, and their total size (under the 256 KiB frame). */
export const MAX_SEND_MANY_BODIES = 512;
export const MAX_SEND_MANY_BYTES = 160 * 1024;
/** One prekey upload fits one transport frame; the client chunks one-time keys to 64 KiB. */
export const MAX_UPLOAD_BYTES = 96 * 1024;
/** Bytes one blob.put or blob.get carries: one sealed stream chunk (shared/protocol/stream.ts), under the 256 KiB frame. */
export const MAX_BLOB_CHUNK_BYTES = 64 * 1024 + 16;
/** Recipients one blob may name (a group's members, later). */
export const MAX_BLOB_RECIPIENTS = 1000;

export interface RelayMethod<P extends z.ZodType, R extends z.ZodType> {
  /** true: callable on an unbound temp key (bind, ping, time only). */
  readonly unbound: boolean;
  readonly params: P;
  /**
   * Optional hand-written check that accepts exactly what `params` accepts, for methods on the
   * per-message path (send, ack), where zod's generic parse cost more than the AEAD. Throws
   * RpcError('BAD_REQUEST'). test/relay/params.property.test.ts holds the two in agreement.
   */
  readonly check?: (params: unknown) => z.output<P>;
  readonly result: R;
  /** Optional hand-written result check (undefined when malformed), same reason as `check`. */
  readonly parseResult?: (result: Value) => z.output<R> | undefined;
  /**
   * true: the relay's handler writes nothing to its store, so in a batch of only such requests
   * the answers need not wait for the group commit's pacing (docs/protocol.md §11).
   */
  readonly readOnly?: boolean;
}

function method<P extends z.ZodType, R extends z.ZodType>(m: RelayMethod<P, R>): RelayMethod<P, R> {
  return m;
}

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

export function checkSendParams(v: unknown): { to: string; idem: string; body: Uint8Array; ttl?: number } {
  const m = paramsMap(v);
  const to = own(m, 'to');
  const idem = own(m, 'idem');
  const body = own(m, 'body');
  const ttl = own(m, 'ttl');
  if (typeof to !== 'string' || !HANDLE_RE.test(to)) badRequest('to: invalid handle');
  if (typeof idem !== 'string' || !IDEM_RE.test(idem)) badRequest('idem: invalid idempotency key');
  if (!(body instanceof Uint8Array) || body.length < 1 || body.length > MAX_ENVELOPE_BYTES) badRequest(`body: bytes of length 1..${MAX_ENVELOPE_BYTES}`);
  if (ttl === undefined) return { to, idem, body };
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl < 1 || ttl > MAX_SEND_TTL_SEC) badRequest(`ttl: whole seconds 1..${MAX_SEND_TTL_SEC}`);
  return { to, idem, body, ttl };
}

export interface SendManyParams {
  bodies: Uint8Array[];
  items: { to: string; idem: string; b: number }[];
}

/** `sendMany`: envelopes to many recipients, each naming its body by index (a group message is one body for all). */
export function checkSendManyParams(v: unknown): SendManyParams {
  const m = paramsMap(v);
  const bodies = own(m, 'bodies');
  const items = own(m, 'items');
  if (!Array.isArray(bodies) || bodies.length < 1 || bodies.length > MAX_SEND_MANY_BODIES) badRequest(`bodies: 1..${MAX_SEND_MANY_BODIES} byte strings`);
  let total = 0;
  for (const body of bodies) {
    if (!(body instanceof Uint8Array) || body.length < 1 || body.length > MAX_ENVELOPE_BYTES) badRequest(`bodies: bytes of length 1..${MAX_ENVELOPE_BYTES}`);
    total += body.length;
  }
  if (total > MAX_SEND_MANY_BYTES) badRequest(`bodies: at most ${MAX_SEND_MANY_BYTES} bytes in all`);
  if (!Array.isArray(items) || items.length < 1 || items.length > MAX_SEND_MANY_ITEMS) badRequest(`items: 1..${MAX_SEND_MANY_ITEMS} items`);
  const out: SendManyParams['items'] = [];
  for (const item of items) {
    const it = paramsMap(item);
    const to = own(it, 'to');
    const idem = own(it, 'idem');
    const b = own(it, 'b');
    if (typeof to !== 'string' || !HANDLE_RE.test(to)) badRequest('items.to: invalid handle');
    if (typeof idem !== 'string' || !IDEM_RE.test(idem)) badRequest('items.idem: invalid idempotency key');
    if (typeof b !== 'number' || !Number.isSafeInteger(b) || b < 0 || b >= bodies.length) badRequest('items.b: index of a body');
    out.push({ to, idem, b });
  }
  return { bodies: bodies as Uint8Array[], items: out };
}

const sendManySchema = z
  .object({
    bodies: z.array(bytes(1, MAX_ENVELOPE_BYTES)).min(1).max(MAX_SEND_MANY_BODIES),
    items: z.array(z.object({ to: handle(), idem: z.string().regex(IDEM_RE), b: z.number().int().nonnegative() })).min(1).max(MAX_SEND_MANY_ITEMS),
  })
  .refine((p) => p.bodies.reduce((n, x) => n + x.length, 0) <= MAX_SEND_MANY_BYTES, 'bodies: too many bytes in all')
  .refine((p) => p.items.every((i) => i.b < p.bodies.length), 'items.b: index of a body');

export function checkAckParams(v: unknown): { ids: number[] } {
  const ids = own(paramsMap(v), 'ids');
  if (!Array.isArray(ids) || ids.length < 1 || ids.length > MAX_ACK_IDS) badRequest(`ids: 1..${MAX_ACK_IDS} ids`);
  for (const id of ids) if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) badRequest('ids: non-negative integers');
  return { ids: ids as number[] };
}

// `send` results and envelope pushes come once per message: checked by hand (zod's generic parse
// cost more than the record's AEAD). Same rules as a zod object: extra keys ignored.
function field(v: Value, k: string): Value | undefined {
  return isValueMap(v) && Object.hasOwn(v, k) ? v[k] : undefined;
}

function isUint(v: Value | undefined, min: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

/** The relay's answer to `send`, or undefined when it is malformed. */
export function parseSendResult(v: Value): { id: number; duplicate: boolean } | undefined {
  const id = field(v, 'id');
  const duplicate = field(v, 'duplicate');
  return isUint(id, 0) && typeof duplicate === 'boolean' ? { id, duplicate } : undefined;
}

/** The relay's one push topic, `envelope`: a queued envelope for this device. */
export const ENVELOPE_TOPIC = 'envelope';
// A type, not an interface, so it is a Value (a map) as it stands.
export type EnvelopePush = {
  /** Queue id (from 1), acknowledged with `ack`. */
  id: number;
  from: string;
  body: Uint8Array;
  /** Relay time when it was stored, ms. */
  sentAt: number;
};

/** An `envelope` push's data (once per message, so checked by hand), or undefined when it is malformed. */
export function parseEnvelopePush(v: Value): EnvelopePush | undefined {
  const id = field(v, 'id');
  const from = field(v, 'from');
  const body = field(v, 'body');
  const sentAt = field(v, 'sentAt');
  if (!isUint(id, 1) || typeof from !== 'string' || !(body instanceof Uint8Array) || !isUint(sentAt, 0)) return undefined;
  return { id, from, body, sentAt };
}

const uint = z.number().int().nonnegative();
const counts = { preKeys: uint, kyberPreKeys: uint };

export const RELAY_METHODS = {
  ping: method({ unbound: true, readOnly: true, params: z.unknown(), result: z.object({ pong: z.literal(true), relayTime: uint }) }),
  time: method({ unbound: true, readOnly: true, params: z.unknown(), result: z.object({ relayTime: uint }) }),
  bind: method({
    unbound: true,
    params: z.object({ message: bytes(1, 512), signature: bytes(64, 64) }),
    result: z.object({ permKeyId: bytes(), expiresAt: uint, handle: z.string().nullable(), relayTime: uint }),
  }),
  register: method({ unbound: false, params: z.object({ handle: handle() }), result: z.object({ handle: z.string() }) }),
  resolve: method({
    unbound: false,
    params: z.object({ handle: handle() }),
    result: z.object({ handle: z.string(), permKeyId: bytes(), permPub: bytes() }),
  }),
  send: method({
    unbound: false,
    params: z.object({
      to: handle(),
      idem: z.string().regex(IDEM_RE),
      body: bytes(1, MAX_ENVELOPE_BYTES),
      /** Optional: the envelope expires after this many seconds (a disappearing message's timer). */
      ttl: z.number().int().min(1).max(MAX_SEND_TTL_SEC).optional(),
    }),
    check: checkSendParams,
    result: z.object({ id: uint, duplicate: z.boolean() }),
    parseResult: parseSendResult,
  }),
  // Withdraws the caller's own still-queued envelope sent with this idempotency key (a message
  // deleted for everyone). The same answer whether or not there was one, so it is no oracle.
  withdraw: method({
    unbound: false,
    params: z.object({ to: handle(), idem: z.string().regex(IDEM_RE) }),
    result: z.object({ ok: z.literal(true) }),
  }),
  // One request, one relay commit, for many envelopes (a group message's fan-out, relay/send-many.ts):
  // each item is stored exactly as a `send` of it would be, and answered on its own.
  sendMany: method({
    unbound: false,
    params: sendManySchema,
    check: checkSendManyParams,
    result: z.object({ results: z.array(z.union([z.object({ id: uint, duplicate: z.boolean() }), z.object({ error: z.string() })])) }),
  }),
  ack: method({
    unbound: false,
    params: z.object({ ids: z.array(uint).min(1).max(MAX_ACK_IDS) }),
    check: checkAckParams,
    result: z.object({ removed: uint }),
  }),
  // Prekeys (docs/e2e.md): bytes in, bytes out; the encodings are shared/protocol/prekey-bundle.ts.
  'keys.upload': method({ unbound: false, params: z.object({ identity: bytes(1, MAX_UPLOAD_BYTES) }), result: z.object({ reRegistered: z.boolean() }) }),
  'keys.uploadOneTime': method({
    unbound: false,
    params: z.object({ keys: bytes(1, MAX_UPLOAD_BYTES) }),
    result: z.object({ added: z.object(counts), ...counts }),
  }),
  'keys.count': method({ unbound: false, params: z.unknown(), result: z.object({ ...counts, hasIdentity: z.boolean(), signedPreKeyId: uint }) }),
  /** `oneTime: false`: the bundle without one-time prekeys (none is taken; a group joiner checking signatures asks so). */
  'keys.fetch': method({ unbound: false, params: z.object({ handle: handle(), oneTime: z.boolean().optional() }), result: z.object({ bundle: bytes() }) }),
  // Attachment blobs (docs/protocol.md §9a, relay/blobs.ts): sealed streams, 128-bit random ids.
  /**
   * What a blob counts against the quota: max(sealed size, minChargeBytes) + recipientChargeBytes
   * per recipient named (relay/blobs.ts blobCharge). Both absent from relays before stop 23.
   */
  'blob.limits': method({
    unbound: false,
    readOnly: true,
    params: z.unknown(),
    result: z.object({ maxFileBytes: uint, quotaBytes: uint, usedBytes: uint, ttlMs: uint, minChargeBytes: uint.optional(), recipientChargeBytes: uint.optional() }),
  }),
  'blob.create': method({
    unbound: false,
    params: z.object({ size: uint.min(1), recipients: z.array(handle()).min(1).max(MAX_BLOB_RECIPIENTS) }),
    result: z.object({ id: bytes(16, 16), expiresAt: uint }),
  }),
  'blob.put': method({ unbound: false, params: z.object({ id: bytes(16, 16), offset: uint, data: bytes(1, MAX_BLOB_CHUNK_BYTES) }), result: z.object({ length: uint }) }),
  'blob.status': method({ unbound: false, readOnly: true, params: z.object({ id: bytes(16, 16) }), result: z.object({ size: uint, length: uint, expiresAt: uint }) }),
  'blob.get': method({
    unbound: false,
    readOnly: true,
    params: z.object({ id: bytes(16, 16), offset: uint, length: uint.min(1).max(MAX_BLOB_CHUNK_BYTES) }),
    result: z.object({ data: bytes() }),
  }),
  'blob.done': method({ unbound: false, params: z.object({ id: bytes(16, 16) }), result: z.object({ deleted: z.boolean() }) }),
};

export type RelayMethods = typeof RELAY_METHODS;
export type RelayMethodName = keyof RelayMethods;
/** Params as a handler receives them (after validation). */
export type RelayParams<M extends RelayMethodName> = z.output<RelayMethods[M]['params']>;
/** Params as a caller sends them: what the schema takes, and encodable as a Value. */
export type RelayCallParams<M extends RelayMethodName> = z.input<RelayMethods[M]['params']> & Value;
export type RelayResult<M extends RelayMethodName> = z.output<RelayMethods[M]['result']>;

export function isRelayMethod(name: string): name is RelayMethodName {
  return Object.hasOwn(RELAY_METHODS, name);
}

/** The relay's answer to `method`, checked against the table; a malformed one is BAD_FRAME. */
export function parseRelayResult<M extends RelayMethodName>(method: M, result: Value): RelayResult<M> {
  const def: RelayMethod<z.ZodType, z.ZodType> = RELAY_METHODS[method];
  const parsed = def.parseResult ? def.parseResult(result) : def.result.safeParse(result).data;
  if (parsed === undefined) throw new ProtocolError('BAD_FRAME', `relay answered ${method} with a malformed result`);
  // `def` is the table's entry for `method`, so its output is RelayResult<M>; widening it to
  // RelayMethod<ZodType, ZodType> only lost that link for the compiler.
  return parsed as RelayResult<M>;
}
