// A member's delivered receipts to one author in one group, one per burst. Every member answers
// every text, so the author's receipt work (a 1:1 decrypt and a logged write each, and the
// relay's store-and-forward) is the group's size times the receipts each member sends. A member
// holds its receipt while the author's texts keep arriving and sends it once they pause: a burst
// draws one receipt per member whatever its length, where a fixed pace drew one per pace interval.
// A pause is judged against the pace the texts came at: on a loaded machine a burst reaches each
// member a few seconds apart per text (bench/groups: 30 texts over 90 s at load 20), so the quiet
// time is twice the longest pause seen in the burst (at least `quietMs`, at most the key's gap),
// and half the gap while only the burst's first id is held. Ids of a backlog (texts the relay
// kept while this device was away, handed over in one go after the connection opened) are a
// burst that is already over: they wait only the quiet time, never half the gap.
// Bounds: a stream that never pauses still gets a receipt `maxHoldMs` after its first held id; a
// key holding a full receipt's worth of ids sends it at once (memory per key is one receipt);
// and a key's next receipt waits at least `gapMs` after its previous one (the caller scales the
// gap with the group's size), so texts spaced just past the quiet time do not draw one receipt
// each from every member of a large group.
import { MAX_RECEIPT_IDS } from '../e2e/index.ts';
import { sendInChunks } from './receipt-batch.ts';

interface Key {
  ids: string[];
  timer: NodeJS.Timeout | undefined;
  /** When the first held id came (0: none held). */
  firstAt: number;
  /** When the newest id came (held or sent). */
  lastIdAt: number;
  /** The longest pause between two ids of the burst so far (0: a burst's first id). */
  longestPause: number;
  /** The least time between this key's previous receipt and its next. */
  gapMs: number;
  /** When the previous receipt of this key went out (0: none yet). */
  sentAt: number;
  /** The burst holds ids of a backlog: its end is known, no first-id wait. */
  caughtUp: boolean;
  /** When the armed timer fires (0: none armed). */
  armedFor: number;
}

export interface GroupReceiptTiming {
  /** A receipt goes once no new id came for this long (longer when the burst's texts came further apart). */
  quietMs: number;
  /** ... or this long after its first held id, however many keep coming. */
  maxHoldMs: number;
  /** At most this many ids are held per key; the receipt goes as this many is reached. */
  maxIds?: number;
}

export class GroupReceiptBatch {
  private readonly keys = new Map<string, Key>();
  private readonly maxIds: number;

  constructor(
    private readonly send: (key: string, ids: string[]) => void,
    private readonly timing: GroupReceiptTiming,
  ) {
    this.maxIds = Math.max(1, Math.min(timing.maxIds ?? MAX_RECEIPT_IDS, MAX_RECEIPT_IDS));
  }

  /**
   * Another id for `key`; `gapMs`: the least time between two receipts of this key; `backlog`: the
   * text came with a backlog the relay held for this device (not a live push).
   */
  add(key: string, id: string, gapMs: number, backlog = false): void {
    const now = Date.now();
    let k = this.keys.get(key);
    if (!k) this.keys.set(key, (k = { ids: [], timer: undefined, firstAt: 0, lastIdAt: 0, longestPause: 0, gapMs, sentAt: 0, caughtUp: false, armedFor: 0 }));
    k.gapMs = gapMs;
    const newlyCaughtUp = backlog && !k.caughtUp;
    if (backlog) k.caughtUp = true;
    // A pause longer than the gap ends the burst; a shorter one, also one across a receipt that
    // went meanwhile, belongs to it and sets the pace.
    const pause = k.lastIdAt > 0 ? now - k.lastIdAt : Infinity;
    k.longestPause = pause <= gapMs ? Math.max(k.longestPause, pause) : 0;
    if (k.ids.length === 0) k.firstAt = now;
    k.ids.push(id);
    k.lastIdAt = now;
    if (k.ids.length >= this.maxIds) {
      this.flush(key, k);
      return;
    }
    // One timer per key: it is not moved per id but looks again when it fires (ids come fast);
    // only a backlog's first id moves it earlier (a live first id armed it for half the gap).
    if (k.timer && newlyCaughtUp && this.dueAt(k) < k.armedFor) {
      clearTimeout(k.timer);
      k.timer = undefined;
    }
    if (!k.timer) this.arm(key, k, now);
  }

  /**
   * When the held ids go: after a pause of twice the burst's longest, or the longest hold, not
   * before the gap. A burst's first id knows no pace yet: it waits half the gap (the group's
   * size), since on a loaded machine the second text of a large group's burst comes seconds later.
   */
  private dueAt(k: Key): number {
    const floor = k.caughtUp ? this.timing.quietMs : Math.max(this.timing.quietMs, k.gapMs / 2);
    const pace = k.longestPause > 0 ? 2 * k.longestPause : floor;
    const quiet = Math.min(Math.max(this.timing.quietMs, pace), Math.max(this.timing.quietMs, k.gapMs));
    const settled = Math.min(k.lastIdAt + quiet, k.firstAt + this.timing.maxHoldMs);
    return Math.max(settled, k.sentAt + k.gapMs);
  }

  private arm(key: string, k: Key, now: number): void {
    k.armedFor = this.dueAt(k);
    k.timer = setTimeout(() => this.due(key, k), Math.max(0, k.armedFor - now));
  }

  private due(key: string, k: Key): void {
    k.timer = undefined;
    const now = Date.now();
    if (now < this.dueAt(k)) this.arm(key, k, now);
    else this.flush(key, k);
  }

  private flush(key: string, k: Key): void {
    if (k.timer) clearTimeout(k.timer);
    k.timer = undefined;
    const ids = k.ids;
    k.ids = [];
    k.firstAt = 0;
    k.caughtUp = false;
    k.sentAt = Date.now();
    // The entry stays for its sentAt (one per author and group heard from while unlocked).
    sendInChunks(ids, (chunk) => this.send(key, chunk));
  }

  /** No receipt waits for its batch. */
  idle(): boolean {
    for (const k of this.keys.values()) if (k.ids.length > 0) return false;
    return true;
  }

  /** Hands every key's held ids to `send` now (lock, and the end of a sync): nothing is left to a timer. */
  flushAll(): void {
    for (const [key, k] of this.keys) if (k.ids.length > 0) this.flush(key, k);
  }

  /** At lock: what is held goes to `send` now, never dropped (the caller keeps what cannot go); the keys start over. */
  stop(): void {
    this.flushAll();
    for (const k of this.keys.values()) if (k.timer) clearTimeout(k.timer);
    this.keys.clear();
  }
}

/**
 * Tells an envelope of a backlog from a live push (GroupReceiptBatch.add's `backlog`): the relay
 * stored it before the connection became ready, i.e. kept it while this device was away, and
 * hands that queue over right after the bind. Fed the connection's states; while the connection is
 * not ready an envelope counts as live (the hold it gets then is the one it always had).
 */
export class BacklogWatch {
  /** When the connection last became ready, this device's clock (0: not ready). */
  private readySince = 0;

  connection(state: { phase: string; since: number }): void {
    this.readySince = state.phase === 'ready' ? state.since : 0;
  }

  /** `storedAt`: relay time the relay stored the envelope; `relayAhead`: the relay's clock minus this device's. */
  isBacklog(storedAt: number, relayAhead: number): boolean {
    return this.readySince > 0 && storedAt - relayAhead < this.readySince;
  }
}
