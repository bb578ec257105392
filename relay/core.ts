// The relay core: one frame in (hello or record), at most a few frames out. It owns the
// connections, dispatches requests to the method table, binds temp keys to devices (in a
// cluster: one binding per device across nodes) and hands answers and pushes to the group
// commit. Any malformed input closes that one connection with a typed close code.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { WebSocket, type RawData } from 'ws';
import { bytesEqual } from '../shared/protocol/bytes.ts';
import { CLOSE_CODES, ProtocolError, RpcError } from '../shared/protocol/errors.ts';
import {
  decodeFrame, encodeErrorFrame, ERROR_FRAME_CODES, UNKNOWN_KEY_FRAME,
  type HelloFrame, type RecordFrame,
} from '../shared/protocol/frames.ts';
import { relayHandshake, type RelayIdentity } from '../shared/protocol/handshake.ts';
import { isRelayMethod, type RelayMethodName } from '../shared/protocol/methods.ts';
import { RecordEndpoint } from '../shared/protocol/record.ts';
import { BODY_BATCH, decodeBodies, type Body } from '../shared/protocol/rpc.ts';
import { addressBucket, ConnectionGuard, DEFAULT_CONNECTION_LIMITS } from './connections.ts';
import { andThen, type BoundDevice, type CallContext, type Conn, type MaybePromise, type ServedMethod, type TempKeyEntry } from './context.ts';
import { ClusterStore } from './cluster.ts';
import type { ClusterEvent } from './store-backend.ts';
import { BlobStore, type BlobLimits, type Blobs } from './blobs.ts';
import { PgBlobStore } from './blobs-pg.ts';
import { KeyOrder } from './key-order.ts';
import { KeyStore } from './key-store.ts';
import { FetchBudget } from './keys.ts';
import { relayMethods, type Binder, type Delivery, type LookupBudget } from './methods.ts';
import type { RelayOptions } from './options.ts';
import { Outgoing } from './outgoing.ts';
import { Pushes } from './pushes.ts';
import { RateLimiter } from './rate-limit.ts';
import { DEFAULT_ENVELOPE_TTL_MS, RelayStore, type DeviceRow, type QueuedEnvelope } from './store.ts';
import { TempKeys } from './temp-keys.ts';

const MAX_UNBOUND_PER_CONN = 4;
/** On a cluster node, the requests that go to the store's group commit (relay/pg-group-commit.ts). */
const PIPELINED: ReadonlySet<string> = new Set(['send', 'ack']);
/**
 * Writes answered without waiting for the -wal fsync (relay/outgoing.ts mayWrite): an ack only
 * deletes delivered envelopes, and a delete lost in a power cut only re-delivers them, which the
 * client de-duplicates. The next fsync (any send's) makes it durable anyway.
 */
const RELAXED_WRITES: ReadonlySet<string> = new Set(['ack']);

/** Each body's encoded length in a payload decodeBodies accepted: the one body, or a BATCH's entries. */
function bodySizes(payload: Uint8Array, count: number): number[] {
  if (payload[0] !== BODY_BATCH) return [payload.length];
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const sizes: number[] = [];
  for (let i = 0, pos = 3; i < count; i++) {
    const len = view.getUint32(pos);
    sizes.push(len);
    pos += 4 + len;
  }
  return sizes;
}

export class RelayCore implements Binder, Delivery, LookupBudget {
  private readonly sqlite: RelayStore | undefined;
  /** On a cluster node: the shared PostgreSQL store and this node's id. */
  readonly cluster: ClusterStore | undefined;
  private readonly backend: RelayStore | ClusterStore;
  readonly identity: RelayIdentity;
  readonly maxTtlSec: number;
  readonly queueLimit: number;
  readonly envelopeTtlMs: number;
  private readonly unboundTtlMs: number;
  private readonly clock: () => number;
  private readonly log: (event: Record<string, unknown>) => void;
  private readonly limiter: RateLimiter;
  private readonly newDeviceLimiter: RateLimiter;
  private readonly lookupLimiter: RateLimiter;
  private readonly addressLookupLimiter: RateLimiter;
  readonly guard: ConnectionGuard;
  /** Temp keys, bound devices and bind nonces (RAM only). */
  private readonly tempKeys: TempKeys;
  private readonly conns = new Set<Conn>();
  /** Answers and pushes, held until the turn's writes are committed. */
  private readonly out: Outgoing;
  private readonly pushes: Pushes;
  readonly stats = { handshakes: 0, binds: 0, notFound: 0, closedInvalid: 0 };
  /** Attachment blobs (relay.db and DIR/blobs, or the cluster's PostgreSQL). */
  readonly blobs: Blobs;
  private readonly onDurabilityLost: ((e: unknown) => void) | undefined;
  private durabilityLostSeen = false;
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
    this.envelopeTtlMs = o.envelopeTtlMs ?? DEFAULT_ENVELOPE_TTL_MS;
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
    // A cluster node's writes commit in the store's own group commit: a turn's frames are only
    // held to the end of the turn (written corked together), never for a commit interval.
    this.onDurabilityLost = o.onDurabilityLost;
    this.out = new Outgoing(store, this.log, store instanceof ClusterStore ? 0 : undefined, (e) => this.durabilityFailed(e));
    this.tempKeys = new TempKeys(o, this.out);
    // Reads skip envelopes expired by relay time (relay/expiry.ts purges them later).
    this.pushes = new Pushes({ pending: (r, after, limit) => store.pending(r, after, limit, this.clock()) }, this.out, this.log);
    const blobLimits: Partial<BlobLimits> = {
      ...(o.blobMaxFileBytes !== undefined ? { maxFileBytes: o.blobMaxFileBytes } : {}),
      ...(o.blobQuotaBytes !== undefined ? { quotaBytes: o.blobQuotaBytes } : {}),
      ...(o.blobTtlMs !== undefined ? { ttlMs: o.blobTtlMs } : {}),
    };
    if (store instanceof RelayStore) {
      const blobs = new BlobStore(store.database, (h) => store.deviceByHandle(h), blobLimits, o.clock, {
        // A put's new length is written once its chunk is fsynced, in a batch answered after the -wal's fsync.
        durableBatch: () => {
          this.out.openBatch();
          this.out.mayWrite();
        },
        syncFailed: (e) => {
          this.log({ event: 'sync-failed', error: String(e) });
          this.durabilityFailed(e);
        },
      });
      this.blobs = blobs;
    } else this.blobs = new PgBlobStore(store.backend, blobLimits, o.clock, this.log);
    // The core is the binder, the delivery and the lookup budget; prekeys live beside the store's tables.
    this.methods = relayMethods({
      binder: this,
      delivery: this,
      lookups: this,
      directory: store,
      queue: store,
      prekeys: store instanceof RelayStore ? new KeyStore(store.database) : store.prekeys,
      fetches: new FetchBudget(),
      blobs: this.blobs,
    });
  }

  /** The SQLite store (tests reach into it); a cluster node has none. */
  get store(): RelayStore {
    if (!this.sqlite) throw new Error('a cluster node has no SQLite store');
    return this.sqlite;
  }

  /** The group commit's counters (commits, early releases by COMMIT_AT_BYTES, bytes counted toward it). */
  get commitCounters(): Readonly<Outgoing['counters']> {
    return this.out.counters;
  }

  get tempKeyCount(): number {
    return this.tempKeys.size;
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
    this.out.openBatch();
    try {
      if (!isBinary || !Buffer.isBuffer(data)) throw new ProtocolError('BAD_FRAME', 'text or fragmented frame');
      this.handleFrame(conn, data);
    } catch (e) {
      const code = e instanceof ProtocolError ? e.code : 'INTERNAL';
      if (code === 'INTERNAL') this.log({ event: 'internal-error', error: String(e) });
      if (code === 'RECORD_INVALID') this.stats.closedInvalid++;
      conn.ws.close(CLOSE_CODES[code], code);
    } finally {
      this.pushes.run();
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
      this.out.send(conn, encodeErrorFrame(ERROR_FRAME_CODES.RATE_LIMITED, wait));
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
    this.tempKeys.add(entry);
    conn.unbound.push(entry);
    while (conn.unbound.length > MAX_UNBOUND_PER_CONN) {
      const old = conn.unbound.shift();
      if (old && !old.boundTo) this.tempKeys.forget(old);
    }
    this.stats.handshakes++;
    this.out.send(conn, reply);
  }

  private onRecord(conn: Conn, frame: RecordFrame): void {
    const idHex = frame.tempKeyId.toString('hex');
    const entry = this.tempKeys.get(idHex);
    const now = this.clock();
    if (!entry || entry.expiresAt <= now) {
      if (entry) this.tempKeys.forget(entry);
      this.stats.notFound++;
      this.out.send(conn, UNKNOWN_KEY_FRAME);
      return;
    }
    const payload = entry.endpoint.open(frame);
    if (!payload) throw new ProtocolError('RECORD_INVALID');
    if (entry.conn !== conn) {
      this.tempKeys.moveTo(entry, conn);
      const d = entry.boundTo;
      // A bound key reused on a new connection (the client reconnected) binds that connection:
      // the handshake deadline no longer applies to it, the keepalive timeout does.
      if (d && conn.tracked) conn.tracked.bound = true;
      if (d) this.pushes.restart(d);
    }
    const bodies = decodeBodies(payload.body);
    for (const body of bodies) if (body.kind !== 'request') throw new ProtocolError('BAD_FRAME', 'clients send only requests');
    const sizes = bodySizes(payload.body, bodies.length);
    for (const [i, body] of bodies.entries()) {
      if (body.kind !== 'request') continue;
      if (this.cluster) {
        // The store answers later: one key's requests run one after another, each answered when
        // it is done; but sends and acks are handed to the store's group commit without waiting
        // for the ones before them (it keeps a sender's sends in order: per-sender order holds),
        // so a client's window of sends shares one commit instead of one commit each.
        const order = (entry.order ??= new KeyOrder((e) => this.log({ event: 'internal-error', error: String(e) })));
        order.submit(() => this.runLater(entry, body.reqId, body.method, body.params), PIPELINED.has(body.method));
        continue;
      }
      const writes = !(isRelayMethod(body.method) && this.methods[body.method].readOnly);
      if (writes) this.out.mayWrite(RELAXED_WRITES.has(body.method));
      const answer = this.dispatch(entry, body.reqId, body.method, body.params);
      // Only a bound key's writes that were served count toward the early commit (COMMIT_AT_BYTES):
      // frames under no key, unbound keys' requests, reads (a ping's free-form params) and refused
      // writes cost the sender nothing, so counting them would let anyone defeat the pacing.
      if (writes && entry.boundTo && (answer instanceof Promise || answer.kind === 'result')) this.out.took(sizes[i] ?? 0);
      if (answer instanceof Promise) void answer.then((b) => this.answerLater(entry, b));
      else this.out.sendBody(entry, answer);
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
    if (!this.cluster) this.out.failBatch();
    return { kind: 'error', reqId, code: 'INTERNAL', detail: '' };
  }

  /** Runs a request whose answer the store gives later (a cluster node); settles once it is handed on. */
  private runLater(entry: TempKeyEntry, reqId: number, method: string, params: unknown): Promise<void> {
    const b = this.dispatch(entry, reqId, method, params);
    if (b instanceof Promise) return b.then((x) => this.answerLater(entry, x));
    this.answerLater(entry, b);
    return Promise.resolve();
  }

  /** An answer the store gave later: sent unless its key was forgotten meanwhile. */
  private answerLater(entry: TempKeyEntry, b: Body): void {
    if (!this.tempKeys.holds(entry)) return;
    // The answers a group commit released together leave in one corked write per connection.
    this.out.openBatch();
    this.out.sendBody(entry, b);
    this.pushes.run();
  }

  /** Commits the turn's writes, then releases the answers and pushes they made possible. */
  commitBatch(): void {
    this.out.commitBatch();
  }

  /** An fsync failed (the -wal's or a blob file's): every later write is refused; the owner is told once. */
  private durabilityFailed(e: unknown): void {
    this.sqlite?.markDurabilityLost(e);
    if (this.durabilityLostSeen) return;
    this.durabilityLostSeen = true;
    this.onDurabilityLost?.(e);
  }

  /** Remembers a bind nonce until the key it bound would expire; false when seen before. */
  rememberBindNonce(nonce: Buffer, until: number): boolean {
    return this.tempKeys.rememberBindNonce(nonce, until);
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
          if (!this.tempKeys.holds(entry)) throw new RpcError('INTERNAL', 'temp key forgotten during bind');
          entry.bindingId = bindingId;
          return this.attachKey(entry, r, permKeyId, expiresAt);
        });
      });
    });
  }

  private attachKey(entry: TempKeyEntry, row: DeviceRow, permKeyId: Buffer, expiresAt: number): BoundDevice {
    const permHex = permKeyId.toString('hex');
    const devices = this.tempKeys.devices;
    let device = devices.get(permHex);
    if (!device) {
      device = { permKeyId: Buffer.from(permKeyId), permHex, handle: row.handle, cursor: 0, inflight: new Set(), backlog: true };
      devices.set(permHex, device);
    }
    if (device.key && device.key !== entry) this.tempKeys.forget(device.key);
    // forget just removed the device from the map along with its old key; put it back.
    devices.set(permHex, device);
    entry.boundTo = device;
    entry.expiresAt = expiresAt;
    device.key = entry;
    if (entry.conn) {
      entry.conn.unbound = entry.conn.unbound.filter((k) => k !== entry);
      // The handshake deadline no longer applies; the keepalive timeout does.
      if (entry.conn.tracked) entry.conn.tracked.bound = true;
    }
    this.pushes.restart(device);
    this.stats.binds++;
    return device;
  }

  /** A new envelope for `recipient` was stored. Pushed straight from memory when nothing older waits. */
  notifyQueued(recipient: Buffer, env?: QueuedEnvelope): void {
    const d = this.tempKeys.devices.get(recipient.toString('hex'));
    if (!d) return;
    // A cluster node reads the queue when the store's notification (sent at commit to the node
    // holding the recipient, this one included) wakes it: an older envelope sent through another
    // node may still be on its way, so nothing is pushed from memory, and reading here too would
    // read twice.
    if (this.cluster) return;
    this.pushes.queued(d, env);
  }

  acked(d: BoundDevice, ids: readonly number[]): void {
    this.pushes.acked(d, ids);
  }

  /**
   * What another node (through the shared store) says: forget a key whose device bound
   * elsewhere, read a queue that got an envelope, or, after the notification connection was
   * lost, re-read every queue and re-check every binding.
   */
  clusterEvent(e: ClusterEvent): void {
    if (e.kind === 'resync') {
      for (const d of this.tempKeys.devices.values()) {
        this.pushes.wake(d);
        this.recheckBinding(d);
      }
    } else {
      const d = this.tempKeys.devices.get(e.device.toString('hex'));
      if (!d) return;
      if (e.kind === 'unbind') {
        const k = d.key;
        if (k?.bindingId && k.bindingId.equals(e.bindingId)) this.tempKeys.forget(k);
        return;
      }
      this.pushes.wake(d);
    }
    this.pushes.run();
  }

  private recheckBinding(d: BoundDevice): void {
    const k = d.key;
    const c = this.cluster;
    if (!k?.bindingId || !c) return;
    const mine = k.bindingId;
    c.currentBinding(d.permKeyId).then((b) => {
      if (d.key === k && (!b || b.node !== c.node || !b.bindingId.equals(mine))) this.tempKeys.forget(k);
    }, () => undefined);
  }

  private onClose(conn: Conn): void {
    this.conns.delete(conn);
    this.tempKeys.closed(conn);
  }

  sweep(): void {
    const now = this.clock();
    this.tempKeys.sweep(now);
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
    this.tempKeys.forgetAll();
  }

  /** Open WebSockets, for tests that simulate a network loss. */
  connectionsForTests(): WebSocket[] {
    return [...this.conns].map((c) => c.ws);
  }

  /** Forgets every temp key (zeroed) and drops connections. */
  shutdown(): void {
    this.out.commitBatch();
    this.blobs.close();
    this.tempKeys.forgetAll();
    for (const c of this.conns) c.ws.terminate();
  }
}
