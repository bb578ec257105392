// The relay's outgoing frames and its group commit: a turn's answers and pushes are held until
// the turn's writes are committed and, on SQLite, the -wal fsynced (an answer must never precede
// durability: a power cut keeps what was answered), then sealed (bodies for one temp key
// together, one BATCH record when more than one) and written corked.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { CLOSE_CODES } from '../shared/protocol/errors.ts';
import { framePool } from '../shared/protocol/record.ts';
import { BATCH_TARGET_BYTES, encodeBatchParts, encodeBodyParts, MAX_BATCH_BODIES, type Body, type BodyParts } from '../shared/protocol/rpc.ts';
import { blobReadBuffers } from './blobs.ts';
import type { Conn, TempKeyEntry } from './context.ts';

/**
 * An outgoing frame waiting for the commit: either a finished frame, or bodies for one temp key
 * that are sealed together (one BATCH record when more than one) when the commit is done.
 */
interface Held {
  conn: Conn;
  frame?: Buffer;
  entry?: TempKeyEntry;
  /** As parts: a large byte string (a blob.get's chunk) is sealed from where it is, not copied into the body. */
  bodies?: BodyParts[];
  /** The request ids `bodies` answer: a batch that is not made durable answers them INTERNAL instead. */
  answers?: number[];
  /** Sealed from bodies (sealFor before its batch was durable): it may say OK, so it must not leave if the batch fails. */
  sealedEarly?: boolean;
  bytes: number;
}

/** A committed batch's frames, waiting for the fsync that covers commit number `commit`. */
interface Syncing {
  held: Held[];
  commit: number;
}

/** The store's batch: SQLite's one write transaction per turn (a cluster store's are no-ops). */
export interface BatchStore {
  beginBatch(): void;
  commitBatch(): void;
  rollbackBatch(): void;
  /**
   * SQLite: makes every commit so far durable (the -wal fsync, off the event loop). Absent where
   * a commit is durable by itself (a cluster node's PostgreSQL, synchronous_commit on).
   */
  syncCommitted?(): Promise<void>;
  /** Set once a syncCommitted failed: no write may be answered OK any more. */
  readonly durabilityLost?: Error | undefined;
}

/** What a request of a batch that could not be made durable is answered (retryable: clients send it again). */
export const NOT_DURABLE_DETAIL = 'the relay could not make this durable; send it again';

/** A peer that does not read its answers is cut off before it makes the relay buffer without bound. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** Under load, at most one commit per this many ms (answers wait for it); idle: no wait. */
const COMMIT_INTERVAL_MS = 8;
/**
 * A batch that took at least this many bytes of write requests (of bound keys: the caller counts
 * only those, so an unauthenticated peer cannot defeat the pacing) commits at the end of its turn
 * without waiting for the interval: its requests' own work (a 64 KiB attachment chunk each)
 * already dwarfs a commit's fixed cost, and the wait only stalled the sender's window of requests.
 */
export const COMMIT_AT_BYTES = 256 * 1024;

/** Sealed: a blob.get's chunk (a part of its body, read into blobReadBuffers) is read no more. */
function giveBackReads(bodies: readonly BodyParts[]): void {
  for (const body of bodies) for (const part of body.parts) blobReadBuffers.give(part);
}

export class Outgoing {
  /** Frames held until the open write batch is committed (answers must not precede durability). */
  private held: Held[] | undefined;
  /** Per connection, the last held item: bodies for the same key join it (one record for all). */
  private readonly lastHeld = new Map<Conn, Held>();
  private lastCommitAt = Number.NEGATIVE_INFINITY;
  /** A method failed unexpectedly inside the open batch: it is rolled back, not committed. */
  private batchFailed = false;
  /** The open batch ran a request that may have written (not RelayMethod.readOnly). */
  private batchWrites = false;
  /** …one whose write must survive a power cut before it is answered (all but relaxed ones: acks). */
  private batchDurable = false;
  /** Committed batches (in commit order) whose frames wait for an fsync. */
  private readonly syncing: Syncing[] = [];
  /** Commits that needed an fsync, counted; and the count the last good fsync covered. */
  private durableCommits = 0;
  private syncedCommits = 0;
  private syncRunning = false;
  /** Bytes of write requests the open batch took. */
  private batchBytes = 0;
  /**
   * Since start: commits, the ones COMMIT_AT_BYTES released before their pacing interval, and the
   * bytes counted toward it (tests read them; the early release must follow only counted writes).
   */
  readonly counters = { commits: 0, commitsAtBytes: 0, bytesTaken: 0, syncs: 0, syncFailures: 0 };
  /** The commit waiting for the interval, if any. */
  private paced: NodeJS.Timeout | undefined;
  /** Large record frames (a blob.get's chunk) are sealed into reused buffers, back once written. */
  readonly frames = framePool();

  constructor(
    private readonly store: BatchStore,
    private readonly log: (event: Record<string, unknown>) => void,
    private readonly commitIntervalMs = COMMIT_INTERVAL_MS,
    /** Called once the requests a failed fsync left unanswered were answered INTERNAL. */
    private readonly syncFailed: (e: unknown) => void = () => undefined,
  ) {}

  /** Frames (or groups of bodies) held for the open batch's commit. */
  get holding(): number {
    return this.held?.length ?? 0;
  }

  /** Committed batches whose frames wait for their fsync. */
  get awaitingSync(): number {
    return this.syncing.length;
  }

  /** Marks the open batch (if any) to be rolled back instead of committed. */
  failBatch(): void {
    if (this.held) this.batchFailed = true;
  }

  sendBody(entry: TempKeyEntry, body: Body): void {
    const conn = entry.conn;
    if (!conn) return;
    const encoded = encodeBodyParts(body);
    if (!this.held) {
      this.write(conn, entry.endpoint.seal(encoded, {}, this.frames.take));
      giveBackReads([encoded]);
      return;
    }
    const last = this.lastHeld.get(conn);
    if (last?.bodies && last.entry === entry && last.bodies.length < MAX_BATCH_BODIES && last.bytes + encoded.length <= BATCH_TARGET_BYTES) {
      last.bodies.push(encoded);
      if (body.kind !== 'push') (last.answers ??= []).push(body.reqId);
      last.bytes += 4 + encoded.length;
      return;
    }
    const item: Held = { conn, entry, bodies: [encoded], bytes: 3 + 4 + encoded.length };
    if (body.kind !== 'push') item.answers = [body.reqId];
    this.held.push(item);
    this.lastHeld.set(conn, item);
  }

  send(conn: Conn, frame: Buffer): void {
    if (!this.held) {
      this.write(conn, frame);
      return;
    }
    const item: Held = { conn, frame, bytes: frame.length };
    this.held.push(item);
    this.lastHeld.set(conn, item);
  }

  /** Answers already produced under `entry` are sealed now, before the key is zeroed. */
  sealFor(entry: TempKeyEntry): void {
    if (this.held) for (const item of this.held) if (item.entry === entry) this.sealHeld(item);
    for (const group of this.syncing) for (const item of group.held) if (item.entry === entry) this.sealHeld(item);
  }

  /** Seals a held group of bodies into its record (before its key may be forgotten). */
  private sealHeld(item: Held): void {
    const { entry, bodies } = item;
    if (!entry || !bodies) return;
    item.frame = entry.endpoint.seal(bodies.length === 1 ? (bodies[0] as BodyParts) : encodeBatchParts(bodies), {}, this.frames.take);
    giveBackReads(bodies);
    item.bodies = undefined;
    // Sealed before its batch was made durable (sealFor), if that fails it must not leave (failHeld).
    item.sealedEarly = true;
    if (this.lastHeld.get(item.conn) === item) this.lastHeld.delete(item.conn);
  }

  private write(conn: Conn, frame: Buffer): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    if (conn.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      conn.ws.close(CLOSE_CODES.RATE_LIMITED, 'RATE_LIMITED');
      return;
    }
    // A pooled frame goes back once the socket has written it (give ignores any other frame).
    conn.ws.send(frame, () => this.frames.give(frame));
  }

  openBatch(): void {
    if (this.held) return;
    this.held = [];
    this.batchWrites = false;
    this.batchDurable = false;
    this.batchBytes = 0;
    this.store.beginBatch();
    setImmediate(() => this.commitDue());
  }

  /**
   * The open batch runs a request that may write: its answers wait for the commit's pacing and,
   * unless `relaxed` (a write whose loss is harmless: an ack's delete only re-delivers what the
   * client de-duplicates), for an fsync after the commit.
   */
  mayWrite(relaxed = false): void {
    if (!this.held) return;
    this.batchWrites = true;
    if (!relaxed) this.batchDurable = true;
  }

  /** The open batch took a write request of `bytes` from a bound key. */
  took(bytes: number): void {
    if (!this.held) return;
    this.batchBytes += bytes;
    this.counters.bytesTaken += bytes;
    if (this.paced && this.batchBytes >= COMMIT_AT_BYTES) {
      this.counters.commitsAtBytes++;
      clearTimeout(this.paced);
      this.paced = undefined;
      setImmediate(() => this.commitBatch());
    }
  }

  /**
   * Group commit, at the end of the turn that opened the batch: at once when idle (the last
   * commit was at least COMMIT_INTERVAL_MS ago), when nothing in the batch wrote (only reads:
   * there is nothing to make durable), or when the batch took COMMIT_AT_BYTES of writes. Else
   * (busy with small writes) keep collecting until the interval has passed, so one commit (its
   * WAL page writes are the fixed cost) serves many requests.
   */
  private commitDue(): void {
    if (!this.held || this.paced) return;
    const wait = this.lastCommitAt + this.commitIntervalMs - performance.now();
    if (wait > 0 && this.batchWrites) {
      if (this.batchBytes >= COMMIT_AT_BYTES) {
        this.counters.commitsAtBytes++;
        this.commitBatch();
        return;
      }
      this.paced = setTimeout(() => {
        this.paced = undefined;
        this.commitBatch();
      }, wait);
    } else this.commitBatch();
  }

  /**
   * Commits the turn's writes, then releases the answers and pushes they made possible: at once
   * on a store whose commit is durable by itself, else once an fsync begun after this commit
   * succeeded (frames leave in commit order; a batch that only read waits for the batches before
   * it, whose state it may have read). One fsync at a time: the batches committed while it runs
   * share the next one.
   */
  commitBatch(): void {
    const held = this.held;
    if (!held) return;
    if (this.paced) clearTimeout(this.paced);
    this.paced = undefined;
    this.held = undefined;
    this.lastHeld.clear();
    this.lastCommitAt = performance.now();
    this.counters.commits++;
    const durable = this.batchDurable;
    try {
      if (this.batchFailed) throw new Error('a method failed inside the batch');
      // A failed fsync may have lost earlier commits: no write is promised until a restart.
      if (this.batchWrites && this.store.durabilityLost) throw this.store.durabilityLost;
      this.store.commitBatch();
    } catch (e) {
      // Nothing was promised yet: drop the answers; clients re-send (idempotent) after reconnecting.
      this.log({ event: 'commit-failed', error: String(e) });
      this.batchFailed = false;
      this.store.rollbackBatch();
      if (this.store.durabilityLost) this.failHeld(held);
      else for (const { conn } of held) conn.ws.terminate();
      return;
    }
    if (!this.store.syncCommitted) {
      this.release(held);
      return;
    }
    if (durable) this.durableCommits++;
    if (this.syncing.length === 0 && this.syncedCommits === this.durableCommits) {
      this.release(held);
      return;
    }
    this.syncing.push({ held, commit: this.durableCommits });
    this.syncNext();
  }

  /** Starts an fsync for the commits not yet covered, unless one runs (it starts the next when done). */
  private syncNext(): void {
    const sync = this.store.syncCommitted;
    if (this.syncRunning || !sync || this.syncedCommits === this.durableCommits) return;
    this.syncRunning = true;
    const upTo = this.durableCommits;
    this.counters.syncs++;
    sync.call(this.store).then(() => {
      this.syncRunning = false;
      this.syncedCommits = upTo;
      while (this.syncing[0] && this.syncing[0].commit <= upTo) this.release((this.syncing.shift() as Syncing).held);
      this.syncNext();
    }, (e: unknown) => {
      this.syncRunning = false;
      this.counters.syncFailures++;
      this.log({ event: 'sync-failed', error: String(e) });
      // Every waiting batch: those this fsync covered, and the later ones (their fsync could not
      // vouch for what this one lost). Committed, but not promised: their requests fail.
      for (const group of this.syncing.splice(0)) this.failHeld(group.held);
      this.syncFailed(e);
    });
  }

  /**
   * A batch that is not durable: its answers go out as INTERNAL (retryable: a client's outbox
   * sends the request again, its idempotency key keeps it stored once), its pushes are dropped
   * (pushed again from the queue if the envelope is there). An answer already sealed may say OK:
   * it is dropped and its connection closed, so the client re-sends on its next connection.
   */
  private failHeld(held: readonly Held[]): void {
    const failed: Held[] = [];
    const conns = new Set<Conn>();
    for (const item of held) {
      conns.add(item.conn);
      if (item.sealedEarly) {
        item.conn.ws.terminate();
        continue;
      }
      if (!item.entry || !item.bodies) {
        failed.push(item);
        continue;
      }
      giveBackReads(item.bodies);
      const bodies = (item.answers ?? []).map((reqId) => encodeBodyParts({ kind: 'error', reqId, code: 'INTERNAL', detail: NOT_DURABLE_DETAIL }));
      if (bodies.length > 0) failed.push({ conn: item.conn, entry: item.entry, bodies, bytes: 0 });
    }
    this.release(failed);
    // After the answers: the dropped pushes start again on the client's next connection.
    for (const conn of conns) if (conn.ws.readyState === WebSocket.OPEN) conn.ws.close(CLOSE_CODES.INTERNAL, 'INTERNAL');
  }

  /** Seals and writes committed frames, corked per socket. */
  private release(held: readonly Held[]): void {
    const corked = new Set<Socket>();
    for (const item of held) {
      const conn = item.conn;
      if (conn.ws.readyState !== WebSocket.OPEN) continue;
      this.sealHeld(item);
      const frame = item.frame;
      if (!frame) continue;
      if (conn.socket && !corked.has(conn.socket)) {
        conn.socket.cork();
        corked.add(conn.socket);
      }
      this.write(conn, frame);
    }
    for (const sock of corked) sock.uncork();
  }
}
