// A member's delivered receipts to one author in one group, coalesced. Every member answers every
// text, so the author's receipt work (a 1:1 decrypt and a sealed write each, and the relay's
// store-and-forward) grows with the group's size times the texts' rate. The first receipt after a
// quiet moment goes `delayMs` after its first id, as before; while texts keep coming, the next
// one waits until `gapMs` after the previous one (the caller scales the gap with the group's size),
// so an author hears from a group of any size at a bounded rate (bench/groups).
import { sendInChunks } from './receipt-batch.ts';

interface Key {
  ids: string[];
  timer: NodeJS.Timeout | undefined;
  /** When the previous receipt of this key went out (0: none yet). */
  lastAt: number;
}

export class GroupReceiptBatch {
  private readonly keys = new Map<string, Key>();

  constructor(
    private readonly send: (key: string, ids: string[]) => void,
    private readonly delayMs: number,
  ) {}

  /** Another id for `key`; `gapMs`: the least time between two receipts of this key. */
  add(key: string, id: string, gapMs: number): void {
    let k = this.keys.get(key);
    if (!k) this.keys.set(key, (k = { ids: [], timer: undefined, lastAt: 0 }));
    k.ids.push(id);
    if (k.timer) return;
    const now = Date.now();
    const at = Math.max(now + this.delayMs, k.lastAt + gapMs);
    const entry = k;
    k.timer = setTimeout(() => this.flush(key, entry), at - now);
  }

  private flush(key: string, k: Key): void {
    k.timer = undefined;
    const ids = k.ids;
    k.ids = [];
    k.lastAt = Date.now();
    // The entry stays for its lastAt (one per author and group heard from while unlocked).
    sendInChunks(ids, (chunk) => this.send(key, chunk));
  }

  /** No receipt waits for its batch. */
  idle(): boolean {
    for (const k of this.keys.values()) if (k.ids.length > 0) return false;
    return true;
  }

  /** At lock: batches not yet sent are dropped (the author's copy shows fewer receipts). */
  stop(): void {
    for (const k of this.keys.values()) if (k.timer) clearTimeout(k.timer);
    this.keys.clear();
  }
}
