// Group commit for a cluster node (issue 17): the sends and acks that arrive while the previous
// batch is being committed wait for it, then go to PostgreSQL together, each kind as one
// statement (ephemera_enqueue_many / ephemera_ack_many of migration 4), which is its own
// transaction: one round trip and one commit for the whole batch, one NOTIFY per target node.
// A caller's promise settles only after that commit (an answer never precedes durability);
// idempotency is the store's (a re-sent key is answered as a duplicate, also within one batch).
import type pg from 'pg';
import { RpcError } from '../shared/protocol/errors.ts';
import { num } from './pg-ops.ts';
import type { DeviceRow, EnqueueResult } from './store.ts';

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

  constructor(private readonly run: (items: T[]) => Promise<void>, private readonly fail: (item: T, e: unknown) => void) {}

  add(item: T): void {
    this.waiting.push(item);
    // Idle: go at the end of this turn (whatever else this turn's frames asked for joins).
    if (!this.running && this.waiting.length === 1) setImmediate(() => this.next());
  }

  private next(): void {
    if (this.running || this.waiting.length === 0) return;
    const items = this.waiting.splice(0, MAX_BATCH);
    this.running = true;
    this.run(items).catch((e: unknown) => {
      for (const it of items) this.fail(it, e);
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
  private readonly sends: Lane<Send>;
  private readonly acks: Lane<Ack>;

  constructor(
    private readonly pool: pg.Pool,
    private readonly deviceByHandle: (handle: string) => Promise<DeviceRow | undefined>,
  ) {
    this.sends = new Lane((items) => this.runSends(items), (it, e) => it.reject(e));
    this.acks = new Lane((items) => this.runAcks(items), (it, e) => it.reject(e));
  }

  /** As StoreOps.enqueue; committed with the other sends of its batch. */
  async enqueue(sender: Buffer, senderHandle: string, recipientHandle: string, idem: string, body: Buffer, now: number, queueLimit: number, expiresAt: number): Promise<EnqueueResult> {
    // Handles are cached once read (they never change), so this is mostly no round trip.
    const r = await this.deviceByHandle(recipientHandle);
    if (!r) throw new RpcError('NOT_FOUND', 'no such handle');
    return new Promise((resolve, reject) => {
      this.sends.add({ sender, senderHandle, recipient: r.permKeyId, idem, body, now, queueLimit, expiresAt, resolve, reject });
    });
  }

  /** As StoreOps.ack; committed with the other acks of its batch. */
  ack(recipient: Buffer, ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return Promise.resolve(0);
    return new Promise((resolve, reject) => this.acks.add({ recipient, ids, resolve, reject }));
  }

  private async runSends(items: Send[]): Promise<void> {
    const rows = await withRetry(async () => (await this.pool.query<{ ord: number; queue_id: string | null; duplicate: boolean }>({
      name: 'enqueue_many',
      text: 'SELECT ord, queue_id, duplicate FROM ephemera_enqueue_many($1::bytea[], $2::text[], $3::bytea[], $4::text[], $5::bytea[], $6::bigint[], $7::bigint[], $8::bigint[])',
      values: [
        items.map((s) => s.sender), items.map((s) => s.idem), items.map((s) => s.recipient), items.map((s) => s.senderHandle),
        items.map((s) => s.body), items.map((s) => s.now), items.map((s) => s.queueLimit), items.map((s) => s.expiresAt),
      ],
    })).rows);
    const done = new Set<number>();
    for (const r of rows) {
      const s = items[r.ord - 1];
      if (!s) continue;
      done.add(r.ord - 1);
      // A re-send of a stored envelope is answered as a duplicate, also when the queue is full.
      if (r.queue_id === null) s.reject(new RpcError('QUEUE_FULL'));
      else s.resolve({ id: num(r.queue_id), duplicate: r.duplicate, recipient: s.recipient });
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
    const gone = new Set(rows.map((r) => `${r.recipient.toString('hex')}:${r.id}`));
    for (const a of items) {
      const hex = a.recipient.toString('hex');
      let n = 0;
      for (const id of a.ids) if (gone.delete(`${hex}:${id}`)) n++;
      a.resolve(n);
    }
  }

  /** Waits for every batch to be committed or failed. */
  async drain(): Promise<void> {
    await Promise.all([this.sends.idle(), this.acks.idle()]);
  }
}
