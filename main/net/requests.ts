// The relay client's requests: waiting, in flight under one temp key, re-sent (new msg_id) after
// a re-bind, answered. Durable ones (`send`) are written to the outbox first and restored from it
// at start, so a send survives a restart; a retryable error keeps one in place, holding the later
// ones back, so their order is kept.
import { randomInt } from 'node:crypto';
import { RETRYABLE_RPC_ERRORS, RpcError } from '../../shared/protocol/errors.ts';
import type { RecordEndpoint } from '../../shared/protocol/record.ts';
import { encodeBodyParts, type BodyParts } from '../../shared/protocol/rpc.ts';
import { decodeValue, encodeValue, isValueMap, type Value, type ValueMap } from '../../shared/protocol/value.ts';
import type { OutboxItem, OutboxStore } from './stores.ts';

export interface DurableOutcome {
  id: string;
  method: string;
  result?: Value;
  error?: RpcError;
}

interface Pending {
  reqId: number;
  method: string;
  params: Value;
  durableId?: string;
  sentOn?: RecordEndpoint;
  /** Retry not before this time (ms, local clock); holds later requests back to keep order. */
  notBefore?: number;
  resolve: (v: Value) => void;
  reject: (e: Error) => void;
}

/** What the requests need from the client that holds them. */
export interface RequestsHost {
  outbox: OutboxStore;
  /** Requests in flight at once; the rest wait in order. */
  maxInFlight: number;
  /** Something may be sent now (a new request, or room in flight). */
  wake(): void;
  /** A request waits for its `notBefore`: try again later. */
  retryLater(): void;
  durable(outcome: DurableOutcome): void;
  warning(error: Error): void;
}

export class Requests {
  private readonly pending = new Map<number, Pending>();
  private readonly durable = new Map<string, Pending>();
  private nextId = 1;
  private inFlight = 0;
  private lastCreatedAt = 0;

  constructor(private readonly host: RequestsHost) {}

  /** How many `method` requests are written under a key and not answered yet (a read-only view: tests watch sends in flight with it). */
  sentUnanswered(method: string): number {
    let n = 0;
    for (const p of this.pending.values()) if (p.method === method && p.sentOn !== undefined) n++;
    return n;
  }

  /** A request id not used by any request (the bind takes one too). */
  nextReqId(): number {
    return this.nextId++;
  }

  add(method: string, params: Value): Promise<Value> {
    return new Promise<Value>((resolve, reject) => {
      const p: Pending = { reqId: this.nextId++, method, params, resolve, reject };
      this.pending.set(p.reqId, p);
      this.host.wake();
    });
  }

  /** A durable request: in the outbox before it is sent; the same `id` again joins the first. */
  async addDurable(method: string, params: ValueMap, id: string): Promise<Value> {
    const existing = this.durable.get(id);
    if (existing) return new Promise<Value>((resolve, reject) => this.chain(existing, resolve, reject));
    const full: ValueMap = { ...params, idem: id };
    const createdAt = Math.max(Date.now(), this.lastCreatedAt + 1);
    this.lastCreatedAt = createdAt;
    await this.host.outbox.put({ id, body: encodeValue({ m: method, p: full }), createdAt });
    return new Promise<Value>((resolve, reject) => {
      const p: Pending = { reqId: this.nextId++, method, params: full, durableId: id, resolve, reject };
      this.pending.set(p.reqId, p);
      this.durable.set(id, p);
      this.host.wake();
    });
  }

  private chain(p: Pending, resolve: (v: Value) => void, reject: (e: Error) => void): void {
    const r0 = p.resolve;
    const j0 = p.reject;
    p.resolve = (v) => { r0(v); resolve(v); };
    p.reject = (e) => { j0(e); reject(e); };
  }

  async loadOutbox(): Promise<void> {
    const items = [...(await this.host.outbox.list())].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const item of items) this.restoreDurable(item);
  }

  /**
   * Items another writer put in the outbox since it was loaded (a deletion's withdraws), taken as
   * if loaded at start: sent after the requests already waiting, removed from the outbox once
   * answered. One already held (by id) is not taken twice.
   */
  adopt(items: readonly OutboxItem[]): void {
    for (const item of items) this.restoreDurable(item);
    if (items.length > 0) this.host.wake();
  }

  private restoreDurable(item: OutboxItem): void {
    if (this.durable.has(item.id)) return;
    let decoded: Value;
    try {
      decoded = decodeValue(item.body);
    } catch {
      this.host.warning(new Error(`outbox item ${item.id} is unreadable; dropped`));
      this.deleteFromOutbox(item.id);
      return;
    }
    if (!isValueMap(decoded) || typeof decoded.m !== 'string' || !isValueMap(decoded.p as Value)) {
      this.deleteFromOutbox(item.id);
      return;
    }
    this.lastCreatedAt = Math.max(this.lastCreatedAt, item.createdAt);
    const p: Pending = {
      reqId: this.nextId++,
      method: decoded.m,
      params: decoded.p as Value,
      durableId: item.id,
      resolve: () => undefined,
      reject: () => undefined,
    };
    this.pending.set(p.reqId, p);
    this.durable.set(item.id, p);
  }

  /** Nothing is in flight any more (the key or connection went): every request goes again. */
  unsend(): void {
    for (const p of this.pending.values()) p.sentOn = undefined;
    this.inFlight = 0;
  }

  /** The client stopped: non-durable requests fail; durable ones stay (they are in the outbox). */
  stop(): void {
    for (const p of this.pending.values()) if (!p.durableId) p.reject(new Error('relay client stopped'));
    for (const [id, p] of this.pending) if (!p.durableId) this.pending.delete(id);
    this.unsend();
  }

  /** An answer under `endpoint`; false when it answers nothing sent under that key. */
  answer(endpoint: RecordEndpoint, reqId: number, result: Value | undefined, error: RpcError | undefined): boolean {
    const p = this.pending.get(reqId);
    if (!p || p.sentOn !== endpoint) return false;
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.settle(p, result, error);
    return true;
  }

  private settle(p: Pending, result: Value | undefined, error: RpcError | undefined): void {
    if (p.durableId === undefined || !error || !RETRYABLE_RPC_ERRORS.has(error.code)) this.pending.delete(p.reqId);
    if (p.durableId !== undefined) {
      if (error && RETRYABLE_RPC_ERRORS.has(error.code)) {
        // Keep it in place; it and everything after it wait, so the order is kept.
        p.sentOn = undefined;
        p.notBefore = Date.now() + 1000 + randomInt(0, 1000);
        this.host.retryLater();
        return;
      }
      this.durable.delete(p.durableId);
      // The store's delete runs in a later microtask (stores.ts waits for its idle turn), so the
      // durable handler below still finds the entry: messenger/sending.ts's answer asks
      // outboxHas to tell a send still pending from one deleted meanwhile.
      this.deleteFromOutbox(p.durableId);
      this.host.durable({ id: p.durableId, method: p.method, result, error });
    }
    if (error) p.reject(error);
    else p.resolve(result ?? null);
  }

  /** A store may throw or reject (locked meanwhile): the item is then re-sent and de-duplicated. */
  private deleteFromOutbox(id: string): void {
    const warn = (e: unknown): void => this.host.warning(e instanceof Error ? e : new Error(String(e)));
    try {
      void Promise.resolve(this.host.outbox.delete(id)).catch(warn);
    } catch (e) {
      warn(e);
    }
  }

  /** The requests that may go now under `endpoint`, in order, encoded (as parts); each marked in flight. */
  collect(endpoint: RecordEndpoint, out: (encoded: BodyParts) => void): void {
    for (const p of this.pending.values()) {
      if (this.inFlight >= this.host.maxInFlight) break;
      if (p.sentOn) continue;
      if (p.notBefore !== undefined) {
        if (p.notBefore > Date.now()) {
          this.host.retryLater();
          break;
        }
        p.notBefore = undefined;
      }
      let encoded: BodyParts;
      try {
        encoded = encodeBodyParts({ kind: 'request', reqId: p.reqId, method: p.method, params: p.params });
      } catch (e) {
        // Not encodable (a bad method name or value): that call fails, nothing is sent.
        this.pending.delete(p.reqId);
        if (p.durableId !== undefined) {
          this.durable.delete(p.durableId);
          this.deleteFromOutbox(p.durableId);
        }
        p.reject(e instanceof Error ? e : new Error(String(e)));
        continue;
      }
      p.sentOn = endpoint;
      this.inFlight++;
      out(encoded);
    }
  }
}
