// The relay's outgoing frames and its group commit: a turn's answers and pushes are held until
// the turn's writes are committed (an answer must never precede durability), then sealed (bodies
// for one temp key together, one BATCH record when more than one) and written corked.
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
  bytes: number;
}

/** The store's batch: SQLite's one write transaction per turn (a cluster store's are no-ops). */
export interface BatchStore {
  beginBatch(): void;
  commitBatch(): void;
  rollbackBatch(): void;
}

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
  /** Bytes of write requests the open batch took. */
  private batchBytes = 0;
  /**
   * Since start: commits, the ones COMMIT_AT_BYTES released before their pacing interval, and the
   * bytes counted toward it (tests read them; the early release must follow only counted writes).
   */
  readonly counters = { commits: 0, commitsAtBytes: 0, bytesTaken: 0 };
  /** The commit waiting for the interval, if any. */
  private paced: NodeJS.Timeout | undefined;
  /** Large record frames (a blob.get's chunk) are sealed into reused buffers, back once written. */
  readonly frames = framePool();

  constructor(
    private readonly store: BatchStore,
    private readonly log: (event: Record<string, unknown>) => void,
    private readonly commitIntervalMs = COMMIT_INTERVAL_MS,
  ) {}

  /** Frames (or groups of bodies) held for the open batch's commit. */
  get holding(): number {
    return this.held?.length ?? 0;
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
      last.bytes += 4 + encoded.length;
      return;
    }
    const item: Held = { conn, entry, bodies: [encoded], bytes: 3 + 4 + encoded.length };
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
  }

  /** Seals a held group of bodies into its record (before its key may be forgotten). */
  private sealHeld(item: Held): void {
    const { entry, bodies } = item;
    if (!entry || !bodies) return;
    item.frame = entry.endpoint.seal(bodies.length === 1 ? (bodies[0] as BodyParts) : encodeBatchParts(bodies), {}, this.frames.take);
    giveBackReads(bodies);
    item.bodies = undefined;
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
    this.batchBytes = 0;
    this.store.beginBatch();
    setImmediate(() => this.commitDue());
  }

  /** The open batch runs a request that may write: its answers wait for the commit's pacing. */
  mayWrite(): void {
    if (this.held) this.batchWrites = true;
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

  /** Commits the turn's writes, then releases the answers and pushes they made possible. */
  commitBatch(): void {
    const held = this.held;
    if (!held) return;
    if (this.paced) clearTimeout(this.paced);
    this.paced = undefined;
    this.held = undefined;
    this.lastHeld.clear();
    this.lastCommitAt = performance.now();
    this.counters.commits++;
    try {
      if (this.batchFailed) throw new Error('a method failed inside the batch');
      this.store.commitBatch();
    } catch (e) {
      // Nothing was promised yet: drop the answers; clients re-send (idempotent) after reconnecting.
      this.log({ event: 'commit-failed', error: String(e) });
      this.batchFailed = false;
      this.store.rollbackBatch();
      for (const { conn } of held) conn.ws.terminate();
      return;
    }
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
