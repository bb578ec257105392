// The relay's durable state behind one asynchronous interface, so the same relay logic can run
// on the embedded SQLite file (one node) or on PostgreSQL (a cluster of nodes sharing accounts).
// Async because the PostgreSQL driver is; the SQLite implementation answers from synchronous
// better-sqlite3 calls and adds no I/O. Temp keys never come here: a device's current binding is
// only the node that holds it and a random binding id (never the temp key or its id, which the
// handshake derives from the key material).
import type { DeviceRow, EnqueueResult, QueuedEnvelope } from './store.ts';
import type { OneTimeKey, StoredIdentity } from './key-store.ts';

export type { DeviceRow, EnqueueResult, QueuedEnvelope } from './store.ts';
export type { OneTimeKey, StoredIdentity } from './key-store.ts';

/** Which node holds a device's one temp key, named by a random id the node chose at bind. */
export interface Binding {
  node: string;
  bindingId: Buffer;
  /** Counts the device's binds; the newest binding has the highest. */
  seq: number;
}

export interface BindResult {
  current: Binding;
  /** The binding this one replaced (its node must forget that key), if any. */
  previous: Binding | undefined;
}

/** What one node tells another through the store (PostgreSQL: NOTIFY on the node's channel). */
export type ClusterEvent =
  /** The device bound elsewhere: forget the key of binding `bindingId` (it now answers 404). */
  | { kind: 'unbind'; device: Buffer; bindingId: Buffer }
  /** An envelope for the device was committed: read its queue (the row is the truth). */
  | { kind: 'queued'; device: Buffer }
  /** The notification connection was lost and is back: events may be missing, re-read all. */
  | { kind: 'resync' };

/** The operations a batch runs on; the same as the store's own, inside one transaction. */
export interface StoreOps {
  device(permKeyId: Buffer): Promise<DeviceRow | undefined>;
  /** Stores a device; if another node stored it first, answers the stored row. */
  insertDevice(permKeyId: Buffer, permPub: Buffer, now: number): Promise<DeviceRow>;
  deviceByHandle(handle: string): Promise<DeviceRow | undefined>;
  /** Claims `handle` for the device. Re-registering the same handle is a no-op. */
  register(permKeyId: Buffer, handle: string): Promise<void>;
  /** Stores an envelope once per (sender, idempotency key); the recipient's node is woken at commit. */
  enqueue(sender: Buffer, senderHandle: string, recipientHandle: string, idem: string, body: Buffer, now: number, queueLimit: number, expiresAt?: number): Promise<EnqueueResult>;
  /** Envelopes not expired at `now` (without: all), after `afterId`, in queue order. An envelope expires at `expiresAt` (default: 30 days after `now`). */
  pending(recipient: Buffer, afterId: number, limit: number, now?: number): Promise<QueuedEnvelope[]>;
  /** Deletes the sender's own still-queued envelope stored under `idem` (relay/store.ts withdraw). */
  withdraw(sender: Buffer, recipientHandle: string, idem: string): Promise<void>;
  /** Deletes acknowledged envelopes addressed to `recipient`; returns how many went. */
  ack(recipient: Buffer, ids: readonly number[]): Promise<number>;

  identity(permKeyId: Buffer): Promise<StoredIdentity | undefined>;
  putIdentity(permKeyId: Buffer, id: StoredIdentity, now: number): Promise<{ reRegistered: boolean }>;
  addOneTime(permKeyId: Buffer, preKeys: readonly OneTimeKey[], kyberPreKeys: readonly OneTimeKey[]): Promise<{ preKeys: number; kyberPreKeys: number }>;
  preKeyCounts(permKeyId: Buffer): Promise<{ preKeys: number; kyberPreKeys: number }>;
  takeOneTime(permKeyId: Buffer): Promise<{ preKey: OneTimeKey | undefined; kyberPreKey: OneTimeKey | undefined }>;

  /**
   * Makes (node, bindingId) the device's one current binding. Binds of one device serialise on
   * its binding row, so of two at once exactly one is current afterwards, and the other's node
   * is told (an 'unbind' event) to forget its key.
   */
  bind(permKeyId: Buffer, node: string, bindingId: Buffer, now: number): Promise<BindResult>;
  currentBinding(permKeyId: Buffer): Promise<Binding | undefined>;
  /** Removes the binding if it is still (node, bindingId); false when another replaced it. */
  unbind(permKeyId: Buffer, node: string, bindingId: Buffer): Promise<boolean>;
}

export interface RelayStoreBackend extends StoreOps {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Group commit: runs `fn` in one transaction, committed before the promise resolves (so each
   * answer produced inside still means "on disk"); any throw rolls the whole batch back.
   * Batches run one at a time per store object.
   */
  batch<T>(fn: (ops: StoreOps) => Promise<T>): Promise<T>;
  /** Delivers this node's cluster events to `onEvent` (SQLite: one node, nothing to deliver). */
  listen(node: string, onEvent: (e: ClusterEvent) => void): Promise<void>;
  /** Forgets idempotency records past their retention. */
  pruneIdempotency(now: number): Promise<void>;
  /** Deletes envelopes expired at `now` or stored more than `maxAgeMs` ago; returns how many. */
  purgeExpired(now: number, maxAgeMs: number): Promise<number>;
  close(): Promise<void>;
}

