// The embedded backend: today's SQLite store (relay/store.ts, relay/key-store.ts) behind the
// async store interface. One node, so the current binding per device lives in this process's
// memory (a restart forgets every temp key anyway) and there are no cluster events.
import PQueue from 'p-queue';
import { RelayStore } from './store.ts';
import { KeyStore } from './key-store.ts';
import { type BindResult, type Binding, type ClusterEvent, type RelayStoreBackend, type StoreOps } from './store-backend.ts';
import type { DeviceRow, EnqueueResult, QueuedEnvelope } from './store.ts';
import type { OneTimeKey, StoredIdentity } from './key-store.ts';

export class SqliteStoreBackend implements RelayStoreBackend {
  readonly kind = 'sqlite';
  readonly store: RelayStore;
  private readonly keys: KeyStore;
  private readonly bindings = new Map<string, Binding>();
  /** Batches run one after another (a batch must not interleave with another). */
  private readonly serial = new PQueue({ concurrency: 1 });
  /** Set while a batch's transaction is open: other callers then wait for it to end. */
  private inBatch = false;
  /** The ops a batch runs on: the same calls, without waiting for the batch they are in. */
  private readonly direct: StoreOps;

  constructor(file: string) {
    this.store = new RelayStore(file);
    this.keys = new KeyStore(this.store.database);
    const s = this.store;
    const k = this.keys;
    this.direct = {
      device: async (id) => s.device(id),
      insertDevice: async (id, pub, now) => s.device(id) ?? s.insertDevice(id, pub, now),
      deviceByHandle: async (h) => s.deviceByHandle(h),
      register: async (id, h) => s.register(id, h),
      enqueue: async (...a) => s.enqueue(...a),
      pending: async (r, after, limit, now) => s.pending(r, after, limit, now),
      withdraw: async (sender, to, idem) => s.withdraw(sender, to, idem),
      ack: async (r, ids) => s.ack(r, ids),
      identity: async (id) => k.identity(id),
      putIdentity: async (id, v, now) => k.putIdentity(id, v, now),
      addOneTime: async (id, a, b) => k.addOneTime(id, a, b),
      preKeyCounts: async (id) => k.counts(id),
      takeOneTime: async (id) => k.takeOneTime(id),
      bind: async (id, node, bindingId, _now) => this.bindIn(id, node, bindingId),
      currentBinding: async (id) => this.bindings.get(id.toString('hex')),
      unbind: async (id, node, bindingId) => this.unbindIn(id, node, bindingId),
    };
  }

  private bindIn(permKeyId: Buffer, node: string, bindingId: Buffer): BindResult {
    const k = permKeyId.toString('hex');
    const previous = this.bindings.get(k);
    const current = { node, bindingId: Buffer.from(bindingId), seq: (previous?.seq ?? 0) + 1 };
    this.bindings.set(k, current);
    return { current, previous };
  }

  private unbindIn(permKeyId: Buffer, node: string, bindingId: Buffer): boolean {
    const k = permKeyId.toString('hex');
    const b = this.bindings.get(k);
    if (!b || b.node !== node || !b.bindingId.equals(bindingId)) return false;
    this.bindings.delete(k);
    return true;
  }

  /** Runs `f` now, or after the open batch when one is open (it must not join that batch). */
  private op<T>(f: (o: StoreOps) => Promise<T>): Promise<T> {
    return this.inBatch ? this.serial.add(() => f(this.direct)) : f(this.direct);
  }

  /** op for a write that must survive a power cut once it resolves: its commit's -wal fsync first. */
  private async durableOp<T>(f: (o: StoreOps) => Promise<T>): Promise<T> {
    const r = await this.op(f);
    await this.store.syncCommitted();
    return r;
  }

  batch<T>(fn: (ops: StoreOps) => Promise<T>): Promise<T> {
    return this.serial.add(async () => {
      this.store.beginBatch();
      this.inBatch = true;
      try {
        const r = await fn(this.direct);
        this.store.commitBatch();
        // Resolved means on disk, power cut included (the -wal fsync, relay/store.ts).
        await this.store.syncCommitted();
        return r;
      } catch (e) {
        this.store.rollbackBatch();
        throw e;
      } finally {
        this.inBatch = false;
      }
    });
  }

  device(permKeyId: Buffer): Promise<DeviceRow | undefined> { return this.op((o) => o.device(permKeyId)); }
  insertDevice(permKeyId: Buffer, permPub: Buffer, now: number): Promise<DeviceRow> { return this.durableOp((o) => o.insertDevice(permKeyId, permPub, now)); }
  deviceByHandle(handle: string): Promise<DeviceRow | undefined> { return this.op((o) => o.deviceByHandle(handle)); }
  register(permKeyId: Buffer, handle: string): Promise<void> { return this.durableOp((o) => o.register(permKeyId, handle)); }
  enqueue(sender: Buffer, senderHandle: string, recipientHandle: string, idem: string, body: Buffer, now: number, queueLimit: number, expiresAt?: number): Promise<EnqueueResult> {
    return this.durableOp((o) => o.enqueue(sender, senderHandle, recipientHandle, idem, body, now, queueLimit, expiresAt));
  }
  pending(recipient: Buffer, afterId: number, limit: number, now?: number): Promise<QueuedEnvelope[]> { return this.op((o) => o.pending(recipient, afterId, limit, now)); }
  withdraw(sender: Buffer, recipientHandle: string, idem: string): Promise<void> { return this.durableOp((o) => o.withdraw(sender, recipientHandle, idem)); }
  ack(recipient: Buffer, ids: readonly number[]): Promise<number> { return this.op((o) => o.ack(recipient, ids)); }
  identity(permKeyId: Buffer): Promise<StoredIdentity | undefined> { return this.op((o) => o.identity(permKeyId)); }
  putIdentity(permKeyId: Buffer, id: StoredIdentity, now: number): Promise<{ reRegistered: boolean }> { return this.durableOp((o) => o.putIdentity(permKeyId, id, now)); }
  addOneTime(permKeyId: Buffer, preKeys: readonly OneTimeKey[], kyberPreKeys: readonly OneTimeKey[]): Promise<{ preKeys: number; kyberPreKeys: number }> {
    return this.durableOp((o) => o.addOneTime(permKeyId, preKeys, kyberPreKeys));
  }
  preKeyCounts(permKeyId: Buffer): Promise<{ preKeys: number; kyberPreKeys: number }> { return this.op((o) => o.preKeyCounts(permKeyId)); }
  takeOneTime(permKeyId: Buffer): Promise<{ preKey: OneTimeKey | undefined; kyberPreKey: OneTimeKey | undefined }> { return this.durableOp((o) => o.takeOneTime(permKeyId)); }
  bind(permKeyId: Buffer, node: string, bindingId: Buffer, now: number): Promise<BindResult> { return this.op((o) => o.bind(permKeyId, node, bindingId, now)); }
  currentBinding(permKeyId: Buffer): Promise<Binding | undefined> { return this.op((o) => o.currentBinding(permKeyId)); }
  unbind(permKeyId: Buffer, node: string, bindingId: Buffer): Promise<boolean> { return this.op((o) => o.unbind(permKeyId, node, bindingId)); }

  async listen(_node: string, _onEvent: (e: ClusterEvent) => void): Promise<void> {
    // One node: a bind replaces the previous key in the same process, and sends wake the
    // recipient directly; nothing crosses processes.
  }

  async pruneIdempotency(now: number): Promise<void> {
    await this.op(async () => this.store.pruneIdempotency(now));
  }

  purgeExpired(now: number, maxAgeMs: number): Promise<number> {
    return this.op(async () => this.store.purgeExpired(now, maxAgeMs));
  }

  async close(): Promise<void> {
    await this.serial.add(async () => this.store.close());
  }
}
