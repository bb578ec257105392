// A relay node of a cluster: the relay core's store services answered from PostgreSQL
// (relay/store-pg.ts), shared by every node. Sends and acks are group-committed (many per
// transaction, relay/pg-group-commit.ts); the other calls are each their own transaction, so the
// core's SQLite batch calls are no-ops here. The
// node id is random per process: a restarted node is a new node, and bindings that named the old
// one are simply replaced when their devices re-bind.
import { randomBytes } from 'node:crypto';
import type { RpcError } from '../shared/protocol/errors.ts';
import type { Binding, ClusterEvent } from './store-backend.ts';
import { PgGroupCommit } from './pg-group-commit.ts';
import type { PgStoreBackend } from './store-pg.ts';
import type { Prekeys } from './keys.ts';
import type { ManyItem } from './send-many.ts';
import type { SendFence } from './send-order.ts';
import { DEFAULT_ENVELOPE_TTL_MS, type DeviceRow, type EnqueueResult, type QueuedEnvelope } from './store.ts';

export class ClusterStore {
  readonly node = randomBytes(8).toString('hex');
  readonly prekeys: Prekeys;
  private readonly group: PgGroupCommit;

  constructor(readonly backend: PgStoreBackend) {
    const b = backend;
    this.group = new PgGroupCommit(b.pool, (h) => b.deviceByHandle(h), (h) => b.byHandle.get(h));
    this.prekeys = {
      identity: (id) => b.identity(id),
      putIdentity: (id, v, now) => b.putIdentity(id, v, now),
      addOneTime: (id, pre, kyber) => b.addOneTime(id, pre, kyber),
      counts: (id) => b.preKeyCounts(id),
      takeOneTime: (id) => b.takeOneTime(id),
    };
  }

  device(permKeyId: Buffer): Promise<DeviceRow | undefined> { return this.backend.device(permKeyId); }
  insertDevice(permKeyId: Buffer, permPub: Buffer, now: number): Promise<DeviceRow> { return this.backend.insertDevice(permKeyId, permPub, now); }
  deviceByHandle(handle: string): Promise<DeviceRow | undefined> { return this.backend.deviceByHandle(handle); }
  register(permKeyId: Buffer, handle: string): Promise<void> { return this.backend.register(permKeyId, handle); }
  enqueue(sender: Buffer, senderHandle: string, recipientHandle: string, idem: string, body: Buffer, now: number, queueLimit: number, expiresAt?: number, fence?: SendFence): Promise<EnqueueResult> {
    return this.group.enqueue(sender, senderHandle, recipientHandle, idem, body, now, queueLimit, expiresAt ?? now + DEFAULT_ENVELOPE_TTL_MS, fence);
  }
  /** A sendMany: every item in one group-commit batch (one transaction). */
  enqueueMany(sender: Buffer, senderHandle: string, items: readonly ManyItem[], now: number, queueLimit: number, expiresAt: number, fence: SendFence): Promise<(EnqueueResult | RpcError)[]> {
    return this.group.enqueueMany(sender, senderHandle, items, now, queueLimit, expiresAt, fence);
  }
  ack(recipient: Buffer, ids: readonly number[]): Promise<number> { return this.group.ack(recipient, ids); }
  pending(recipient: Buffer, afterId: number, limit: number, now?: number): Promise<QueuedEnvelope[]> { return this.group.pending(recipient, afterId, limit, now ?? 0); }
  withdraw(sender: Buffer, recipientHandle: string, idem: string): Promise<void> { return this.backend.withdraw(sender, recipientHandle, idem); }

  /** Makes this node's key (named by a random binding id) the device's one binding; the previous holder is told. */
  async bind(permKeyId: Buffer, bindingId: Buffer, now: number): Promise<void> {
    await this.backend.bind(permKeyId, this.node, bindingId, now);
  }

  currentBinding(permKeyId: Buffer): Promise<Binding | undefined> { return this.backend.currentBinding(permKeyId); }

  listen(onEvent: (e: ClusterEvent) => void): Promise<void> { return this.backend.listen(this.node, onEvent); }

  // Each call above commits on its own: nothing to batch.
  beginBatch(): void {}
  commitBatch(): void {}
  rollbackBatch(): void {}

  pruneIdempotency(now: number): Promise<void> { return this.backend.pruneIdempotency(now); }
  purgeExpired(now: number, maxAgeMs: number): Promise<number> { return this.backend.purgeExpired(now, maxAgeMs); }
  async close(): Promise<void> {
    await this.group.drain();
    await this.backend.close();
  }
}
