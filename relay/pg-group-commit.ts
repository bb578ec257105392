// Group commit for a cluster node: the sends and acks that arrive while the previous
// batch is being committed wait for it, then go to PostgreSQL together, each kind as one
// statement (ephemera_enqueue_many / ephemera_ack_many of migration 4), which is its own
// transaction: one round trip and one commit for the whole batch, one NOTIFY per target node.
// A caller's promise settles only after that commit (an answer never precedes durability);
// idempotency is the store's (a re-sent key is answered as a duplicate, also within one batch).
import type pg from 'pg';
import { RpcError } from '../shared/protocol/errors.ts';
import { num } from './pg-ops.ts';
import type { ManyItem } from './send-many.ts';
import type { SendFence } from './send-order.ts';
import type { DeviceRow, EnqueueResult, QueuedEnvelope } from './store.ts';

/** Items per statement; more wait for the next batch (bounds a statement's size and lock set). */
const MAX_BATCH = 512;
/** A batch that lost a deadlock or serialization race is rolled back whole and run again. */
const RETRIES = 3;

interface Send {
  sender: Buffer;
  senderHandle: string;
  recipient: Buffer;
  idem: string;
  body: Buffer;
  now: number;
  queueLimit: number;
  expiresAt: number;
  resolve: (r: EnqueueResult) => void;
  reject: (e: unknown) => void;
}

/**
 * One `send`, or every item of one `sendMany`: always in the same batch (one transaction). A
 * group whose sender's fence went up after it was handed over is refused when its batch runs
 * (relay/send-order.ts), so nothing of a sender commits behind its refused send.
 */
interface SendGroup {
  sends: Send[];
  fence: SendFence | undefined;
  /** The idempotency key the fence knows the group by (a sendMany's first item's). */
  idem: string;
  /** A single send's full queue holds its sender's later sends back; a sendMany item's does not (never retried alone). */
  single: boolean;
  /** A single send's recipient handle (the fence of a full queue holds only sends to it). */
  to?: string;
  /** The whole group refused or failed (the fence, a failed batch). */
  fail: (e: unknown) => void;
}

interface Read {
  recipient: Buffer;
  afterId: number;
  limit: number;
  now: number;
  resolve: (rows: QueuedEnvelope[]) => void;
  reject: (e: unknown) => void;
}

interface Ack {
  recipient: Buffer;
  ids: readonly number[];
  resolve: (n: number) => void;
  reject: (e: unknown) => void;
}

/** One kind of call, batched: at most one batch in flight, the next collects meanwhile. */
class Lane<T> {
  private waiting: T[] = [];
  private running = false;

  /** `size`: how many of MAX_BATCH an item takes (a group is never split across batches). */
  constructor(private readonly run: (items: T[]) => Promise<void>, private readonly fail: (item: T, e: unknown) => void, private readonly size: (item: T) => number = () => 1) {}

  add(item: T): void {
    this.waiting.push(item);
    // Idle: go at the end of this turn (whatever else this turn's frames asked for joins).
    if (!this.running && this.waiting.length === 1) setImmediate(() => this.next());
  }

  private next(): void {
    if (this.running || this.waiting.length === 0) return;
    let n = 0;
    let take = 0;
    while (take < this.waiting.length && (take === 0 || n + this.size(this.waiting[take]!) <= MAX_BATCH)) n += this.size(this.waiting[take++]!);
    const items = this.waiting.splice(0, take);
    this.running = true;
    this.run(items).catch((e: unknown) => {
      // What waits was asked for before the failure was known (a later send of a sender whose
      // earlier one just failed): it fails too, so no sender's sends commit out of order.
      for (const it of [...items, ...this.waiting.splice(0)]) this.fail(it, e);
    }).finally(() => {
      this.running = false;
      this.next();
    });
  }

  /** Resolves when nothing waits or runs (close). */
  async idle(): Promise<void> {
    while (this.running || this.waiting.length > 0) await new Promise((r) => setTimeout(r, 5));
  }
}

const retryable = (e: unknown): boolean => {
  const code = (e as { code?: string }).code;
  return code === '40P01' || code === '40001';
};

async function withRetry<T>(f: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await f();
    } catch (e) {
      if (attempt >= RETRIES || !retryable(e)) throw e;
    }
  }
}

export class PgGroupCommit {
  private readonly sends: Lane<SendGroup>;
  private readonly acks: Lane<Ack>;
  private readonly reads: Lane<Read>;
  /** Per sender: resolves once its latest send is in the lane (the next one goes in after it). */
  private readonly order = new Map<string, Promise<void>>();

  /**
   * `cachedDevice`: the device row of a handle when already known without a round trip (handles
   * never change); such a send enters the lane at once, without the ordering chain.
   */
  constructor(
    private readonly pool: pg.Pool,
    private readonly deviceByHandle: (handle: string) => Promise<DeviceRow | undefined>,
    private readonly cachedDevice: (handle: string) => DeviceRow | undefined = () => undefined,
  ) {
    this.sends = new Lane((groups) => this.runSends(groups), (g, e) => {
      // A failed batch (the store away): what this group's sender sends next waits for its retry.
      g.fence?.failed(g.idem, e, g.sends[0]?.now ?? 0);
      g.fail(e);
    }, (g) => g.sends.length);
    this.acks = new Lane((items) => this.runAcks(items), (it, e) => it.reject(e));
    this.reads = new Lane((items) => this.runReads(items), (it, e) => it.reject(e));
  }

  /**
   * As StoreOps.enqueue; committed with the other sends of its batch. A sender's sends enter
   * the lane in call order (a handle not yet cached must not let a later send overtake), so the
   * relay may hand a key's sends over without waiting for each one's commit.
   */
  enqueue(sender: Buffer, senderHandle: string, recipientHandle: string, idem: string, body: Buffer, now: number, queueLimit: number, expiresAt: number, fence?: SendFence): Promise<EnqueueResult> {
    // The common case, a known handle and none of the sender's sends still looking one up: into
    // the lane now (call order is lane order), no promise chain per send.
    const known = this.cachedDevice(recipientHandle);
    if (known && !this.order.has(sender.toString('hex'))) {
      return new Promise<EnqueueResult>((resolve, reject) => {
        this.sends.add({ sends: [{ sender, senderHandle, recipient: known.permKeyId, idem, body, now, queueLimit, expiresAt, resolve, reject }], fence, idem, single: true, to: recipientHandle, fail: reject });
      });
    }
    return this.inOrder(sender, async (enter) => {
      // Handles are cached once read (they never change), so this is mostly no round trip.
      const r = await this.deviceByHandle(recipientHandle);
      if (!r) throw new RpcError('NOT_FOUND', 'no such handle');
      return new Promise<EnqueueResult>((resolve, reject) => {
        enter({ sends: [{ sender, senderHandle, recipient: r.permKeyId, idem, body, now, queueLimit, expiresAt, resolve, reject }], fence, idem, single: true, to: recipientHandle, fail: reject });
      });
    });
  }

  /**
   * A sendMany's items, all in one batch (one transaction, one NOTIFY per node): each answered,
   * or refused by code (an unknown handle, a full queue). Rejects whole when the batch fails.
   */
  enqueueMany(sender: Buffer, senderHandle: string, items: readonly ManyItem[], now: number, queueLimit: number, expiresAt: number, fence: SendFence): Promise<(EnqueueResult | RpcError)[]> {
    return this.inOrder(sender, async (enter) => {
      const handles = [...new Set(items.map((it) => it.to))];
      const rows = new Map(await Promise.all(handles.map(async (h) => [h, await this.deviceByHandle(h)] as const)));
      const out: (EnqueueResult | RpcError)[] = items.map(() => new RpcError('NOT_FOUND', 'no such handle'));
      return new Promise<(EnqueueResult | RpcError)[]>((resolveAll, rejectAll) => {
        const sends: Send[] = [];
        let left = 0;
        const settled = (): void => {
          if (--left === 0) resolveAll(out);
        };
        items.forEach((it, i) => {
          const r = rows.get(it.to);
          if (!r) return;
          left++;
          sends.push({
            sender, senderHandle, recipient: r.permKeyId, idem: it.idem, body: it.body, now, queueLimit, expiresAt,
            resolve: (x) => { out[i] = x; settled(); },
            // A full queue is this item's answer; anything else fails the request.
            reject: (e) => { if (e instanceof RpcError) { out[i] = e; settled(); } else rejectAll(e); },
          });
        });
        if (sends.length === 0) resolveAll(out);
        else enter({ sends, fence, idem: items[0]?.idem ?? '', single: false, fail: rejectAll });
      });
    });
  }

  /** Runs `go` after the sender's previous call entered the lane; `enter` hands its group over. */
  private inOrder<T>(sender: Buffer, go: (enter: (g: SendGroup) => void) => Promise<T>): Promise<T> {
    const k = sender.toString('hex');
    let entered!: () => void;
    const inLane = new Promise<void>((r) => (entered = r));
    const before = this.order.get(k);
    this.order.set(k, inLane);
    void inLane.then(() => this.order.get(k) === inLane && this.order.delete(k));
    const run = async (): Promise<T> => {
      try {
        return await go((g) => {
          this.sends.add(g);
          entered();
        });
      } finally {
        entered();
      }
    };
    return before ? before.then(run) : run();
  }

  /** As StoreOps.ack; committed with the other acks of its batch. */
  ack(recipient: Buffer, ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return Promise.resolve(0);
    return new Promise((resolve, reject) => this.acks.add({ recipient, ids, resolve, reject }));
  }

  /**
   * As StoreOps.pending; the queue reads of the devices woken together go in one statement (a
   * node reads once per delivered batch, not once per device and message).
   */
  pending(recipient: Buffer, afterId: number, limit: number, now: number): Promise<QueuedEnvelope[]> {
    return new Promise((resolve, reject) => this.reads.add({ recipient, afterId, limit, now, resolve, reject }));
  }

  private async runReads(items: Read[]): Promise<void> {
    // An expired envelope is never delivered, even before the purge has deleted it.
    const rows = (await this.pool.query<{ ord: number; id: string; sender_handle: string; body: Buffer; created_at: string }>({
      name: 'pending_many',
      text: `SELECT w.ord, q.id, q.sender_handle, q.body, q.created_at
               FROM unnest($1::bytea[], $2::bigint[], $3::integer[], $4::bigint[]) WITH ORDINALITY AS w(r, after, lim, now, ord)
               CROSS JOIN LATERAL (SELECT id, sender_handle, body, created_at FROM queue
                                    WHERE recipient = w.r AND id > w.after AND expires_at > w.now ORDER BY id LIMIT w.lim) q
              ORDER BY w.ord, q.id`,
      values: [items.map((r) => r.recipient), items.map((r) => String(r.afterId)), items.map((r) => r.limit), items.map((r) => String(r.now))],
    })).rows;
    const out = items.map((): QueuedEnvelope[] => []);
    for (const x of rows) out[Number(x.ord) - 1]?.push({ id: num(x.id), from: x.sender_handle, body: x.body, sentAt: num(x.created_at) });
    items.forEach((r, i) => r.resolve(out[i]!));
  }

  private async runSends(groups: SendGroup[]): Promise<void> {
    // A group whose sender's fence went up after it was handed over (an earlier send of the
    // sender failed meanwhile) is refused, not stored behind that send.
    // (A single send still gets its duplicate answered: it is stored with queue limit 0.)
    const held = new Map<Send, RpcError>();
    const live = groups.filter((g) => {
      const refused = g.fence?.refusal(g.idem, g.sends[0]?.now ?? 0, g.to);
      if (refused && !g.single) g.fail(refused);
      else if (refused) for (const x of g.sends) held.set(x, refused);
      return !refused || g.single;
    });
    const items = live.flatMap((g) => g.sends);
    if (items.length === 0) return;
    const groupOf = live.flatMap((g) => g.sends.map(() => g));
    // The statement's eight parameter arrays, filled in one pass.
    const cols: unknown[][] = [[], [], [], [], [], [], [], []];
    for (const x of items) {
      cols[0]!.push(x.sender); cols[1]!.push(x.idem); cols[2]!.push(x.recipient); cols[3]!.push(x.senderHandle);
      cols[4]!.push(x.body); cols[5]!.push(x.now); cols[6]!.push(held.has(x) ? 0 : x.queueLimit); cols[7]!.push(x.expiresAt);
    }
    const rows = await withRetry(async () => (await this.pool.query<{ ord: number; queue_id: string | null; duplicate: boolean }>({
      name: 'enqueue_many',
      text: 'SELECT ord, queue_id, duplicate FROM ephemera_enqueue_many($1::bytea[], $2::text[], $3::bytea[], $4::text[], $5::bytea[], $6::bigint[], $7::bigint[], $8::bigint[])',
      values: cols,
    })).rows);
    const done = new Set<number>();
    for (const r of rows) {
      const s = items[r.ord - 1];
      if (!s) continue;
      done.add(r.ord - 1);
      // A re-send of a stored envelope is answered as a duplicate, also when the queue is full.
      if (r.queue_id === null) {
        const full = held.get(s) ?? new RpcError('QUEUE_FULL');
        const g = groupOf[r.ord - 1];
        // Raised before the answer leaves: the sender's next send waits for this one's retry.
        if (g?.single) g.fence?.failed(s.idem, full, s.now, g.to);
        s.reject(full);
      } else {
        s.resolve({ id: num(r.queue_id), duplicate: r.duplicate, recipient: s.recipient });
      }
    }
    items.forEach((s, i) => done.has(i) || s.reject(new Error('the batch did not answer this send')));
  }

  private async runAcks(items: Ack[]): Promise<void> {
    const recipients: Buffer[] = [];
    const ids: string[] = [];
    for (const a of items) for (const id of a.ids) {
      recipients.push(a.recipient);
      ids.push(String(id));
    }
    const rows = await withRetry(async () => (await this.pool.query<{ recipient: Buffer; id: string }>({
      name: 'ack_many',
      text: 'SELECT recipient, id FROM ephemera_ack_many($1::bytea[], $2::bigint[])',
      values: [recipients, ids],
    })).rows);
    // Each caller is told how many of its own ids went (the first caller naming an id gets it).
    // A queue id is unique (one sequence), so the deleted rows are keyed by id, and the row's
    // recipient must be the caller's.
    const gone = new Map<number, Buffer>();
    for (const r of rows) gone.set(num(r.id), r.recipient);
    for (const a of items) {
      let n = 0;
      for (const id of a.ids) {
        const r = gone.get(id);
        if (r && r.equals(a.recipient)) {
          gone.delete(id);
          n++;
        }
      }
      a.resolve(n);
    }
  }

  /** Waits for every batch to be committed or failed. */
  async drain(): Promise<void> {
    await Promise.all([this.sends.idle(), this.acks.idle(), this.reads.idle()]);
  }
}
