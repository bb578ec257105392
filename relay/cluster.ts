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
  /** This node's binds sent to PostgreSQL and not answered yet, by binding id (hex): events naming them, held. */
  private readonly bindsInFlight = new Map<string, ClusterEvent[]>();
  private onEvent: ((e: ClusterEvent) => void) | undefined;

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

  /**
   * Makes this node's key (named by a random binding id) the device's one binding; the previous holder is told.
   * Another node can replace the binding as soon as it is committed, and its 'unbind' can reach
   * this node before the bind's own answer does (two sockets; CI21 under load): the core would
   * find no key to forget yet and both nodes would keep one. So events that name a bind still
   * in flight are held and handed on after the caller has taken in the answer.
   */
  async bind(permKeyId: Buffer, bindingId: Buffer, now: number): Promise<void> {
    const id = bindingId.toString('hex');
    const held: ClusterEvent[] = [];
    this.bindsInFlight.set(id, held);
    try {
      await this.backend.bind(permKeyId, this.node, bindingId, now);
    } finally {
      this.bindsInFlight.delete(id);
      // setImmediate runs after the microtasks that settle this promise, i.e. after the core's
      // continuation has attached the key (or given up): only then can an unbind find it.
      if (held.length > 0) setImmediate(() => this.deliverHeld(held));
    }
  }

  currentBinding(permKeyId: Buffer): Promise<Binding | undefined> { return this.backend.currentBinding(permKeyId); }

  listen(onEvent: (e: ClusterEvent) => void): Promise<void> {
    this.onEvent = onEvent;
    return this.backend.listen(this.node, (e) => {
      if (e.kind === 'unbind') {
        const held = this.bindsInFlight.get(e.bindingId.toString('hex'));
        if (held) {
          held.push(e);
          return;
        }
      } else if (e.kind === 'resync') {
        // Notifications lost while the listener was down may have named a bind still in flight:
        // each of those re-checks once it is answered.
        for (const held of this.bindsInFlight.values()) if (!held.some((h) => h.kind === 'resync')) held.push(e);
      }
      onEvent(e);
    });
  }

  private deliverHeld(held: readonly ClusterEvent[]): void {
    const onEvent = this.onEvent;
    if (onEvent) for (const e of held) onEvent(e);
  }

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
