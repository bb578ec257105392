// Delivered receipts wait a moment and go out together, per key (a sender, or an author in a
// group): each receipt costs an encrypt and a durable commit, so one per key per batch. Receipts
// that find no connection (a lock stopped it) wait sealed in the vault for the next one.
import { MAX_RECEIPT_IDS } from '../e2e/index.ts';
import type { Vault } from '../vault/index.ts';
import { readKvJson, writeKvJson } from './kv-json.ts';

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
  /** The batch goes `delayMs` after this: its last id that came within `maxWaitMs` of `since`. */
  private quietFrom = 0;

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
    const list = this.pending.get(key);
    if (list) list.push(id);
    else this.pending.set(key, [id]);
    const now = Date.now();
    if (!this.timer) {
      this.since = this.quietFrom = now;
      this.timer = setTimeout(() => this.due(), this.delayMs);
    } else if (now - this.since < this.maxWaitMs) this.quietFrom = now;
    // The timer is not re-armed per id (a catch-up adds one per text: a timer each was ~6 µs of
    // main thread per text); when it fires early it waits out the rest (due).
  }

  private due(): void {
    const wait = this.quietFrom + this.delayMs - Date.now();
    if (wait > 0) this.timer = setTimeout(() => this.due(), wait);
    else this.flush();
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

  /** Hands every waiting batch to `send` now (lock and sync: nothing is left to a timer). */
  flushAll(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.pending.size > 0) this.flush();
    this.timer = undefined;
  }

  /** At lock: what waits goes to `send` now, never dropped (the caller keeps what cannot go, keepReceiptIds). */
  stop(): void {
    this.flushAll();
  }
}

/**
 * A receipt that found no connection: a lock stopped it while the receipt waited in the send
 * queue (or an offline session marked texts read). Its ids wait sealed in the vault under `key`
 * (recipient and type), merged with what waits there already, and go after the next unlock's
 * connect. Ids rather than an encrypted envelope in the outbox: the outbox belongs to the relay
 * client, which is stopped by then; the ids are one sealed kv write, with no wait at lock.
 */
export function keepReceiptIds(vault: Vault, namespace: string, key: string, ids: readonly string[]): void {
  writeKvJson(vault, namespace, key, [...new Set([...keptReceiptIds(vault, namespace, key), ...ids])]);
}

/** The ids kept under `key` (keepReceiptIds); none when there is no entry or it is not a list of strings. */
export function keptReceiptIds(vault: Vault, namespace: string, key: string): string[] {
  const v = readKvJson(vault, namespace, key);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/**
 * A deleted text's content id leaves every kept list of `namespace` (an entry left empty goes), so
 * no record names a deleted message (review s17 R7). Kept lists exist only between a lock or an
 * offline session and the next online unlock: with none, this is one index probe.
 */
export function forgetKeptReceiptId(vault: Vault, namespace: string, contentId: string): void {
  if (!vault.kvHasAny(namespace)) return;
  for (const key of vault.kvKeys(namespace)) {
    const ids = keptReceiptIds(vault, namespace, key);
    if (!ids.includes(contentId)) continue;
    const rest = ids.filter((id) => id !== contentId);
    if (rest.length > 0) writeKvJson(vault, namespace, key, rest);
    else vault.kvDelete(namespace, key);
  }
}

/** Ids split into the chunks one receipt may carry. */
export function sendInChunks(ids: readonly string[], send: (chunk: string[]) => void): void {
  for (let i = 0; i < ids.length; i += MAX_RECEIPT_IDS) send(ids.slice(i, i + MAX_RECEIPT_IDS));
}
