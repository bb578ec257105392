// Push delivery: each bound device's queue is pushed to its connection in queue order, at most
// PUSH_WINDOW unacknowledged at a time; a device whose queue may hold more than it was sent is
// "pumped" (read from the store, pushed) at the end of the turn that woke it.
import { WebSocket } from 'ws';
import { ENVELOPE_TOPIC, type EnvelopePush } from '../shared/protocol/methods.ts';
import type { BoundDevice, MaybePromise, TempKeyEntry } from './context.ts';
import type { Outgoing } from './outgoing.ts';
import type { QueuedEnvelope } from './store.ts';

const PUSH_WINDOW = 128;

/** Reading a device's queue: SQLite answers at once, a cluster store later. */
export interface PendingQueue {
  pending(recipient: Buffer, afterId: number, limit: number): MaybePromise<QueuedEnvelope[]>;
}

export class Pushes {
  private readonly pumps = new Set<BoundDevice>();

  constructor(
    private readonly queue: PendingQueue,
    private readonly out: Outgoing,
    private readonly log: (event: Record<string, unknown>) => void,
  ) {}

  /** The device has a new key or connection: push its queue again from the start. */
  restart(d: BoundDevice): void {
    d.cursor = 0;
    d.inflight.clear();
    d.backlog = true;
    this.pumps.add(d);
  }

  /** The device's queue may hold envelopes it was not sent: read it at the end of the turn. */
  wake(d: BoundDevice): void {
    d.backlog = true;
    this.pumps.add(d);
  }

  /** A new envelope was stored for `d`: pushed straight from memory when nothing older waits. */
  queued(d: BoundDevice, env: QueuedEnvelope | undefined): void {
    const key = d.key;
    const online = key?.conn !== undefined && key.conn.ws.readyState === WebSocket.OPEN;
    if (env && online && key && !d.backlog && d.inflight.size < PUSH_WINDOW && env.id > d.cursor) {
      this.pushEnvelope(d, key, env);
      return;
    }
    this.wake(d);
  }

  acked(d: BoundDevice, ids: readonly number[]): void {
    for (const id of ids) d.inflight.delete(id);
    if (d.backlog) this.pumps.add(d);
  }

  private pushEnvelope(d: BoundDevice, key: TempKeyEntry, env: QueuedEnvelope): void {
    d.cursor = env.id;
    d.inflight.add(env.id);
    const data: EnvelopePush = { id: env.id, from: env.from, body: env.body, sentAt: env.sentAt };
    this.out.sendBody(key, { kind: 'push', topic: ENVELOPE_TOPIC, data });
  }

  /** Pumps every device woken this turn. */
  run(): void {
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
    const rows = this.queue.pending(d.permKeyId, d.cursor, room);
    if (!(rows instanceof Promise)) {
      this.pushRows(d, key, room, rows);
      return;
    }
    // Cluster node: one read at a time per device; a wake-up during it reads again after.
    d.reading = true;
    const cursor = d.cursor;
    rows.then((r) => {
      // The pushes of the devices read together leave in one corked write per connection.
      this.out.openBatch();
      d.reading = false;
      if (d.key === key && d.cursor === cursor) this.pushRows(d, key, room, r);
      else d.readAgain = true;
      if (d.readAgain) {
        d.readAgain = false;
        d.backlog = true;
        this.pumps.add(d);
      }
      this.run();
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
}
