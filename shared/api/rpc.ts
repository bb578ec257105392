// Moving the contract of shared/api.ts across a boundary: the serving side (`dispatchCall`,
// `checkEvent`) and the calling side (`createApiClient`). The transports themselves (Electron
// IPC, WebSocket) only carry the plain values these functions produce and accept.
import { z } from 'zod';
import {
  ApiError,
  ApiErrorValue,
  apiEvents,
  apiMethods,
  isEventName,
  isMethodName,
  methodNames,
  toApiErrorValue,
  type ApiEvent,
  type EphemeraApi,
  type EphemeraEvents,
  type EventName,
  type MethodName,
} from '../api.ts';

/** The answer to one call, as it crosses the boundary (never a thrown exception). */
export const CallOutcome = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), value: z.unknown().optional() }),
  z.strictObject({ ok: z.literal(false), error: ApiErrorValue }),
]);
export type CallOutcome = { ok: true; value: unknown } | { ok: false; error: ApiErrorValue };

// WebSocket frames (JSON). IPC uses the same outcome shape through ipcRenderer.invoke.
const FrameId = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const CallFrame = z.strictObject({ t: z.literal('call'), id: FrameId, method: z.string().max(64), params: z.unknown().optional() });
export const ResultFrame = z.strictObject({ t: z.literal('result'), id: FrameId, outcome: CallOutcome });
export const EventFrame = z.strictObject({ t: z.literal('event'), name: z.string().max(64), payload: z.unknown().optional() });
export type CallFrame = z.infer<typeof CallFrame>;
export type ResultFrame = { t: 'result'; id: number; outcome: CallOutcome };
export type EventFrame = z.infer<typeof EventFrame>;

/** A sentence about what was wrong, naming fields but never echoing their values (they may be secrets). */
export function describeIssues(error: z.ZodError): string {
  const parts = error.issues.slice(0, 3).map((issue) => {
    const where = issue.path.length > 0 ? issue.path.join('.') : 'value';
    return `${where}: ${issue.message}`;
  });
  return parts.join('; ').slice(0, 900);
}

function invalid(code: 'INVALID_ARGUMENT' | 'PROTOCOL_ERROR', what: string, error: z.ZodError): ApiErrorValue {
  return { code, message: `${what} ${describeIssues(error)}` };
}

/**
 * Serving side: validates the method name and params, calls the service, validates the result.
 * A service that returns a malformed result (e.g. with an extra field) gets INTERNAL, and the
 * value is not sent.
 */
export async function dispatchCall(service: EphemeraApi, method: unknown, params: unknown): Promise<CallOutcome> {
  if (!isMethodName(method)) {
    return { ok: false, error: { code: 'UNKNOWN_METHOD', message: 'Ephemera does not offer that operation.' } };
  }
  const schema = apiMethods[method];
  const parsedParams = schema.params.safeParse(params);
  if (!parsedParams.success) {
    return { ok: false, error: invalid('INVALID_ARGUMENT', `Invalid request to ${method}:`, parsedParams.error) };
  }
  let value: unknown;
  try {
    const fn = service[method] as (this: EphemeraApi, p: unknown) => Promise<unknown>;
    value = await fn.call(service, parsedParams.data);
  } catch (error) {
    return { ok: false, error: toApiErrorValue(error) };
  }
  const parsedResult = schema.result.safeParse(value);
  if (!parsedResult.success) {
    return { ok: false, error: { code: 'INTERNAL', message: `Ephemera produced an invalid answer to ${method}.` } };
  }
  return { ok: true, value: parsedResult.data };
}

/** Serving side, for events: returns the validated event or undefined (then it must not be sent). */
export function checkEvent(name: unknown, payload: unknown): ApiEvent | undefined {
  if (!isEventName(name)) return undefined;
  const parsed = apiEvents[name].safeParse(payload);
  if (!parsed.success) return undefined;
  return { name, payload: parsed.data } as ApiEvent;
}

/** What a transport gives the client: a way to call and a feed of raw events. */
export interface ApiTransport {
  /** Resolves with the raw outcome from the other side; rejects only when the link itself fails. */
  call(method: MethodName, params: unknown): Promise<unknown>;
  /** Raw events; the client validates them. */
  subscribe(listener: (name: unknown, payload: unknown) => void): () => void;
}

export type EventListener<E extends EventName> = (payload: EphemeraEvents[E]) => void;

export interface EphemeraClient extends EphemeraApi {
  on<E extends EventName>(name: E, listener: EventListener<E>): () => void;
}

export interface ClientOptions {
  /** Told about events dropped because they failed validation (for diagnostics). */
  onInvalidEvent?: (name: string) => void;
}

/**
 * Calling side: validates params before sending (fail early, nothing leaves malformed), the
 * outcome and result when they arrive, and every event. Rejects with ApiError.
 */
export function createApiClient(transport: ApiTransport, options: ClientOptions = {}): EphemeraClient {
  const listeners = new Map<EventName, Set<(payload: unknown) => void>>();

  transport.subscribe((name, payload) => {
    const event = checkEvent(name, payload);
    if (!event) {
      options.onInvalidEvent?.(typeof name === 'string' ? name.slice(0, 64) : typeof name);
      return;
    }
    for (const listener of listeners.get(event.name) ?? []) listener(event.payload);
  });

  async function call(method: MethodName, params: unknown): Promise<unknown> {
    const schema = apiMethods[method];
    const parsedParams = schema.params.safeParse(params);
    if (!parsedParams.success) {
      const e = invalid('INVALID_ARGUMENT', `Invalid request to ${method}:`, parsedParams.error);
      throw new ApiError(e.code, e.message);
    }
    let raw: unknown;
    try {
      raw = await transport.call(method, parsedParams.data);
    } catch {
      throw new ApiError('DISCONNECTED', 'Lost the connection to the Ephemera service. Reload the window to reconnect.');
    }
    const outcome = CallOutcome.safeParse(raw);
    if (!outcome.success) throw new ApiError('PROTOCOL_ERROR', `The answer to ${method} was malformed.`);
    if (!outcome.data.ok) throw new ApiError(outcome.data.error.code, outcome.data.error.message);
    const result = schema.result.safeParse(outcome.data.value);
    if (!result.success) throw new ApiError('PROTOCOL_ERROR', `The answer to ${method} was malformed.`);
    return result.data;
  }

  const client: Record<string, unknown> = {};
  for (const method of methodNames) client[method] = (params?: unknown) => call(method, params);
  client.on = (name: EventName, listener: (payload: unknown) => void) => {
    let set = listeners.get(name);
    if (!set) listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  };
  return client as unknown as EphemeraClient;
}
