// Delivered receipts wait a moment and go out together, per key (a sender, or an author in a
// group): each receipt costs an encrypt and a durable commit, so one per key per batch.
import { MAX_RECEIPT_IDS } from '../e2e/index.ts';

/**
 * The quiet moment a batch waits for. 20 ms closed a batch after one or two texts whenever texts
 * came further apart than that (sequential sends on a loaded machine: 214 receipts for 300 texts,
 * each an encrypt and a durable commit here and a decrypt and state writes at the sender); a
 * quarter second folds such a stream and is still well under what a person notices of a tick.
 */
export const RECEIPT_DELAY_MS = 250;

export class ReceiptBatch {
  private readonly pending = new Map<string, string[]>();
  private timer: NodeJS.Timeout | undefined;
  /** When the pending batch began. */
  private since = 0;

  /**
   * `send` gets each key's ids in chunks a receipt may carry. While ids keep coming the batch
   * waits for a quiet moment, but only up to `maxWaitMs` after its first id (0: it goes
   * `delayMs` after its first id, however many follow).
   */
  constructor(
    private readonly send: (key: string, ids: string[]) => void,
    private readonly maxWaitMs: number,
    private readonly delayMs = RECEIPT_DELAY_MS,
  ) {}

  add(key: string, id: string): void {
    const list = this.pending.get(key) ?? [];
    list.push(id);
    this.pending.set(key, list);
    const now = Date.now();
    if (!this.timer) this.since = now;
    else if (now - this.since < this.maxWaitMs) clearTimeout(this.timer);
    else return;
    this.timer = setTimeout(() => this.flush(), this.delayMs);
  }

  private flush(): void {
    this.timer = undefined;
    const batches = [...this.pending];
    this.pending.clear();
    for (const [key, ids] of batches) sendInChunks(ids, (chunk) => this.send(key, chunk));
  }

  /** No receipt waits for its batch. */
  idle(): boolean {
    return this.pending.size === 0 && !this.timer;
  }

  /** At lock: batches not yet sent are dropped (the other side's copy shows fewer receipts). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }
}

/** Ids split into the chunks one receipt may carry. */
export function sendInChunks(ids: readonly string[], send: (chunk: string[]) => void): void {
  for (let i = 0; i < ids.length; i += MAX_RECEIPT_IDS) send(ids.slice(i, i + MAX_RECEIPT_IDS));
}
