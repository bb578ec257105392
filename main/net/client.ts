// Connection to one relay: its state (connect, reconnect; node choice and backoff in nodes.ts), the temp
// key's handshake, bind, rotation and 404 recovery (temp-key.ts), requests and the durable
// outbox (requests.ts) sent in batched records, and server pushes. The temp key lives only in
// this object's memory and is zeroed when dropped.
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { WebSocket, type RawData } from 'ws';
import type { RelayDescriptor } from '../../shared/protocol/descriptor.ts';
import { closeCodeName, ProtocolError, RpcError } from '../../shared/protocol/errors.ts';
import { decodeFrame, ERROR_FRAME_CODES, type HelloReplyFrame, type RecordFrame } from '../../shared/protocol/frames.ts';
import { ClientHandshake } from '../../shared/protocol/handshake.ts';
import { parseRelayResult, type RelayCallParams, type RelayMethodName, type RelayParams, type RelayResult, type SendManyParams } from '../../shared/protocol/methods.ts';
import { msgIdTime } from '../../shared/protocol/record.ts';
import { decodeBodies, encodeBody, type Body } from '../../shared/protocol/rpc.ts';
import type { Value } from '../../shared/protocol/value.ts';
import { backoffDelay, DEFAULT_BACKOFF, NodeChoice, type Backoff } from './nodes.ts';
import type { PermanentKey } from './permanent-key.ts';
import { Requests, type DurableOutcome } from './requests.ts';
import { openPinned, sendInRecords } from './socket.ts';
import type { OutboxItem, OutboxStore } from './stores.ts';
import { newBinding, rotationDelay, zeroKey, type Binding, type LiveKey, type Purpose } from './temp-key.ts';

export type { DurableOutcome } from './requests.ts';
export type { Backoff } from './nodes.ts';

export type ConnectionState = 'offline' | 'connecting' | 'handshaking' | 'binding' | 'ready' | 'rebinding';

export interface RelayClientOptions {
  descriptor: RelayDescriptor;
  permanentKey: PermanentKey;
  outbox: OutboxStore;
  /** Requested temp key lifetime; default 24 h, minus up to 4 % jitter, capped by the relay. */
  tempKeyLifetimeSec?: number;
  /** Reconnect and re-handshake backoff (full jitter). */
  backoff?: Backoff;
  /** Requests in flight at once; the rest wait in order. */
  maxInFlight?: number;
  /**
   * A ping after this much silence (ms). It finds a dead connection, and a temp key the relay
   * forgot while we were idle (the 404 is only ever an answer to a record).
   */
  keepaliveMs?: number;
}

/** Until a handshake is answered no sign of relay time is trusted beyond this. */
const EXPIRY_MARGIN_MS = 1000;

export interface RelayClientEvents {
  state: [state: ConnectionState, previous: ConnectionState];
  push: [topic: string, data: Value];
  durable: [outcome: DurableOutcome];
  warning: [error: Error];
}

export class RelayClient extends EventEmitter<RelayClientEvents> {
  private readonly o: Required<Omit<RelayClientOptions, 'descriptor' | 'permanentKey' | 'outbox'>> & RelayClientOptions;
  private readonly relayPub: Buffer;
  private st: ConnectionState = 'offline';
  private ws: WebSocket | undefined;
  /** The connection's TLS socket, corked while a burst of records is written. */
  private socket: TLSSocket | undefined;
  private running = false;
  private key: LiveKey | undefined;
  private binding: Binding | undefined;
  private handshake: { hs: ClientHandshake; purpose: Purpose } | undefined;
  private clockOffset = 0;
  /** Requests waiting, in flight and durable (restored from the outbox at start). */
  private readonly requests: Requests;
  /** Consecutive failed handshakes/binds (reset when ready). */
  private rebindFailures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private rotateTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** Set while a re-handshake after a 404 is scheduled; further 404s (for records already in flight) are ignored. */
  private rehandshakeTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private outboxLoaded: Promise<void> | undefined;
  private flushQueued = false;
  private readonly nodes: NodeChoice;

  constructor(options: RelayClientOptions) {
    super();
    this.o = { tempKeyLifetimeSec: 86400, backoff: DEFAULT_BACKOFF, maxInFlight: 256, keepaliveMs: 30_000, ...options };
    this.relayPub = Buffer.from(options.descriptor.relayPublicKey, 'hex');
    this.nodes = new NodeChoice(options.descriptor, this.o.backoff);
    this.requests = new Requests({
      outbox: options.outbox,
      maxInFlight: this.o.maxInFlight,
      wake: () => this.flush(),
      retryLater: () => this.scheduleRetry(),
      durable: (outcome) => this.emit('durable', outcome),
      warning: (error) => void this.emit('warning', error),
    });
  }

  get state(): ConnectionState {
    return this.st;
  }

  /** Relay time (ms) at which the current temp key expires; never the key itself. */
  get tempKeyExpiresAt(): number | undefined {
    return this.key?.expiresAt;
  }

  /** Best estimate of the relay's clock, ms since the epoch. */
  relayNow(): number {
    return Date.now() + this.clockOffset;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.outboxLoaded ??= this.requests.loadOutbox();
    await this.outboxLoaded;
    if (this.running) this.connect();
  }

  /** Disconnects, zeroes every temp key, rejects non-durable requests. Durable ones stay in the outbox. */
  async stop(): Promise<void> {
    this.running = false;
    for (const t of [this.reconnectTimer, this.rotateTimer, this.retryTimer, this.handshakeTimer, this.rehandshakeTimer, this.keepaliveTimer]) if (t) clearTimeout(t);
    this.rehandshakeTimer = undefined;
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
    }
    this.dropAllKeys();
    // A handshake in flight holds an ephemeral X25519 key object: let the GC free it.
    this.handshake = undefined;
    this.requests.stop();
    this.setState('offline');
  }

  /**
   * One request of the relay's method table, typed from it; waits for a bound key, re-sent (new
   * msg_id) after a 404 until answered. The answer is checked against the table (a malformed one
   * is a ProtocolError BAD_FRAME).
   */
  async call<M extends RelayMethodName>(method: M, params: RelayCallParams<M>): Promise<RelayResult<M>> {
    return parseRelayResult(method, await this.requests.add(method, params));
  }

  /**
   * A `send` that must survive restarts: written to the outbox first, removed when the relay
   * answered. `params.idem` is set to `id`, so the relay stores a re-send once.
   */
  async callDurable(method: 'send', params: Omit<RelayParams<'send'>, 'idem'>, id: string): Promise<RelayResult<'send'>> {
    return parseRelayResult(method, await this.requests.addDurable(method, { ...params }, id));
  }

  /**
   * Durable requests written to the outbox by someone else after start (the messenger's queued
   * withdraws): sent as if loaded at start, without listing the outbox again.
   */
  adoptDurable(items: readonly OutboxItem[]): void {
    this.requests.adopt(items);
  }

  /** A `sendMany` through the outbox (a group message's fan-out); each item carries its own idempotency key. */
  async callDurableMany(params: SendManyParams, id: string): Promise<RelayResult<'sendMany'>> {
    return parseRelayResult('sendMany', await this.requests.addDurable('sendMany', { bodies: params.bodies, items: params.items.map((i) => ({ ...i })) }, id));
  }

  // ---- connection ----------------------------------------------------------------------

  private setState(s: ConnectionState): void {
    if (s === this.st) return;
    const prev = this.st;
    this.st = s;
    this.emit('state', s, prev);
  }

  private backoffDelay(failures: number): number {
    return backoffDelay(this.o.backoff, failures);
  }

  private connect(): void {
    if (!this.running) return;
    this.reconnectTimer = undefined;
    this.setState('connecting');
    const { ws, pinned } = openPinned(this.nodes.url, this.o.descriptor.certificateSha256, {
      mismatch: (e) => void this.emit('warning', e),
      tlsSocket: (socket) => {
        this.socket = socket;
      },
    });
    this.ws = ws;
    ws.on('open', () => {
      if (ws !== this.ws) return;
      if (!pinned()) {
        ws.terminate();
        return;
      }
      this.onOpen();
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (ws !== this.ws) return;
      try {
        if (!isBinary || !Buffer.isBuffer(data)) throw new ProtocolError('BAD_FRAME', 'unexpected text frame');
        this.onFrame(data);
      } catch (e) {
        this.emit('warning', e instanceof Error ? e : new Error(String(e)));
        ws.terminate();
      }
    });
    ws.on('error', () => undefined);
    ws.on('close', (code: number) => {
      if (ws !== this.ws) return;
      const name = closeCodeName(code);
      if (name) this.emit('warning', new ProtocolError(name, 'relay closed the connection'));
      // The relay refused our records (clock far off, or a damaged key): start over with a new
      // handshake, which also re-reads the relay's clock, rather than retry the same key forever.
      if (name === 'RECORD_INVALID') this.dropAllKeys();
      this.onDisconnect();
    });
  }

  private onDisconnect(): void {
    this.ws = undefined;
    this.socket = undefined;
    if (this.rehandshakeTimer) clearTimeout(this.rehandshakeTimer);
    this.rehandshakeTimer = undefined;
    this.handshake = undefined;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    if (this.binding) {
      zeroKey(this.binding);
      this.binding = undefined;
    }
    if (this.rotateTimer) clearTimeout(this.rotateTimer);
    this.requests.unsend();
    this.setState('offline');
    if (!this.running) return;
    this.reconnectTimer = setTimeout(() => this.connect(), this.nodes.lost());
  }

  private onOpen(): void {
    // The relay most likely forgot our key (a restart, or another node: NodeChoice.opened).
    const relayWasDown = this.nodes.opened();
    const key = this.key;
    if (key && relayWasDown) {
      // Re-bind at once instead of probing first: after a restart the probe's 404 would cost
      // a round trip through a relay busy with every other client's reconnect. If the relay
      // did still know the key, the new bind simply replaces it.
      this.dropAllKeys();
      this.requests.unsend();
      this.startHandshake('rebind');
      return;
    }
    if (key && key.expiresAt - EXPIRY_MARGIN_MS > this.relayNow()) {
      // The relay may still know this key (network blip) or answer 404 (restart, expiry).
      void this.probe(key);
      return;
    }
    this.dropAllKeys();
    this.startHandshake('initial');
  }

  private async probe(key: LiveKey): Promise<void> {
    try {
      this.transmitRaw(key, { kind: 'request', reqId: 0, method: 'ping', params: null });
    } catch {
      return;
    }
    // The answer (reqId 0) or a 404 arrives in onRecord / onUnknownKey.
  }

  private startHandshake(purpose: Purpose): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.handshake || this.binding) return;
    if (purpose === 'initial') this.setState('handshaking');
    else if (purpose === 'rebind') this.setState('rebinding');
    const hs = new ClientHandshake();
    this.handshake = { hs, purpose };
    ws.send(hs.helloFrame);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = setTimeout(() => {
      if (this.handshake?.hs === hs && this.ws === ws) ws.terminate();
    }, 15_000);
  }

  // ---- frames ----------------------------------------------------------------------------

  private onFrame(data: Buffer): void {
    this.armKeepalive();
    const frame = decodeFrame(data);
    switch (frame.type) {
      case 'helloReply':
        return this.onHelloReply(frame);
      case 'record':
        return this.onRecord(frame);
      case 'unknownKey':
        return this.onUnknownKey();
      case 'error':
        return this.onErrorFrame(frame.code, frame.retryAfterMs);
      case 'hello':
        throw new ProtocolError('BAD_FRAME', 'relay sent a hello');
    }
  }

  private onErrorFrame(code: number, retryAfterMs: number): void {
    const hs = this.handshake;
    if (!hs) return;
    this.handshake = undefined;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    if (code !== ERROR_FRAME_CODES.RATE_LIMITED) throw new ProtocolError('HANDSHAKE_INVALID', 'relay refused the handshake');
    this.rebindFailures++;
    const delay = Math.max(retryAfterMs, 50) + this.backoffDelay(this.rebindFailures);
    this.retryTimer = setTimeout(() => this.startHandshake(hs.purpose), delay);
  }

  private onHelloReply(reply: HelloReplyFrame): void {
    const hs = this.handshake;
    if (!hs) throw new ProtocolError('BAD_FRAME', 'unexpected hello reply');
    this.handshake = undefined;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    const material = hs.hs.finish(reply, this.relayPub);
    this.clockOffset = material.relayTime - Date.now();
    const { binding, params } = newBinding(material, {
      permanentKey: this.o.permanentKey,
      lifetimeSec: this.o.tempKeyLifetimeSec,
      relayNow: () => this.relayNow(),
      reqId: this.requests.nextReqId(),
      purpose: hs.purpose,
    });
    this.binding = binding;
    if (hs.purpose === 'initial') this.setState('binding');
    this.transmitRaw(binding, { kind: 'request', reqId: binding.reqId, method: 'bind', params });
  }

  private onRecord(frame: RecordFrame): void {
    const live = this.key && frame.tempKeyId.equals(this.key.endpoint.tempKeyId) ? this.key
      : this.binding && frame.tempKeyId.equals(this.binding.endpoint.tempKeyId) ? this.binding
        : undefined;
    if (!live) return; // a record under a key already dropped
    const payload = live.endpoint.open(frame);
    if (!payload) throw new ProtocolError('RECORD_INVALID');
    // Valid relay msg_ids carry its clock: if it runs ahead of our estimate, catch up.
    const relayTime = msgIdTime(payload.msgId);
    if (relayTime > this.relayNow()) this.clockOffset = relayTime - Date.now();
    const bodies = decodeBodies(payload.body);
    for (const body of bodies) if (body.kind === 'request') throw new ProtocolError('BAD_FRAME', 'relay sent a request');
    for (const body of bodies) this.onBody(live, body);
  }

  private onBody(live: LiveKey, body: Body): void {
    if (body.kind === 'request') return;
    if (body.kind === 'push') {
      this.emit('push', body.topic, body.data);
      return;
    }
    if (this.binding && live === this.binding && body.reqId === this.binding.reqId) {
      if (body.kind === 'result') this.onBound(this.binding);
      else this.onBindFailed(this.binding, new RpcError(body.code, body.detail));
      return;
    }
    if (body.reqId === 0) {
      // Answer to the reconnect probe: the relay still knows the key.
      if (live === this.key && this.st === 'connecting') this.becomeReady();
      return;
    }
    const answered = body.kind === 'result'
      ? this.requests.answer(live.endpoint, body.reqId, body.result, undefined)
      : this.requests.answer(live.endpoint, body.reqId, undefined, new RpcError(body.code, body.detail));
    if (answered) this.flush();
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.flush();
    }, 2100);
  }

  private onBound(b: Binding): void {
    const old = this.key;
    this.key = { endpoint: b.endpoint, material: b.material, expiresAt: b.expiresAt };
    this.binding = undefined;
    if (old) zeroKey(old);
    // Whatever was sent under the old key and not answered goes again, with new msg_ids.
    this.requests.unsend();
    this.becomeReady();
  }

  private armKeepalive(): void {
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    this.keepaliveTimer = setTimeout(() => {
      this.keepaliveTimer = undefined;
      if (this.st === 'ready' && this.running) this.call('ping', null).catch(() => undefined);
      else if (this.running) this.armKeepalive();
    }, this.o.keepaliveMs);
    this.keepaliveTimer.unref();
  }

  private becomeReady(): void {
    this.armKeepalive();
    this.rebindFailures = 0;
    this.setState('ready');
    this.scheduleRotation();
    this.flush();
  }

  private onBindFailed(b: Binding, err: RpcError): void {
    this.binding = undefined;
    zeroKey(b);
    this.emit('warning', err);
    this.rebindFailures++;
    const purpose = b.purpose;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.startHandshake(purpose);
    }, this.backoffDelay(this.rebindFailures));
    // A failed rotation leaves the current key in use: release what waited for the bind.
    this.flush();
  }

  /** A bare 404: the relay does not know the key. Only the temp key is dropped, never the permanent one. */
  private onUnknownKey(): void {
    // Stale 404s for records sent before our new hello (or before the one scheduled) change nothing.
    if (this.handshake || this.rehandshakeTimer) return;
    const hadKey = this.key !== undefined;
    this.dropAllKeys();
    this.requests.unsend();
    this.setState(hadKey ? 'rebinding' : 'handshaking');
    // The first re-handshake goes out almost at once (spread over 50 ms); repeated ones back off.
    const delay = this.rebindFailures === 0 ? randomInt(0, 50) : this.backoffDelay(this.rebindFailures);
    this.rebindFailures++;
    this.rehandshakeTimer = setTimeout(() => {
      this.rehandshakeTimer = undefined;
      this.startHandshake(hadKey ? 'rebind' : 'initial');
    }, delay);
  }

  // ---- sending ---------------------------------------------------------------------------

  private transmitRaw(k: LiveKey, body: Parameters<typeof encodeBody>[0]): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) throw new Error('not connected');
    ws.send(k.endpoint.seal(encodeBody(body)));
  }

  /**
   * Sends waiting requests soon: calls and answers handled in the same turn are written
   * together (one corked write, one TLS record) instead of one syscall each.
   */
  private flush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flushNow();
    });
  }

  /** Sends waiting requests in order while a bound key is usable and no bind is in flight. */
  private flushNow(): void {
    const key = this.key;
    if (this.st !== 'ready' || !key || this.binding || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    const socket = this.socket;
    socket?.cork();
    try {
      this.flushOn(key);
    } finally {
      socket?.uncork();
    }
  }

  private flushOn(key: LiveKey): void {
    sendInRecords(() => this.ws, key.endpoint, (out) => this.requests.collect(key.endpoint, out));
  }

  // ---- temp key lifecycle ------------------------------------------------------------------

  private scheduleRotation(): void {
    if (this.rotateTimer) clearTimeout(this.rotateTimer);
    const key = this.key;
    if (!key) return;
    this.rotateTimer = setTimeout(() => {
      this.rotateTimer = undefined;
      if (this.st === 'ready' && this.key === key) this.startHandshake('rotate');
    }, rotationDelay(key, this.relayNow()));
    this.rotateTimer.unref();
  }

  private dropAllKeys(): void {
    if (this.key) zeroKey(this.key);
    if (this.binding) zeroKey(this.binding);
    this.key = undefined;
    this.binding = undefined;
    this.handshake = undefined;
    if (this.rotateTimer) clearTimeout(this.rotateTimer);
  }
}
