// Connection to one relay: temp-key lifecycle (handshake, bind, rotation before expiry, 404
// recovery), a generic request/response RPC over the record layer, server pushes, and a
// durable outbox. The temp key lives only in this object's memory and is zeroed when dropped.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { WebSocket, type ClientOptions, type RawData } from 'ws';
import { BIND_NONCE_BYTES, SESSION_ID_BYTES } from '../../shared/protocol/bind.ts';
import { descriptorUrls, type RelayDescriptor } from '../../shared/protocol/descriptor.ts';
import { closeCodeName, ProtocolError, RETRYABLE_RPC_ERRORS, RpcError } from '../../shared/protocol/errors.ts';
import { decodeFrame, ERROR_FRAME_CODES, MAX_FRAME_BYTES, type HelloReplyFrame, type RecordFrame } from '../../shared/protocol/frames.ts';
import { ClientHandshake, zeroTempKey, type TempKeyMaterial } from '../../shared/protocol/handshake.ts';
import { parseRelayResult, type RelayCallParams, type RelayMethodName, type RelayParams, type RelayResult } from '../../shared/protocol/methods.ts';
import { msgIdTime, RecordEndpoint } from '../../shared/protocol/record.ts';
import { BATCH_TARGET_BYTES, decodeBodies, encodeBatch, encodeBody, MAX_BATCH_BODIES, type Body } from '../../shared/protocol/rpc.ts';
import { decodeValue, encodeValue, isValueMap, type Value, type ValueMap } from '../../shared/protocol/value.ts';
import type { PermanentKey } from './permanent-key.ts';
import type { OutboxItem, OutboxStore } from './stores.ts';

export type ConnectionState = 'offline' | 'connecting' | 'handshaking' | 'binding' | 'ready' | 'rebinding';

export interface Backoff {
  baseMs: number;
  maxMs: number;
}

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

interface LiveKey {
  endpoint: RecordEndpoint;
  material: TempKeyMaterial;
  expiresAt: number;
}

interface Binding extends LiveKey {
  reqId: number;
  purpose: Purpose;
}

type Purpose = 'initial' | 'rebind' | 'rotate';

// Reconnects back off to at most a second: a refused connection costs the relay nothing, and
// after a relay restart the time to come back is bounded by this cap (the target: a wave of
// 1000 clients re-bound within 3 s). Handshakes themselves are paced by the relay.
const DEFAULT_BACKOFF: Backoff = { baseMs: 250, maxMs: 1000 };
const LIFETIME_JITTER = 0.04;
const ROTATION_LEAD_MAX_MS = 3600_000;
/** Until a handshake is answered no sign of relay time is trusted beyond this. */
const EXPIRY_MARGIN_MS = 1000;

// One TLS context for every connection: building one per connect (what tls.connect does when
// given options) loads the CA store each time and cost the client ~1 ms per reconnect, which
// dominated a restart wave. The relay's certificate is pinned by hash, not chained to a CA.
let sharedTlsContext: SecureContext | undefined;
function tlsContext(): SecureContext {
  sharedTlsContext ??= createSecureContext({ minVersion: 'TLSv1.2' });
  return sharedTlsContext;
}

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
  private readonly pending = new Map<number, Pending>();
  private readonly durable = new Map<string, Pending>();
  private nextReqId = 1;
  private inFlight = 0;
  /** Consecutive failed connection attempts (reset when a connection opens). */
  private connectFailures = 0;
  /** Consecutive failed handshakes/binds (reset when ready). */
  private rebindFailures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private rotateTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** Set while a re-handshake after a 404 is scheduled; further 404s (for records already in flight) are ignored. */
  private rehandshakeTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private lastCreatedAt = 0;
  private outboxLoaded: Promise<void> | undefined;
  private flushQueued = false;
  /** The relay's node URLs (one for a single relay); `url` is the one tried next. */
  private readonly urls: readonly string[];
  private url: string;
  /** The node of the last connection that opened: a key from another node is unknown here. */
  private openedUrl: string | undefined;

  constructor(options: RelayClientOptions) {
    super();
    this.o = { tempKeyLifetimeSec: 86400, backoff: DEFAULT_BACKOFF, maxInFlight: 256, keepaliveMs: 30_000, ...options };
    this.relayPub = Buffer.from(options.descriptor.relayPublicKey, 'hex');
    this.urls = descriptorUrls(options.descriptor);
    // A random node first, so a cluster's clients spread over its nodes.
    this.url = this.urls[randomInt(this.urls.length)]!;
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
    this.outboxLoaded ??= this.loadOutbox();
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
    for (const p of this.pending.values()) if (!p.durableId) p.reject(new Error('relay client stopped'));
    for (const [id, p] of this.pending) if (!p.durableId) this.pending.delete(id);
    for (const p of this.pending.values()) p.sentOn = undefined;
    this.inFlight = 0;
    this.setState('offline');
  }

  /**
   * One request of the relay's method table, typed from it; waits for a bound key, re-sent (new
   * msg_id) after a 404 until answered. The answer is checked against the table (a malformed one
   * is a ProtocolError BAD_FRAME).
   */
  async call<M extends RelayMethodName>(method: M, params: RelayCallParams<M>): Promise<RelayResult<M>> {
    return parseRelayResult(method, await this.request(method, params));
  }

  private request(method: string, params: Value): Promise<Value> {
    return new Promise<Value>((resolve, reject) => {
      const p: Pending = { reqId: this.nextReqId++, method, params, resolve, reject };
      this.pending.set(p.reqId, p);
      this.flush();
    });
  }

  /**
   * A `send` that must survive restarts: written to the outbox first, removed when the relay
   * answered. `params.idem` is set to `id`, so the relay stores a re-send once.
   */
  async callDurable(method: 'send', params: Omit<RelayParams<'send'>, 'idem'>, id: string): Promise<RelayResult<'send'>> {
    return parseRelayResult(method, await this.requestDurable(method, { ...params }, id));
  }

  private async requestDurable(method: string, params: ValueMap, id: string): Promise<Value> {
    const existing = this.durable.get(id);
    if (existing) return new Promise<Value>((resolve, reject) => this.chain(existing, resolve, reject));
    const full: ValueMap = { ...params, idem: id };
    const createdAt = Math.max(Date.now(), this.lastCreatedAt + 1);
    this.lastCreatedAt = createdAt;
    await this.o.outbox.put({ id, body: encodeValue({ m: method, p: full }), createdAt });
    return new Promise<Value>((resolve, reject) => {
      const p: Pending = { reqId: this.nextReqId++, method, params: full, durableId: id, resolve, reject };
      this.pending.set(p.reqId, p);
      this.durable.set(id, p);
      this.flush();
    });
  }

  private chain(p: Pending, resolve: (v: Value) => void, reject: (e: Error) => void): void {
    const r0 = p.resolve;
    const j0 = p.reject;
    p.resolve = (v) => { r0(v); resolve(v); };
    p.reject = (e) => { j0(e); reject(e); };
  }

  private async loadOutbox(): Promise<void> {
    const items = [...(await this.o.outbox.list())].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const item of items) this.restoreDurable(item);
  }

  private restoreDurable(item: OutboxItem): void {
    if (this.durable.has(item.id)) return;
    let decoded: Value;
    try {
      decoded = decodeValue(item.body);
    } catch {
      this.emit('warning', new Error(`outbox item ${item.id} is unreadable; dropped`));
      this.deleteFromOutbox(item.id);
      return;
    }
    if (!isValueMap(decoded) || typeof decoded.m !== 'string' || !isValueMap(decoded.p as Value)) {
      this.deleteFromOutbox(item.id);
      return;
    }
    this.lastCreatedAt = Math.max(this.lastCreatedAt, item.createdAt);
    const p: Pending = {
      reqId: this.nextReqId++,
      method: decoded.m,
      params: decoded.p as Value,
      durableId: item.id,
      resolve: () => undefined,
      reject: () => undefined,
    };
    this.pending.set(p.reqId, p);
    this.durable.set(item.id, p);
  }

  // ---- connection ----------------------------------------------------------------------

  private setState(s: ConnectionState): void {
    if (s === this.st) return;
    const prev = this.st;
    this.st = s;
    this.emit('state', s, prev);
  }

  private backoffDelay(failures: number): number {
    const { baseMs, maxMs } = this.o.backoff;
    const cap = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, failures - 1), 16));
    return randomInt(Math.max(1, Math.floor(cap / 2)), Math.max(2, cap + 1));
  }

  private connect(): void {
    if (!this.running) return;
    this.reconnectTimer = undefined;
    this.setState('connecting');
    // ws hands these options to tls.connect, which takes `secureContext` (ws's types omit it).
    const options: ClientOptions & { secureContext: SecureContext } = {
      rejectUnauthorized: false, // the certificate is pinned below instead of chained to a CA
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      minVersion: 'TLSv1.2',
      secureContext: tlsContext(),
    };
    const ws = new WebSocket(this.url, options);
    this.ws = ws;
    let pinned = false;
    ws.on('upgrade', (res: IncomingMessage) => {
      // getPeerX509Certificate parses lazily; getPeerCertificate built a full object (~0.1 ms).
      const cert = (res.socket as TLSSocket).getPeerX509Certificate?.();
      const fp = cert ? createHash('sha256').update(cert.raw).digest('hex') : '';
      if (fp !== this.o.descriptor.certificateSha256) {
        this.emit('warning', new ProtocolError('CERT_PIN_MISMATCH', 'relay certificate does not match the descriptor'));
        ws.terminate();
        return;
      }
      pinned = true;
      this.socket = res.socket as TLSSocket;
    });
    ws.on('open', () => {
      if (ws !== this.ws) return;
      if (!pinned) {
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
      this.binding.endpoint.zero();
      zeroTempKey(this.binding.material);
      this.binding = undefined;
    }
    if (this.rotateTimer) clearTimeout(this.rotateTimer);
    for (const p of this.pending.values()) p.sentOn = undefined;
    this.inFlight = 0;
    this.setState('offline');
    if (!this.running) return;
    this.connectFailures++;
    // Several nodes: the next attempt goes to another one, picked at random, so the clients of a
    // node that died spread over the rest instead of all moving to the same next one.
    if (this.urls.length > 1) {
      const others = this.urls.filter((u) => u !== this.url);
      this.url = others[randomInt(others.length)]!;
    }
    this.reconnectTimer = setTimeout(() => this.connect(), this.backoffDelay(this.connectFailures));
  }

  private onOpen(): void {
    // connectFailures counts the lost connection too: 2 or more means the relay refused or
    // did not answer at least one attempt, i.e. it most likely restarted and forgot our key.
    // A key bound on another node of the cluster is unknown here: the same as a relay restart.
    const relayWasDown = this.connectFailures >= 2 || (this.openedUrl !== undefined && this.openedUrl !== this.url);
    this.openedUrl = this.url;
    this.connectFailures = 0;
    const key = this.key;
    if (key && relayWasDown) {
      // Re-bind at once instead of probing first: after a restart the probe's 404 would cost
      // a round trip through a relay busy with every other client's reconnect. If the relay
      // did still know the key, the new bind simply replaces it.
      this.dropAllKeys();
      for (const p of this.pending.values()) p.sentOn = undefined;
      this.inFlight = 0;
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
    const sessionId = randomBytes(SESSION_ID_BYTES);
    const endpoint = new RecordEndpoint(material, 'client', () => this.relayNow(), sessionId);
    const lifetimeMs = Math.min(this.o.tempKeyLifetimeSec, material.maxTtlSec) * 1000 * (1 - Math.random() * LIFETIME_JITTER);
    const expiresAt = Math.floor(material.relayTime + Math.max(1000, lifetimeMs));
    const { message, signature } = this.o.permanentKey.signBind({
      tempKeyId: material.id,
      transcriptHash: material.transcriptHash,
      sessionId,
      nonce: randomBytes(BIND_NONCE_BYTES),
      expiresAt,
    });
    const binding: Binding = { endpoint, material, expiresAt, reqId: this.nextReqId++, purpose: hs.purpose };
    this.binding = binding;
    if (hs.purpose === 'initial') this.setState('binding');
    this.transmitRaw(binding, { kind: 'request', reqId: binding.reqId, method: 'bind', params: { message, signature } });
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
    const p = this.pending.get(body.reqId);
    if (!p || p.sentOn !== live.endpoint) return;
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (body.kind === 'result') this.settle(p, body.result, undefined);
    else this.settle(p, undefined, new RpcError(body.code, body.detail));
    this.flush();
  }

  private settle(p: Pending, result: Value | undefined, error: RpcError | undefined): void {
    if (p.durableId === undefined || !error || !RETRYABLE_RPC_ERRORS.has(error.code)) this.pending.delete(p.reqId);
    if (p.durableId !== undefined) {
      if (error && RETRYABLE_RPC_ERRORS.has(error.code)) {
        // Keep it in place; it and everything after it wait, so the order is kept.
        p.sentOn = undefined;
        p.notBefore = Date.now() + 1000 + randomInt(0, 1000);
        this.scheduleRetry();
        return;
      }
      this.durable.delete(p.durableId);
      this.deleteFromOutbox(p.durableId);
      this.emit('durable', { id: p.durableId, method: p.method, result, error });
    }
    if (error) p.reject(error);
    else p.resolve(result ?? null);
  }

  /** A store may throw or reject (locked meanwhile): the item is then re-sent and de-duplicated. */
  private deleteFromOutbox(id: string): void {
    const warn = (e: unknown): void => void this.emit('warning', e instanceof Error ? e : new Error(String(e)));
    try {
      void Promise.resolve(this.o.outbox.delete(id)).catch(warn);
    } catch (e) {
      warn(e);
    }
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
    if (old) this.zeroKey(old);
    // Whatever was sent under the old key and not answered goes again, with new msg_ids.
    for (const p of this.pending.values()) p.sentOn = undefined;
    this.inFlight = 0;
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
    this.zeroKey(b);
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
    for (const p of this.pending.values()) p.sentOn = undefined;
    this.inFlight = 0;
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
    // Requests released together go in one record (a BATCH body when more than one).
    let batch: Buffer[] = [];
    let bytes = 0;
    const send = (): void => {
      const ws = this.ws;
      if (batch.length === 0 || !ws || ws.readyState !== WebSocket.OPEN) return;
      ws.send(key.endpoint.seal(batch.length === 1 ? (batch[0] as Buffer) : encodeBatch(batch)));
      batch = [];
      bytes = 0;
    };
    try {
      this.collectRequests(key, (encoded) => {
        if (batch.length >= MAX_BATCH_BODIES || (batch.length > 0 && bytes + encoded.length > BATCH_TARGET_BYTES)) send();
        batch.push(encoded);
        bytes += 4 + encoded.length;
      });
    } finally {
      send();
    }
  }

  private collectRequests(key: LiveKey, out: (encoded: Buffer) => void): void {
    for (const p of this.pending.values()) {
      if (this.inFlight >= this.o.maxInFlight) break;
      if (p.sentOn) continue;
      if (p.notBefore !== undefined) {
        if (p.notBefore > Date.now()) {
          this.scheduleRetry();
          break;
        }
        p.notBefore = undefined;
      }
      let encoded: Buffer;
      try {
        encoded = encodeBody({ kind: 'request', reqId: p.reqId, method: p.method, params: p.params });
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
      p.sentOn = key.endpoint;
      this.inFlight++;
      out(encoded);
    }
  }

  // ---- temp key lifecycle ------------------------------------------------------------------

  private scheduleRotation(): void {
    if (this.rotateTimer) clearTimeout(this.rotateTimer);
    const key = this.key;
    if (!key) return;
    const remaining = key.expiresAt - this.relayNow();
    // About an hour early for a day-long key; proportionally earlier (a third) for short ones.
    const lead = Math.min(ROTATION_LEAD_MAX_MS, remaining / 3);
    this.rotateTimer = setTimeout(() => {
      this.rotateTimer = undefined;
      if (this.st === 'ready' && this.key === key) this.startHandshake('rotate');
    }, Math.max(0, remaining - lead));
    this.rotateTimer.unref();
  }

  private zeroKey(k: LiveKey): void {
    k.endpoint.zero();
    zeroTempKey(k.material);
  }

  private dropAllKeys(): void {
    if (this.key) this.zeroKey(this.key);
    if (this.binding) this.zeroKey(this.binding);
    this.key = undefined;
    this.binding = undefined;
    this.handshake = undefined;
    if (this.rotateTimer) clearTimeout(this.rotateTimer);
  }
}
