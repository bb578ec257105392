// The relay: TLS WebSocket server; temp keys in a RAM-only Map with an expiry sweep; devices
// and the envelope queue in SQLite. One frame in, at most a few frames out; any malformed
// input closes that one connection with a typed close code and never reaches the process.
import { constants, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { bytesEqual } from '../shared/protocol/bytes.ts';
import { parseDescriptor, type RelayDescriptor } from '../shared/protocol/descriptor.ts';
import { CLOSE_CODES, ProtocolError, RpcError } from '../shared/protocol/errors.ts';
import {
  decodeFrame, encodeErrorFrame, ERROR_FRAME_CODES, MAX_FRAME_BYTES, UNKNOWN_KEY_FRAME,
  type HelloFrame, type RecordFrame,
} from '../shared/protocol/frames.ts';
import { relayHandshake, type RelayIdentity } from '../shared/protocol/handshake.ts';
import { ENVELOPE_TOPIC, isRelayMethod, type EnvelopePush, type RelayMethodName } from '../shared/protocol/methods.ts';
import { RecordEndpoint } from '../shared/protocol/record.ts';
import { BATCH_TARGET_BYTES, decodeBodies, encodeBatch, encodeBody, MAX_BATCH_BODIES, type Body } from '../shared/protocol/rpc.ts';
import { addressBucket, ConnectionGuard, DEFAULT_CONNECTION_LIMITS } from './connections.ts';
import { loadOrCreateRelayFiles, writeDescriptor } from './identity.ts';
import { andThen, type BoundDevice, type CallContext, type Conn, type MaybePromise, type ServedMethod, type TempKeyEntry } from './context.ts';
import { ClusterStore } from './cluster.ts';
import type { ClusterEvent } from './store-backend.ts';
import { PgStoreBackend } from './store-pg.ts';
import { KeyStore } from './key-store.ts';
import { FetchBudget } from './keys.ts';
import { relayMethods, type Binder, type Delivery, type LookupBudget } from './methods.ts';
import { RateLimiter } from './rate-limit.ts';
import { RelayStore, type DeviceRow, type QueuedEnvelope } from './store.ts';

/** TLS 1.2 suites offered: ECDHE only, so every TLS session has forward secrecy. TLS 1.3 suites are all ephemeral. */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
].join(':');

export interface RelayOptions {
  dataDir: string;
  host?: string;
  port?: number;
  /** Longest temp key lifetime a bind may ask for. Default 25 h (clients pick 23-24 h). */
  maxTtlSec?: number;
  /** An unbound temp key is forgotten after this long. */
  unboundTtlMs?: number;
  handshakesPerSecond?: number;
  handshakeBurst?: number;
  /**
   * First binds of unknown permanent keys (each adds a row to the relay's disk) per source
   * address: sustained per minute, and burst. Defaults 10 and 100.
   */
  newDevicesPerMinute?: number;
  newDeviceBurst?: number;
  /** Envelopes waiting per account. */
  queueLimit?: number;
  /** Open connections per source address (IPv6: per /64). Default 128. */
  maxConnectionsPerAddress?: number;
  /** A connection that has not bound a temp key this long after TCP accept is closed. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** A bound connection without a frame from the client this long is closed (clients ping every 30 s). Default 120 s. */
  idleTimeoutMs?: number;
  /** Handle lookups (`resolve`) per device: sustained per minute, and burst. Defaults 60 and 100. */
  lookupsPerMinute?: number;
  lookupBurst?: number;
  /** The same lookups per source address (IPv6: per /64), so new devices do not buy new budget. Defaults 240 and 400. */
  addressLookupsPerMinute?: number;
  addressLookupBurst?: number;
  /** Bind nonces remembered (oldest evicted beyond this). Default 2,000,000. */
  maxBindNonces?: number;
  /** Bound temp keys kept without a connection (oldest forgotten beyond this; they get 404). Default 200,000. */
  maxIdleBoundKeys?: number;
  /**
   * How often idempotency records older than their retention are deleted (also once at start,
   * so a relay that restarts more often than this still prunes). Default 1 h.
   */
  idempotencyPruneIntervalMs?: number;
  clock?: () => number;
  log?: (event: Record<string, unknown>) => void;
  /**
   * The URLs clients use, when they differ from the listening address (a cluster's nodes, a
   * public name): the descriptor lists them all, its `url` is the first. Same list, same files:
   * the same descriptor on every node.
   */
  advertise?: readonly string[];
  /**
   * postgres://… : run as a node of a cluster whose devices, prekeys, queue and idempotency
   * records are in that PostgreSQL database (shared by every node); DIR then holds only the
   * identity, the certificate and the descriptor. Without it: DIR/relay.db (SQLite).
   */
  database?: string;
}

/**
 * An outgoing frame waiting for the commit: either a finished frame, or bodies for one temp key
 * that are sealed together (one BATCH record when more than one) when the commit is done.
 */
interface Held {
  conn: Conn;
  frame?: Buffer;
  entry?: TempKeyEntry;
  bodies?: Buffer[];
  bytes: number;
}


const PUSH_WINDOW = 128;
/** A peer that does not read its answers is cut off before it makes the relay buffer without bound. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
const MAX_UNBOUND_PER_CONN = 4;
const MAX_BIND_NONCES = 2_000_000;
const MAX_IDLE_BOUND_KEYS = 200_000;
/** Under load, at most one commit per this many ms (answers wait for it); idle: no wait. */
const COMMIT_INTERVAL_MS = 8;
/** How often the WAL is checkpointed and truncated (old frames hold acknowledged envelopes). */
const WAL_SCRUB_INTERVAL_MS = 10_000;

export class RelayCore implements Binder, Delivery, LookupBudget {
  private readonly sqlite: RelayStore | undefined;
  /** On a cluster node: the shared PostgreSQL store and this node's id. */
  readonly cluster: ClusterStore | undefined;
  private readonly backend: RelayStore | ClusterStore;
  readonly identity: RelayIdentity;
  readonly maxTtlSec: number;
  readonly queueLimit: number;
  private readonly unboundTtlMs: number;
  private readonly clock: () => number;
  private readonly log: (event: Record<string, unknown>) => void;
  private readonly limiter: RateLimiter;
  private readonly newDeviceLimiter: RateLimiter;
  private readonly lookupLimiter: RateLimiter;
  private readonly addressLookupLimiter: RateLimiter;
  readonly guard: ConnectionGuard;
  private readonly maxBindNonces: number;
  private readonly maxIdleBoundKeys: number;
  /** Bound keys whose connection closed, oldest first: kept so a client can resume, but capped. */
  private readonly idleBound = new Set<TempKeyEntry>();
  private readonly keys = new Map<string, TempKeyEntry>();
  private readonly devices = new Map<string, BoundDevice>();
  private readonly bindNonces = new Map<string, number>();
  private readonly pumps = new Set<BoundDevice>();
  private readonly conns = new Set<Conn>();
  /** Frames held until the open write batch is committed (answers must not precede durability). */
  private held: Held[] | undefined;
  /** Per connection, the last held item: bodies for the same key join it (one record for all). */
  private readonly lastHeld = new Map<Conn, Held>();
  private lastCommitAt = Number.NEGATIVE_INFINITY;
  /** A method failed unexpectedly inside the open batch: it is rolled back, not committed. */
  private batchFailed = false;
  readonly stats = { handshakes: 0, binds: 0, notFound: 0, closedInvalid: 0 };
  /** The method table, served; each handler holds only the services it uses. */
  private readonly methods: Readonly<Record<RelayMethodName, ServedMethod>>;

  constructor(store: RelayStore | ClusterStore, identity: RelayIdentity, o: Omit<RelayOptions, 'dataDir' | 'host' | 'port'>) {
    this.backend = store;
    this.sqlite = store instanceof RelayStore ? store : undefined;
    this.cluster = store instanceof ClusterStore ? store : undefined;
    this.identity = identity;
    this.maxTtlSec = o.maxTtlSec ?? 25 * 3600;
    this.unboundTtlMs = o.unboundTtlMs ?? 60_000;
    this.queueLimit = o.queueLimit ?? 10_000;
    this.clock = o.clock ?? Date.now;
    this.log = o.log ?? (() => undefined);
    this.limiter = new RateLimiter(o.handshakesPerSecond ?? 500, o.handshakeBurst ?? 2000, this.clock);
    this.newDeviceLimiter = new RateLimiter((o.newDevicesPerMinute ?? 10) / 60, o.newDeviceBurst ?? 100, this.clock);
    this.lookupLimiter = new RateLimiter((o.lookupsPerMinute ?? 60) / 60, o.lookupBurst ?? 100, this.clock);
    this.addressLookupLimiter = new RateLimiter((o.addressLookupsPerMinute ?? 240) / 60, o.addressLookupBurst ?? 400, this.clock);
    this.guard = new ConnectionGuard({
      maxPerAddress: o.maxConnectionsPerAddress ?? DEFAULT_CONNECTION_LIMITS.maxPerAddress,
      handshakeTimeoutMs: o.handshakeTimeoutMs ?? DEFAULT_CONNECTION_LIMITS.handshakeTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs ?? DEFAULT_CONNECTION_LIMITS.idleTimeoutMs,
    });
    this.maxBindNonces = o.maxBindNonces ?? MAX_BIND_NONCES;
    this.maxIdleBoundKeys = o.maxIdleBoundKeys ?? MAX_IDLE_BOUND_KEYS;
    // The core is the binder, the delivery and the lookup budget; prekeys live beside the store's tables.
    this.methods = relayMethods({
      binder: this,
      delivery: this,
      lookups: this,
      directory: store,
      queue: store,
      prekeys: store instanceof RelayStore ? new KeyStore(store.database) : store.prekeys,
      fetches: new FetchBudget(),
    });
  }

  /** The SQLite store (tests reach into it); a cluster node has none. */
  get store(): RelayStore {
    if (!this.sqlite) throw new Error('a cluster node has no SQLite store');
    return this.sqlite;
  }

  get tempKeyCount(): number {
    return this.keys.size;
  }

  accept(ws: WebSocket, address: string, socket?: Socket): void {
    const tracked = socket ? this.guard.tracked(socket) : undefined;
    const conn: Conn = { ws, address: tracked?.bucket ?? addressBucket(address), socket, tracked, keys: new Set(), unbound: [] };
    this.conns.add(conn);
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(conn, data, isBinary));
    ws.on('error', () => ws.terminate());
    ws.on('close', () => this.onClose(conn));
  }

  private onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
    if (conn.tracked) this.guard.seen(conn.tracked);
    this.openBatch();
    try {
      if (!isBinary || !Buffer.isBuffer(data)) throw new ProtocolError('BAD_FRAME', 'text or fragmented frame');
      this.handleFrame(conn, data);
    } catch (e) {
      const code = e instanceof ProtocolError ? e.code : 'INTERNAL';
      if (code === 'INTERNAL') this.log({ event: 'internal-error', error: String(e) });
      if (code === 'RECORD_INVALID') this.stats.closedInvalid++;
      conn.ws.close(CLOSE_CODES[code], code);
    } finally {
      this.runPumps();
    }
  }

  private handleFrame(conn: Conn, data: Buffer): void {
    const frame = decodeFrame(data);
    if (frame.type === 'hello') this.onHello(conn, frame);
    else if (frame.type === 'record') this.onRecord(conn, frame);
    else throw new ProtocolError('BAD_FRAME', `${frame.type} is not sent by clients`);
  }

  private onHello(conn: Conn, hello: HelloFrame): void {
    const wait = this.limiter.take(conn.address);
    if (wait > 0) {
      this.send(conn, encodeErrorFrame(ERROR_FRAME_CODES.RATE_LIMITED, wait));
      return;
    }
    const now = this.clock();
    const { reply, material } = relayHandshake(hello, this.identity, now, this.maxTtlSec);
    const entry: TempKeyEntry = {
      idHex: material.id.toString('hex'),
      endpoint: new RecordEndpoint(material, 'relay', this.clock),
      transcriptHash: material.transcriptHash,
      expiresAt: now + this.unboundTtlMs,
    };
    // Only c2s/s2c are secret and they now live in the endpoint; the id is public.
    if (this.keys.has(entry.idHex)) throw new ProtocolError('HANDSHAKE_INVALID', 'temp key id collision');
    this.keys.set(entry.idHex, entry);
    conn.unbound.push(entry);
    while (conn.unbound.length > MAX_UNBOUND_PER_CONN) {
      const old = conn.unbound.shift();
      if (old && !old.boundTo) this.forgetKey(old);
    }
    this.stats.handshakes++;
    this.send(conn, reply);
  }

  private onRecord(conn: Conn, frame: RecordFrame): void {
    const idHex = frame.tempKeyId.toString('hex');
    const entry = this.keys.get(idHex);
    const now = this.clock();
    if (!entry || entry.expiresAt <= now) {
      if (entry) this.forgetKey(entry);
      this.stats.notFound++;
      this.send(conn, UNKNOWN_KEY_FRAME);
      return;
    }
    const payload = entry.endpoint.open(frame);
    if (!payload) throw new ProtocolError('RECORD_INVALID');
    if (entry.conn !== conn) {
      entry.conn?.keys.delete(entry);
      this.idleBound.delete(entry);
      entry.conn = conn;
      conn.keys.add(entry);
      const d = entry.boundTo;
      // A bound key reused on a new connection (the client reconnected) binds that connection:
      // the handshake deadline no longer applies to it, the keepalive timeout does.
      if (d && conn.tracked) conn.tracked.bound = true;
      if (d) this.restartPushes(d);
    }
    const bodies = decodeBodies(payload.body);
    for (const body of bodies) if (body.kind !== 'request') throw new ProtocolError('BAD_FRAME', 'clients send only requests');
    for (const body of bodies) {
      if (body.kind !== 'request') continue;
      if (this.cluster) {
        // The store answers later: one key's requests run one after another, so a send never
        // overtakes an earlier one (per-sender order), each answered when it is done.
        const run = async (): Promise<void> => this.answerLater(entry, await this.dispatch(entry, body.reqId, body.method, body.params));
        entry.chain = (entry.chain ?? Promise.resolve()).then(run, run);
        continue;
      }
      const answer = this.dispatch(entry, body.reqId, body.method, body.params);
      if (answer instanceof Promise) void answer.then((b) => this.answerLater(entry, b));
      else this.sendBody(entry, answer);
    }
  }

  private dispatch(entry: TempKeyEntry, reqId: number, method: string, params: unknown): MaybePromise<Body> {
    const served: ServedMethod | undefined = isRelayMethod(method) ? this.methods[method] : undefined;
    try {
      if (!served) throw new RpcError('UNKNOWN_METHOD', method);
      if (!served.unbound && !entry.boundTo) throw new RpcError('AUTH_KEY_UNBOUND');
      const ctx: CallContext = { key: entry, device: entry.boundTo, now: this.clock() };
      const result = served.run(ctx, params);
      if (result instanceof Promise) return result.then((r): Body => ({ kind: 'result', reqId, result: r }), (e: unknown) => this.failed(e, reqId, method));
      return { kind: 'result', reqId, result };
    } catch (e) {
      return this.failed(e, reqId, method);
    }
  }

  private failed(e: unknown, reqId: number, method: string): Body {
    if (e instanceof RpcError) return { kind: 'error', reqId, code: e.code, detail: e.message === e.code ? '' : e.message.slice(e.code.length + 2) };
    this.log({ event: 'method-failed', method, error: String(e) });
    // It may have written part of its work (no savepoints inside a batch): undo the batch.
    // (A cluster node's store calls each commit or fail whole: no batch to undo.)
    if (this.held && !this.cluster) this.batchFailed = true;
    return { kind: 'error', reqId, code: 'INTERNAL', detail: '' };
  }

  /** An answer the store gave later: sent unless its key was forgotten meanwhile. */
  private answerLater(entry: TempKeyEntry, b: Body): void {
    if (this.keys.get(entry.idHex) !== entry) return;
    this.sendBody(entry, b);
    this.runPumps();
  }

  private sendBody(entry: TempKeyEntry, body: Body): void {
    const conn = entry.conn;
    if (!conn) return;
    const encoded = encodeBody(body);
    if (!this.held) {
      this.write(conn, entry.endpoint.seal(encoded));
      return;
    }
    const last = this.lastHeld.get(conn);
    if (last?.bodies && last.entry === entry && last.bodies.length < MAX_BATCH_BODIES && last.bytes + encoded.length <= BATCH_TARGET_BYTES) {
      last.bodies.push(encoded);
      last.bytes += 4 + encoded.length;
      return;
    }
    const item: Held = { conn, entry, bodies: [encoded], bytes: 3 + 4 + encoded.length };
    this.held.push(item);
    this.lastHeld.set(conn, item);
  }

  private send(conn: Conn, frame: Buffer): void {
    if (!this.held) {
      this.write(conn, frame);
      return;
    }
    const item: Held = { conn, frame, bytes: frame.length };
    this.held.push(item);
    this.lastHeld.set(conn, item);
  }

  /** Seals a held group of bodies into its record (before its key may be forgotten). */
  private sealHeld(item: Held): void {
    const { entry, bodies } = item;
    if (!entry || !bodies) return;
    item.frame = entry.endpoint.seal(bodies.length === 1 ? (bodies[0] as Buffer) : encodeBatch(bodies));
    item.bodies = undefined;
    if (this.lastHeld.get(item.conn) === item) this.lastHeld.delete(item.conn);
  }

  private write(conn: Conn, frame: Buffer): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    if (conn.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      conn.ws.close(CLOSE_CODES.RATE_LIMITED, 'RATE_LIMITED');
      return;
    }
    conn.ws.send(frame);
  }

  private openBatch(): void {
    if (this.held) return;
    this.held = [];
    this.backend.beginBatch();
    // Group commit: when idle, commit at the end of this turn; when busy (the last commit was
    // under COMMIT_INTERVAL_MS ago), keep collecting until that interval has passed, so one
    // commit (its WAL page writes are the fixed cost) serves many requests.
    const wait = this.lastCommitAt + COMMIT_INTERVAL_MS - performance.now();
    if (wait > 0) setTimeout(() => this.commitBatch(), wait);
    else setImmediate(() => this.commitBatch());
  }

  /** Commits the turn's writes, then releases the answers and pushes they made possible. */
  commitBatch(): void {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    this.lastHeld.clear();
    this.lastCommitAt = performance.now();
    try {
      if (this.batchFailed) throw new Error('a method failed inside the batch');
      this.backend.commitBatch();
    } catch (e) {
      // Nothing was promised yet: drop the answers; clients re-send (idempotent) after reconnecting.
      this.log({ event: 'commit-failed', error: String(e) });
      this.batchFailed = false;
      this.backend.rollbackBatch();
      for (const { conn } of held) conn.ws.terminate();
      return;
    }
    const corked = new Set<Socket>();
    for (const item of held) {
      const conn = item.conn;
      if (conn.ws.readyState !== WebSocket.OPEN) continue;
      this.sealHeld(item);
      const frame = item.frame;
      if (!frame) continue;
      if (conn.socket && !corked.has(conn.socket)) {
        conn.socket.cork();
        corked.add(conn.socket);
      }
      this.write(conn, frame);
    }
    for (const sock of corked) sock.uncork();
  }

  /** Remembers a bind nonce until the key it bound would expire; false when seen before. */
  rememberBindNonce(nonce: Buffer, until: number): boolean {
    const k = nonce.toString('hex');
    if (this.bindNonces.has(k)) return false;
    // Full: evict the oldest rather than refuse. Refusing would let anyone who mints permanent
    // keys lock every client out of binding; evicting is safe because a bind message also names
    // the temp key id and transcript hash of the one key it arrives on, so an old message whose
    // nonce was forgotten still cannot bind any other key. (The sweeper drops expired ones.)
    while (this.bindNonces.size >= this.maxBindNonces) {
      const oldest = this.bindNonces.keys().next().value;
      if (oldest === undefined) break;
      this.bindNonces.delete(oldest);
    }
    this.bindNonces.set(k, until);
    return true;
  }

  /**
   * A handle lookup by `d`: budgeted per device, so the handle list cannot be enumerated fast,
   * and per source address, since new devices cost only their (address-budgeted) bind.
   */
  takeLookup(d: BoundDevice): void {
    const wait = this.lookupLimiter.take(d.permHex);
    if (wait > 0) throw new RpcError('RATE_LIMITED', `too many handle lookups; retry in ${wait} ms`);
    const addressWait = this.addressLookupLimiter.take(d.key?.conn?.address ?? '');
    if (addressWait > 0) throw new RpcError('RATE_LIMITED', `too many handle lookups from this address; retry in ${addressWait} ms`);
  }

  /** Binds `entry` to the device; the device's previous temp key is forgotten (it now gets 404). */
  bindKey(entry: TempKeyEntry, permKeyId: Buffer, permPub: Buffer, expiresAt: number): MaybePromise<BoundDevice> {
    return andThen(this.backend.device(permKeyId), (found) => {
      // Permanent keys cost nothing to make, and each new one is a row on disk: budget them per
      // source address. Devices the relay already knows re-bind freely.
      let row: MaybePromise<DeviceRow> | undefined = found;
      if (!row) {
        const wait = this.newDeviceLimiter.take(entry.conn?.address ?? '');
        if (wait > 0) throw new RpcError('RATE_LIMITED', `too many new devices from this address; retry in ${wait} ms`);
        row = this.backend.insertDevice(permKeyId, permPub, this.clock());
      }
      return andThen(row, (r) => {
        if (!bytesEqual(r.permPub, permPub)) throw new RpcError('BIND_INVALID', 'perm_key_id collision');
        const cluster = this.cluster;
        if (!cluster) return this.attachKey(entry, r, permKeyId, expiresAt);
        // Cluster-wide one key per device: the shared store names this node and a random binding
        // id (never the key or its id); the node that held the previous binding forgets that key.
        const bindingId = randomBytes(16);
        return cluster.bind(permKeyId, bindingId, this.clock()).then(() => {
          if (this.keys.get(entry.idHex) !== entry) throw new RpcError('INTERNAL', 'temp key forgotten during bind');
          entry.bindingId = bindingId;
          return this.attachKey(entry, r, permKeyId, expiresAt);
        });
      });
    });
  }

  private attachKey(entry: TempKeyEntry, row: DeviceRow, permKeyId: Buffer, expiresAt: number): BoundDevice {
    const permHex = permKeyId.toString('hex');
    let device = this.devices.get(permHex);
    if (!device) {
      device = { permKeyId: Buffer.from(permKeyId), permHex, handle: row.handle, cursor: 0, inflight: new Set(), backlog: true };
      this.devices.set(permHex, device);
    }
    if (device.key && device.key !== entry) this.forgetKey(device.key);
    // forgetKey just removed the device from the map along with its old key; put it back.
    this.devices.set(permHex, device);
    entry.boundTo = device;
    entry.expiresAt = expiresAt;
    device.key = entry;
    if (entry.conn) {
      entry.conn.unbound = entry.conn.unbound.filter((k) => k !== entry);
      // The handshake deadline no longer applies; the keepalive timeout does.
      if (entry.conn.tracked) entry.conn.tracked.bound = true;
    }
    this.restartPushes(device);
    this.stats.binds++;
    return device;
  }

  private restartPushes(d: BoundDevice): void {
    d.cursor = 0;
    d.inflight.clear();
    d.backlog = true;
    this.pumps.add(d);
  }

  /** A new envelope for `recipient` was stored. Pushed straight from memory when nothing older waits. */
  notifyQueued(recipient: Buffer, env?: QueuedEnvelope): void {
    const d = this.devices.get(recipient.toString('hex'));
    if (!d) return;
    // A cluster node reads the queue when the store's notification (sent at commit to the node
    // holding the recipient, this one included) wakes it: an older envelope sent through another
    // node may still be on its way, so nothing is pushed from memory, and reading here too would
    // read twice.
    if (this.cluster) return;
    const key = d.key;
    const online = key?.conn !== undefined && key.conn.ws.readyState === WebSocket.OPEN;
    if (env && online && key && !d.backlog && d.inflight.size < PUSH_WINDOW && env.id > d.cursor) {
      this.pushEnvelope(d, key, env);
      return;
    }
    d.backlog = true;
    this.pumps.add(d);
  }

  acked(d: BoundDevice, ids: readonly number[]): void {
    for (const id of ids) d.inflight.delete(id);
    if (d.backlog) this.pumps.add(d);
  }

  private pushEnvelope(d: BoundDevice, key: TempKeyEntry, env: QueuedEnvelope): void {
    d.cursor = env.id;
    d.inflight.add(env.id);
    const data: EnvelopePush = { id: env.id, from: env.from, body: env.body, sentAt: env.sentAt };
    this.sendBody(key, { kind: 'push', topic: ENVELOPE_TOPIC, data });
  }

  private runPumps(): void {
    for (const d of this.pumps) this.pump(d);
    this.pumps.clear();
  }

  /** Pushes queued envelopes in queue order, at most PUSH_WINDOW unacknowledged at a time. */
  private pump(d: BoundDevice): void {
    const key = d.key;
    if (!d.backlog || !key?.conn || key.conn.ws.readyState !== WebSocket.OPEN) return;
    const room = PUSH_WINDOW - d.inflight.size;
    if (room <= 0) return;
    if (d.reading) {
      d.readAgain = true;
      return;
    }
    const rows = this.backend.pending(d.permKeyId, d.cursor, room);
    if (!(rows instanceof Promise)) {
      this.pushRows(d, key, room, rows);
      return;
    }
    // Cluster node: one read at a time per device; a wake-up during it reads again after.
    d.reading = true;
    const cursor = d.cursor;
    rows.then((r) => {
      d.reading = false;
      if (d.key === key && d.cursor === cursor) this.pushRows(d, key, room, r);
      else d.readAgain = true;
      if (d.readAgain) {
        d.readAgain = false;
        d.backlog = true;
        this.pumps.add(d);
      }
      this.runPumps();
    }, (e: unknown) => {
      // The store is unreachable: the listener's resync after it is back reads again.
      d.reading = false;
      d.readAgain = false;
      this.log({ event: 'pump-failed', error: String(e) });
    });
  }

  private pushRows(d: BoundDevice, key: TempKeyEntry, room: number, rows: readonly QueuedEnvelope[]): void {
    if (!key.conn || key.conn.ws.readyState !== WebSocket.OPEN) return;
    for (const env of rows) this.pushEnvelope(d, key, env);
    if (rows.length < room) d.backlog = false;
  }

  /**
   * What another node (through the shared store) says: forget a key whose device bound
   * elsewhere, read a queue that got an envelope, or, after the notification connection was
   * lost, re-read every queue and re-check every binding.
   */
  clusterEvent(e: ClusterEvent): void {
    if (e.kind === 'resync') {
      for (const d of this.devices.values()) {
        d.backlog = true;
        this.pumps.add(d);
        this.recheckBinding(d);
      }
    } else {
      const d = this.devices.get(e.device.toString('hex'));
      if (!d) return;
      if (e.kind === 'unbind') {
        const k = d.key;
        if (k?.bindingId && k.bindingId.equals(e.bindingId)) this.forgetKey(k);
        return;
      }
      d.backlog = true;
      this.pumps.add(d);
    }
    this.runPumps();
  }

  private recheckBinding(d: BoundDevice): void {
    const k = d.key;
    const c = this.cluster;
    if (!k?.bindingId || !c) return;
    const mine = k.bindingId;
    c.currentBinding(d.permKeyId).then((b) => {
      if (d.key === k && (!b || b.node !== c.node || !b.bindingId.equals(mine))) this.forgetKey(k);
    }, () => undefined);
  }

  private forgetKey(entry: TempKeyEntry): void {
    // Answers already produced under this key go out under it, sealed before it is zeroed.
    if (this.held) for (const item of this.held) if (item.entry === entry) this.sealHeld(item);
    this.keys.delete(entry.idHex);
    this.idleBound.delete(entry);
    entry.endpoint.zero();
    entry.conn?.keys.delete(entry);
    const d = entry.boundTo;
    if (d && d.key === entry) {
      d.key = undefined;
      d.inflight.clear();
      this.devices.delete(d.permHex);
    }
  }

  private onClose(conn: Conn): void {
    this.conns.delete(conn);
    for (const entry of conn.keys) {
      entry.conn = undefined;
      if (entry.boundTo) {
        entry.boundTo.inflight.clear();
        entry.boundTo.backlog = true;
        this.idleBound.add(entry);
      }
    }
    // Anyone can mint permanent keys and bind; without a cap, keys of closed connections would
    // pile up in RAM until they expire (up to max_ttl). Forgetting the oldest is safe: its
    // client gets 404 on return and re-binds.
    for (const oldest of this.idleBound) {
      if (this.idleBound.size <= this.maxIdleBoundKeys) break;
      this.forgetKey(oldest);
    }
    for (const entry of conn.unbound) if (!entry.boundTo) this.forgetKey(entry);
    conn.keys.clear();
    conn.unbound = [];
  }

  sweep(): void {
    const now = this.clock();
    for (const entry of this.keys.values()) if (entry.expiresAt <= now) this.forgetKey(entry);
    for (const [k, until] of this.bindNonces) if (until <= now) this.bindNonces.delete(k);
    this.limiter.sweep(now);
    this.newDeviceLimiter.sweep(now);
    this.lookupLimiter.sweep(now);
    this.addressLookupLimiter.sweep(now);
  }

  /**
   * Forgets every temp key (zeroed) without dropping connections: what clients see after a
   * restart or an eviction. Used by tests, and by operators to force every device to re-bind.
   */
  forgetAllTempKeys(): void {
    for (const entry of [...this.keys.values()]) this.forgetKey(entry);
  }

  /** Open WebSockets, for tests that simulate a network loss. */
  connectionsForTests(): WebSocket[] {
    return [...this.conns].map((c) => c.ws);
  }

  /** Forgets every temp key (zeroed) and drops connections. */
  shutdown(): void {
    this.commitBatch();
    for (const entry of [...this.keys.values()]) this.forgetKey(entry);
    for (const c of this.conns) c.ws.terminate();
  }
}

export interface RunningRelay {
  url: string;
  port: number;
  descriptor: RelayDescriptor;
  descriptorFile: string;
  core: RelayCore;
  close(): Promise<void>;
}

export async function startRelay(o: RelayOptions): Promise<RunningRelay> {
  const host = o.host ?? '127.0.0.1';
  const files = loadOrCreateRelayFiles(o.dataDir, host);
  // Never logged: the database URL may carry a password.
  const store = o.database
    ? new ClusterStore(await PgStoreBackend.open({ url: o.database, ...(o.log ? { log: o.log } : {}) }))
    : new RelayStore(join(o.dataDir, 'relay.db'));
  const core = new RelayCore(store, files.identity, o);
  if (store instanceof ClusterStore) await store.listen((e) => core.clusterEvent(e));
  const server: Server = createServer(
    {
      key: files.tlsKey,
      cert: files.tlsCert,
      minVersion: 'TLSv1.2',
      ciphers: TLS12_CIPHERS,
      honorCipherOrder: true,
      ecdhCurve: 'X25519:prime256v1',
      // No session resumption at all (no tickets, and Node keeps no server-side session cache):
      // every connection does a fresh ECDHE exchange. A TLS 1.2 resumption would reuse the old
      // master secret, and a ticket key in RAM would open every ticketed session it sealed.
      secureOptions: constants.SSL_OP_NO_TICKET,
    },
    (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' });
      res.end('WebSocket only\n');
    },
  );
  // Counted from the TCP accept, before TLS: a socket that never finishes TLS holds room too.
  server.on('connection', (socket: Socket) => core.guard.admit(socket));
  const wss = new WebSocketServer({ server, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  wss.on('connection', (ws, req) => core.accept(ws, req.socket.remoteAddress ?? 'unknown', req.socket));
  wss.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A deep accept queue: after a restart every client reconnects within about a second.
    server.listen({ port: o.port ?? 0, host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('relay has no TCP address');
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const localUrl = `wss://${urlHost}:${addr.port}`;
  const advertised = o.advertise && o.advertise.length > 0 ? [...o.advertise] : undefined;
  const descriptor: RelayDescriptor = parseDescriptor({
    version: 1,
    url: advertised?.[0] ?? localUrl,
    ...(advertised ? { urls: advertised } : {}),
    relayPublicKey: files.identity.publicRaw.toString('hex'),
    certificateSha256: files.certSha256,
  });
  const descriptorFile = writeDescriptor(o.dataDir, descriptor);
  const sweeper = setInterval(() => core.sweep(), 1000);
  const connectionSweeper = setInterval(() => core.guard.sweep(), core.guard.sweepIntervalMs);
  connectionSweeper.unref();
  const walScrubber = setInterval(() => {
    if (store instanceof RelayStore) store.scrubWal();
  }, WAL_SCRUB_INTERVAL_MS);
  walScrubber.unref();
  sweeper.unref();
  // Idempotency records (sender, key, time) are metadata on disk: pruned at every start and on a
  // schedule in relay time, whatever the uptime.
  const clock = o.clock ?? Date.now;
  const prune = (): void => {
    const failed = (e: unknown): void => o.log?.({ event: 'prune-failed', error: String(e) });
    try {
      const done = store.pruneIdempotency(clock());
      if (done instanceof Promise) done.catch(failed);
    } catch (e) {
      failed(e);
    }
  };
  prune();
  const pruner = setInterval(prune, o.idempotencyPruneIntervalMs ?? 3600_000);
  pruner.unref();
  let closed = false;
  return {
    url: localUrl,
    port: addr.port,
    descriptor,
    descriptorFile,
    core,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      clearInterval(connectionSweeper);
      clearInterval(walScrubber);
      clearInterval(pruner);
      core.shutdown();
      core.guard.closeAll();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
    },
  };
}
