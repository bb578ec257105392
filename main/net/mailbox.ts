// Typed relay methods on top of RelayClient: register a handle, resolve one, send an opaque
// envelope (durable, idempotent), and receive pushed envelopes in order with acknowledgement.
// Method names, params and results are the shared table's (shared/protocol/methods.ts).
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { ENVELOPE_TOPIC, IDEM_RE, parseEnvelopePush, type EnvelopePush, type RelayResult } from '../../shared/protocol/methods.ts';
import { encodeValue, type Value } from '../../shared/protocol/value.ts';
import type { RelayClient } from './client.ts';
import type { OutboxItem } from './stores.ts';

export type ResolvedHandle = RelayResult<'resolve'>;
export type Envelope = EnvelopePush;
export type EnvelopeHandler = (envelope: Envelope) => void | Promise<void>;

/** Envelope ids already handled, kept so a re-push (after reconnect or rotation) is only re-acked. */
const SEEN_LIMIT = 20_000;
// Acks are coalesced: each ack is a request and an answer (two records each way, plus a relay
// write), so one per envelope would cost more than the envelope. A batch goes when it is full
// (well below the relay's push window of 128, so pushes never stall) or after a short delay.
const ACK_BATCH = 64;
const ACK_DELAY_MS = 50;
/** Longest run of envelopes handled without giving the event loop a turn. */
const SLICE_MS = 15;

export function newIdempotencyKey(): string {
  return randomBytes(16).toString('hex');
}

/**
 * A durable `send` as the outbox item the relay client keeps (net/requests.ts: the same body a
 * RelayMailbox.send writes), for a caller that writes it in its own transaction and hands it to
 * the client later (RelayMailbox.adoptSends), once that transaction is durable.
 */
export function sendOutboxItem(to: string, body: Uint8Array, idempotencyKey: string, createdAt: number, ttlSec?: number): OutboxItem {
  if (!IDEM_RE.test(idempotencyKey)) throw new TypeError('send: invalid idempotency key');
  if (to.length === 0) throw new TypeError('send: no recipient');
  return { id: idempotencyKey, createdAt, body: encodeValue({ m: 'send', p: { to, body, ...(ttlSec === undefined ? {} : { ttl: ttlSec }), idem: idempotencyKey } }) };
}

export class RelayMailbox {
  private handler: EnvelopeHandler | undefined;
  // Ids are only ever added once (checked first), so the least recently used is the oldest.
  private readonly seen = new LRUCache<number, true>({ max: SEEN_LIMIT });
  /** Pushed envelopes not yet handed over, in queue order. */
  private inbox: Envelope[] = [];
  private draining = false;
  private acks: number[] = [];
  private ackTimer: NodeJS.Timeout | undefined;
  /** An asynchronous `durable` runs: the acks taken for it wait for its answer. */
  private syncing = false;

  /**
   * `durable`: makes what the handler committed durable before the relay is told to delete it
   * (the receive path commits without an fsync per envelope; one sync per ack batch instead).
   * False when it cannot now: the acks wait and it is asked again. It may answer with a promise
   * (the fsync off the main thread): the acks taken for it go only once it resolved true, and
   * one such sync runs at a time.
   */
  constructor(
    private readonly client: RelayClient,
    private readonly durable: () => boolean | Promise<boolean> = () => true,
  ) {
    client.on('push', (topic, data) => {
      if (topic === ENVELOPE_TOPIC) this.onEnvelopePush(data);
    });
  }

  async register(handle: string): Promise<void> {
    await this.client.call('register', { handle });
  }

  async resolve(handle: string): Promise<ResolvedHandle> {
    return this.client.call('resolve', { handle });
  }

  /**
   * Stored in the outbox until the relay accepted it; a re-send with the same key is stored once.
   * `ttlSec`: the relay drops it if still undelivered after that long (a disappearing message's
   * timer); it is in the outbox entry, so a re-send after a restart asks the same.
   */
  async send(to: string, body: Uint8Array, idempotencyKey: string = newIdempotencyKey(), ttlSec?: number): Promise<RelayResult<'send'>> {
    return this.client.callDurable('send', { to, body, ...(ttlSec === undefined ? {} : { ttl: ttlSec }) }, idempotencyKey);
  }

  /**
   * Sends already in the outbox (sendOutboxItem), sent after the requests waiting, each once (one
   * the client holds already is not taken twice); answered like any durable send ('durable').
   */
  adoptSends(items: readonly OutboxItem[]): void {
    this.client.adoptDurable(items);
  }

  /** Envelopes are handed over one at a time in queue order; each is acknowledged after the handler returns. */
  onEnvelope(handler: EnvelopeHandler): void {
    this.handler = handler;
  }

  private onEnvelopePush(data: Value): void {
    const env = parseEnvelopePush(data);
    if (!env) {
      this.client.emit('warning', new Error('relay pushed a malformed envelope'));
      return;
    }
    this.inbox.push(env);
    if (!this.draining) void this.drain();
  }

  /**
   * Hands envelopes over one at a time, in order; a handler that returns a promise holds the
   * rest until it settles. A synchronous handler costs no promise per envelope.
   */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      let env: Envelope | undefined;
      let slice = performance.now();
      while ((env = this.inbox.shift()) !== undefined) {
        // A backlog is handed over back to back, and a handler's awaits are microtasks only:
        // let timers and I/O run between slices so the process never freezes during catch-up.
        if (performance.now() - slice > SLICE_MS) {
          await new Promise((r) => setImmediate(r));
          slice = performance.now();
        }
        try {
          if (!this.seen.has(env.id)) {
            if (!this.handler) continue; // not acknowledged: the relay keeps it for later
            const r = this.handler(env);
            if (r !== undefined) await r;
            this.seen.set(env.id, true);
          }
          this.ack(env.id);
        } catch (e) {
          this.client.emit('warning', e instanceof Error ? e : new Error(String(e)));
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private ack(id: number): void {
    this.acks.push(id);
    if (this.acks.length >= ACK_BATCH) this.flushAcks();
    else this.ackTimer ??= setTimeout(() => this.flushAcks(), ACK_DELAY_MS);
  }

  private flushAcks(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.acks.length === 0 || this.syncing) return;
    const ids = this.acks;
    this.acks = [];
    let durable: boolean | Promise<boolean>;
    try {
      durable = this.durable();
    } catch (e) {
      this.notDurable(ids, e);
      return;
    }
    if (typeof durable === 'boolean') {
      this.afterSync(ids, durable);
      return;
    }
    // The fsync runs off the main thread; acks that come meanwhile wait for the next one.
    this.syncing = true;
    durable.then(
      (ok) => {
        this.syncing = false;
        this.afterSync(ids, ok);
        if (this.acks.length > 0) this.ackTimer ??= setTimeout(() => this.flushAcks(), 0);
      },
      (e: unknown) => {
        this.syncing = false;
        this.notDurable(ids, e);
        if (this.acks.length > 0) this.ackTimer ??= setTimeout(() => this.flushAcks(), 0);
      },
    );
  }

  /** `ids` were handled before the sync was asked for: acknowledged when it made them durable, else asked again later. */
  private afterSync(ids: number[], durable: boolean): void {
    if (!durable) {
      this.acks = ids.concat(this.acks);
      this.ackTimer ??= setTimeout(() => this.flushAcks(), ACK_DELAY_MS);
      return;
    }
    // Lost acks are harmless: the relay pushes again and `seen` turns it into a re-ack.
    this.client.call('ack', { ids }).catch(() => undefined);
  }

  /**
   * Locked, closed, or what the handler stored was lost (a failed commit): not acknowledged, and
   * forgotten as handled, so the relay's next push reaches the handler again (its duplicate
   * check acknowledges what is stored after all).
   */
  private notDurable(ids: number[], e: unknown): void {
    for (const id of ids) this.seen.delete(id);
    this.client.emit('warning', e instanceof Error ? e : new Error(String(e)));
  }
}
