// Search over an unlocked vault. The index lives in RAM (index-db.ts); on disk there is only
// the sealed snapshot file `search-index` plus a small sealed record in the vault's kv store
// naming the snapshot the vault vouches for. On open:
//
//   1. read the record and the snapshot; use the snapshot only if it opens, has our format
//      and names the same generation and seq as the record (else: rebuild from the vault);
//   2. replay the vault's change feed from the snapshot's seq (the tail);
//   3. from then on `catchUp()` (called by the messenger after each write, and by every
//      search) applies new changes; a snapshot is written every SNAPSHOT_EVERY changes, at once
//      after a deletion, and on close (with a live mirror, in steps off the main thread).
//
// A crash at any point leaves either the old snapshot (its tail is replayed) or a snapshot that
// the record does not vouch for (rebuilt); never a snapshot that silently misses changes.
//
// Past 500 lines on purpose: open, the held writes of a deferred mirror, the stepped snapshots and
// close/discard share one state machine (which write is in which snapshot); split it only whole.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { StoredMessage, VaultHandle } from '../vault/api.ts';
import { SearchIndex, type IndexedMessage, type PurgeCursor } from './index-db.ts';
import { findMessages, indexedText, searchRequestSchema, type ExtraText, type SearchHit, type SearchRequest } from './find.ts';
import { IndexMirror } from './mirror.ts';
import type { MirrorBatch } from './mirror-batch.ts';
import type { RestoreTimings } from './snapshot-read.ts';
import { loadSnapshot, readGenerationImage, type RebuildReason, type SnapshotSource } from './snapshot-store.ts';
import { imageFromMirror, imageHere, writeImage, writeImageInSteps, type SnapshotImage } from './snapshot-write.ts';

export { SNAPSHOT_FILE, type RebuildReason } from './snapshot-store.ts';
export { searchRequestSchema, type SearchHit, type SearchRequest } from './find.ts';

/** What the search service needs from the vault. */
export type SearchSource = Pick<VaultHandle, 'changesSince' | 'getMessage' | 'countMessages'> & SnapshotSource;

const FEED_BATCH = 2000;
/** Messages read and indexed per step of a rebuild (a yield between steps; 2000 took ~0.5 s under load). */
const REBUILD_BATCH = 250;
/** Deletes removed from the index in the first step of catchUpInSteps; later steps are sized to PURGE_STEP_MS. */
const DELETE_STEP = 250;
/** Most deletes in one step, however fast the last one was. */
const MAX_DELETE_STEP = 2000;
/** Target length of one step of the purge of deleted terms (the loop-delay bar is 50 ms). */
const PURGE_STEP_MS = 10;
/**
 * A lock after at most this many changes since the snapshot, all of them new messages, writes
 * no snapshot: the next open replays them from the vault's feed (tens of ms) instead of this lock
 * re-reading and re-sealing the whole image (6-15 s at 1M messages, docs/search.md).
 */
const LOCK_TAIL_MAX = 500;

export interface SearchServiceOptions {
  /** Write a snapshot after this many indexed changes (default 20,000). */
  snapshotEvery?: number;
  /** Progress of a rebuild: messages indexed so far, and the vault's message count. */
  onRebuildProgress?: (done: number, total: number) => void;
  /**
   * Searchable text a message has beside its own text (an attachment's file name): the
   * messenger knows it, the vault's message row does not. Read when the message is indexed.
   */
  extraText?: (m: StoredMessage) => string | undefined;
  /** Filled in with where a restore from the snapshot spent its time (bench/history). */
  restoreTimings?: RestoreTimings;
}

/** How the index came to be at open: useful for the UI ("building search index") and tests. */
export type OpenedFrom = 'snapshot' | 'rebuild';

export class SearchService {
  readonly #source: SearchSource;
  readonly #snapshotEvery: number;
  readonly #extraText: ExtraText;
  #index: SearchIndex | undefined;
  #changesSinceSnapshot = 0;
  /**
   * A deletion was applied since the last snapshot: the sealed snapshot on disk still holds the
   * deleted text's terms, so the next catchUp writes a new one at once (not after snapshotEvery).
   */
  #deletedSinceSnapshot = false;
  /**
   * Deleted messages were removed from the index but their terms may still sit in FTS5 segments
   * and the prefix list: a purge (SearchIndex.purgeStep) must complete before any snapshot.
   */
  #purge: { cursor: PurgeCursor | undefined } | undefined;
  /** A catchUpInSteps is purging and snapshotting: sync catchUps leave both to it. */
  #stepping = false;
  /** The catchUpInSteps under way, if any (closeInSteps waits for it). */
  #steppingRun: Promise<number> | undefined;
  /** Aborts the file write of a stepped snapshot in flight (a sync snapshot, close or discard supersedes it). */
  #steppedWrite: AbortController | undefined;
  /** How the index was obtained when opened. */
  readonly openedFrom: OpenedFrom;
  /** Why a rebuild happened (undefined when the snapshot was used). */
  readonly rebuildReason: RebuildReason | undefined;
  #replayedAtOpen = 0;
  /** The index's copy in a worker thread that makes the stepped snapshots' images (mirror.ts). */
  #mirror: IndexMirror | undefined;
  /**
   * Before the mirror is started (an index restored from its snapshot starts none until a stepped
   * snapshot needs it: a second copy of a 1M index is 160 MB): the index's writes since the
   * snapshot file of generation `base`, which the mirror then starts from (#startMirrorLater).
   */
  #held: { base: string; batches: MirrorBatch[] } | undefined;

  private constructor(source: SearchSource, index: SearchIndex, openedFrom: OpenedFrom, reason: RebuildReason | undefined, snapshotEvery: number, extraText: ExtraText) {
    this.#source = source;
    this.#extraText = extraText;
    this.#index = index;
    this.openedFrom = openedFrom;
    this.rebuildReason = reason;
    this.#snapshotEvery = snapshotEvery;
  }

  /** Changes replayed from the feed at open (the tail after the snapshot, or every message on rebuild). */
  get replayedAtOpen(): number {
    return this.#replayedAtOpen;
  }

  /** Opens the index for an unlocked vault: snapshot + tail, or a full rebuild when the snapshot cannot be trusted. */
  static async open(source: SearchSource, options: SearchServiceOptions = {}): Promise<SearchService> {
    const snapshotEvery = Math.max(1, options.snapshotEvery ?? 20_000);
    const timings = options.restoreTimings;
    const loaded = await loadSnapshot(source, timings);
    if ('index' in loaded) {
      const zeroStart = performance.now();
      loaded.image.fill(0); // the mirror, when one is needed, reads the file again
      if (timings) {
        const zeroMs = performance.now() - zeroStart;
        timings.zeroImageMs += zeroMs;
        timings.longestBlockMs = Math.max(timings.longestBlockMs, zeroMs);
      }
      const service = new SearchService(source, loaded.index, 'snapshot', undefined, snapshotEvery, options.extraText);
      try {
        service.#holdFrom(loaded.index.getMeta('generation') as string);
        // The tail may hold a large deletion (one interrupted by a crash): in steps, like catchUpInSteps.
        const tailStart = performance.now();
        service.#replayedAtOpen = await service.catchUpInSteps();
        if (timings) timings.tailMs += performance.now() - tailStart;
        return service;
      } catch (err) {
        // Nobody gets this service: what holds the index's plaintext goes now, not at process exit.
        service.discard();
        throw err;
      }
    }
    const index = SearchIndex.create();
    const service = new SearchService(source, index, 'rebuild', loaded, snapshotEvery, options.extraText);
    try {
      service.#startMirror(index.serialize());
      const total = source.countMessages();
      let done = 0;
      // Batches yield to the event loop so a rebuild of a big history does not freeze the app.
      for (;;) {
        const batch = source.changesSince(index.seq, REBUILD_BATCH);
        service.#applyBatch(batch.upserts, batch.deletes, batch.maxSeq);
        done += batch.upserts.length;
        options.onRebuildProgress?.(done, total);
        if (!batch.more) break;
        await yieldToEventLoop();
      }
      service.#replayedAtOpen = done;
      // Merged into one segment and sealed in steps too: at a million messages either would block for seconds.
      await service.#mergeInSteps();
      await service.#snapshotInSteps();
      return service;
    } catch (err) {
      service.discard(); // the mirror's worker holds the partial index too
      throw err;
    }
  }

  /** Starts the mirror from the image the index was opened with (the mirror takes and zeroes the bytes). */
  #startMirror(image: Uint8Array): void {
    try {
      const mirror = IndexMirror.start(image);
      this.#mirror = mirror;
      this.#open().setMirror((batch) => mirror.apply(batch));
    } catch {
      // No worker: stepped snapshots serialize on this thread, as the sync ones do.
    } finally {
      if (image.byteLength > 0) image.fill(0); // empty once transferred to the worker (detached)
    }
  }

  /** From now on the index's writes are held for a mirror that will start from generation `base`'s file. */
  #holdFrom(base: string): void {
    const held = { base, batches: [] as MirrorBatch[] };
    this.#held = held;
    this.#open().setMirror((batch) => held.batches.push(batch));
  }

  /**
   * Starts the mirror from the snapshot file the held writes follow, then hands it those writes
   * (and the ones made while the file was read) in order. When the file is not that generation's
   * any more (a write of it failed or was superseded), no mirror: images are made on this thread.
   */
  async #startMirrorLater(): Promise<void> {
    const held = this.#held;
    if (!held) return;
    let image: Uint8Array | undefined;
    try {
      image = await readGenerationImage(this.#source, held.base);
    } finally {
      if (this.#held === held && !image) this.#stopHolding();
    }
    if (this.#held !== held || !this.#index) {
      image?.fill(0); // closed, or superseded meanwhile
      return;
    }
    if (!image) return;
    this.#held = undefined;
    this.#startMirror(image);
    const mirror = this.#mirror;
    if (!mirror) {
      this.#index.setMirror(undefined);
      return;
    }
    // Queued to the worker behind its start image, before any write made after this line.
    for (const batch of held.batches) mirror.apply(batch);
  }

  #stopHolding(): void {
    if (this.#held) this.#index?.setMirror(undefined);
    this.#dropHeld();
  }

  /** The held writes carry indexed text: dropped, not left to a #startMirrorLater that still holds them. */
  #dropHeld(): void {
    if (this.#held) this.#held.batches.length = 0;
    this.#held = undefined;
  }

  #stopMirror(): void {
    this.#dropHeld();
    this.#index?.setMirror(undefined);
    this.#mirror?.close();
    this.#mirror = undefined;
  }

  #open(): SearchIndex {
    if (!this.#index) throw new Error('The search index is closed.');
    return this.#index;
  }

  #toIndexed(m: StoredMessage): IndexedMessage {
    return { id: m.id, conversationId: m.conversationId, sentAt: m.sentAt, text: indexedText(m, this.#extraText) };
  }

  #applyBatch(upserts: readonly StoredMessage[], deletes: readonly string[], maxSeq: number): void {
    const index = this.#open();
    // Deleted docs leave the index at once (no search finds them); their terms leave with the purge.
    if (index.applyDeferred(upserts.map((m) => this.#toIndexed(m)), deletes, maxSeq) > 0) this.#purge = { cursor: undefined };
    this.#changesSinceSnapshot += upserts.length + deletes.length;
    if (deletes.length > 0) this.#deletedSinceSnapshot = true;
  }

  /** Runs the pending purge to its end in one go (sync paths: catchUp, snapshot, close). */
  #purgeNow(): void {
    if (!this.#purge) return;
    this.#open().purgeAll();
    this.#purge = undefined;
  }

  /** Applies the next batch of the vault's change feed; `more` when another batch waits. */
  #applyNext(): { applied: number; more: boolean } {
    const batch = this.#source.changesSince(this.#open().seq, FEED_BATCH);
    if (batch.upserts.length === 0 && batch.deletes.length === 0) return { applied: 0, more: false };
    this.#applyBatch(batch.upserts, batch.deletes, batch.maxSeq);
    return { applied: batch.upserts.length + batch.deletes.length, more: batch.more };
  }

  /** Applies every change the vault has after the index's seq. */
  #drainFeed(): number {
    let applied = 0;
    for (let step = this.#applyNext(); ; step = this.#applyNext()) {
      applied += step.applied;
      if (!step.more) return applied;
    }
  }

  /**
   * Applies the vault's changes since the last call. Call after every write to the vault. Returns
   * how many changes it applied. A snapshot due is written here only without a live mirror; with
   * one it is left to a catchUpInSteps started here (the mirror makes its image), so this call
   * never purges ('optimize': hundreds of ms at a million messages) nor serializes the index.
   */
  catchUp(): number {
    const applied = this.#drainFeed();
    this.#snapshotIfDue();
    return applied;
  }

  /**
   * One bounded slice of catchUp, for a caller that yields between slices (the messenger's
   * catch-up after messages arrive): at most `max` changes of the feed, applied in one index
   * transaction and handed to the mirror as one message. `more` when changes remain. When none
   * remain, a snapshot due is started as catchUp starts it.
   */
  catchUpSlice(max: number): { applied: number; more: boolean } {
    const limit = Math.max(1, Math.min(FEED_BATCH, Math.floor(max)));
    const batch = this.#source.changesSince(this.#open().seq, limit);
    const applied = batch.upserts.length + batch.deletes.length;
    if (applied > 0) this.#applyBatch(batch.upserts, batch.deletes, batch.maxSeq);
    if (applied > 0 && batch.more) return { applied, more: true };
    this.#snapshotIfDue();
    return { applied, more: false };
  }

  /** After a catch-up: a snapshot due is written (in steps by the mirror when it is alive). */
  #snapshotIfDue(): void {
    // A catchUpInSteps under way purges and snapshots when it gets there, without blocking.
    if (!this.#stepping && this.#snapshotDue()) {
      // A failed stepped snapshot stays due (the next catchUp retries) and stops a failed mirror.
      if (this.#mirror?.alive || this.#held) this.catchUpInSteps().catch(() => undefined);
      else this.snapshot();
    }
  }

  /**
   * catchUp that never blocks the event loop for long, after a bulk write (a backup import) or a
   * large deletion: the feed in batches (deletes DELETE_STEP at a time), then the purge of
   * deleted terms in bounded steps, then the snapshot sealed chunk by chunk; yielding between
   * all of them. `onProgress` hears the phase and how far it is.
   */
  catchUpInSteps(onProgress?: (phase: 'index' | 'purge' | 'snapshot', done: number) => void): Promise<number> {
    if (this.#stepping) {
      // Another one is running: apply what is new now, then once it is done snapshot if still due
      // (what it read before is its; a deletion applied after its image is due again).
      const now = this.#drainFeed();
      const running = this.#steppingRun ?? Promise.resolve(0);
      return running.catch(() => 0).then(() => (this.#index ? this.catchUpInSteps(onProgress).then((n) => now + n) : now));
    }
    const run = this.#catchUpInSteps(onProgress);
    this.#steppingRun = run;
    return run;
  }

  async #catchUpInSteps(onProgress?: (phase: 'index' | 'purge' | 'snapshot', done: number) => void): Promise<number> {
    this.#stepping = true;
    try {
      let applied = 0;
      let per = DELETE_STEP;
      for (;;) {
        const batch = this.#source.changesSince(this.#open().seq, FEED_BATCH);
        if (batch.upserts.length === 0 && batch.deletes.length === 0) break;
        // Deletes in steps sized to PURGE_STEP_MS (their cost grows with the index), the rest with
        // the upserts and seq (deletes first, as apply does).
        let i = 0;
        while (batch.deletes.length - i > per) {
          const t0 = performance.now();
          if (this.#open().removeDeferred(batch.deletes.slice(i, i + per)) > 0) this.#purge = { cursor: undefined };
          i += per;
          per = Math.max(1, Math.min(MAX_DELETE_STEP, per * 2, Math.round((per * PURGE_STEP_MS) / Math.max(0.1, performance.now() - t0))));
          await yieldToEventLoop();
        }
        const lastDeletes = batch.deletes.slice(i);
        this.#applyBatch(batch.upserts, lastDeletes, batch.maxSeq);
        if (batch.deletes.length > lastDeletes.length) this.#deletedSinceSnapshot = true;
        this.#changesSinceSnapshot += batch.deletes.length - lastDeletes.length;
        applied += batch.upserts.length + batch.deletes.length;
        onProgress?.('index', applied);
        await yieldToEventLoop();
        if (!batch.more) break;
      }
      // Steps sized towards PURGE_STEP_MS. With a live mirror the purge is its (it purges before
      // every image): FTS5 merges a term's whole doclist at once, 100+ ms here at a million for a
      // common word. The deleted terms then stay in this index's RAM only (their documents are
      // gone) until a sync snapshot purges it (#purgeNow) or it is closed; never in a file.
      let steps = 0;
      let pages = 64;
      let words = 2000;
      while (this.#purge && !this.#mirror?.alive) {
        const phase = this.#purge.cursor?.phase ?? 'merge';
        const t0 = performance.now();
        const next = this.#open().purgeStep(this.#purge.cursor, pages, words);
        const scale = PURGE_STEP_MS / Math.max(0.1, performance.now() - t0);
        if (phase === 'merge') pages = Math.max(16, Math.min(pages * 2, Math.round(pages * scale)));
        else words = Math.max(100, Math.min(words * 2, Math.round(words * scale)));
        if (next && this.#purge) this.#purge.cursor = next;
        else this.#purge = undefined;
        onProgress?.('purge', ++steps);
        await yieldToEventLoop();
      }
      if (this.#snapshotDue()) {
        onProgress?.('snapshot', 0);
        await this.#snapshotInSteps();
      }
      return applied;
    } finally {
      this.#stepping = false;
      this.#steppingRun = undefined;
    }
  }

  /**
   * close() for the app's lock: with a live mirror, the last snapshot is made in steps first (its
   * image by the mirror, sealed chunk by chunk), so locking never serializes or purges the index
   * on this thread; then close() finds nothing left to write. Without a mirror, as close().
   */
  async closeInSteps(): Promise<void> {
    if (!this.#index) return;
    try {
      if (this.#mirror?.alive || this.#held) {
        await this.#steppingRun?.catch(() => undefined);
        // The feed in steps (a deletion not caught up yet), snapshotting if due; then in any case.
        await this.catchUpInSteps();
        if (this.#leavesTailToNextOpen()) {
          this.discard();
          return;
        }
        if (this.#index && (this.#mirror?.alive || this.#held) && this.#changesSinceSnapshot > 0) {
          this.#changesSinceSnapshot = Math.max(this.#changesSinceSnapshot, this.#snapshotEvery);
          await this.catchUpInSteps();
        }
      }
    } catch {
      // close() below writes it the synchronous way
    }
    this.close();
  }

  /**
   * For a lock: true when the index is the restored one with writes held (no snapshot since the
   * open, no mirror) and every change since the snapshot is a new message, at most LOCK_TAIL_MAX.
   * The file then lacks only those messages' words, which the vault holds sealed anyway. Never
   * after a deletion or a replaced message: the older file would keep their words longer.
   */
  #leavesTailToNextOpen(): boolean {
    if (!this.#index || !this.#held || this.#mirror?.alive || this.#steppedWrite || this.#stepping) return false;
    this.#drainFeed();
    return !this.#deletedSinceSnapshot && this.#index.removals === 0 && this.#changesSinceSnapshot <= LOCK_TAIL_MAX;
  }

  #snapshotDue(): boolean {
    return this.#deletedSinceSnapshot || this.#changesSinceSnapshot >= this.#snapshotEvery;
  }

  /** Vault seq the index reflects. */
  get seq(): number {
    return this.#open().seq;
  }

  /** Messages in the index. */
  get size(): number {
    return this.#open().size;
  }

  search(request: SearchRequest): SearchHit[] {
    const req = searchRequestSchema.parse(request);
    // Current before every search (a deleted message never shows), but no snapshot here:
    // writing one would add its cost to this query; the messenger's catchUp() calls do that.
    this.#drainFeed();
    return findMessages(this.#open(), this.#source, req, this.#extraText);
  }

  /**
   * Seals the index into the profile. Order: vouch for the new generation as pending, write
   * the file atomically, then make it current. A crash between the steps leaves a state that
   * open() either accepts (file and record agree) or rebuilds.
   */
  snapshot(): void {
    this.#steppedWrite?.abort();
    // The vault's pending changes first: a message deleted since the last catchUp (a lock right
    // after a delete, its scheduled catch-up cancelled) must not be sealed into the file.
    this.#drainFeed();
    this.#purgeNow();
    const image = this.#imageHere();
    try {
      writeImage(this.#source, image);
    } catch (err) {
      this.#deletedSinceSnapshot = true; // due again
      throw err;
    }
  }

  /** FTS5 segments merged into one ('optimize' in bounded steps: purgeStep's merge phase). */
  async #mergeInSteps(): Promise<void> {
    const index = this.#open();
    let pages = 64;
    let cursor: PurgeCursor | undefined;
    for (;;) {
      const t0 = performance.now();
      cursor = index.purgeStep(cursor, pages);
      if (cursor?.phase !== 'merge') return;
      pages = Math.max(16, Math.min(pages * 2, Math.round((pages * PURGE_STEP_MS) / Math.max(0.1, performance.now() - t0))));
      await yieldToEventLoop();
    }
  }

  /**
   * snapshot with the image made by the mirror in its worker (purged there) and the file sealed
   * and written chunk by chunk between event-loop turns; without a mirror, the image is made here.
   */
  async #snapshotInSteps(): Promise<void> {
    const abort = new AbortController();
    this.#steppedWrite?.abort();
    this.#steppedWrite = abort;
    try {
      let image: SnapshotImage;
      if (!this.#mirror?.alive && this.#held) await this.#startMirrorLater();
      abort.signal.throwIfAborted();
      if (this.#mirror?.alive) {
        // Changes from the image's stamp on belong to the next snapshot.
        image = await imageFromMirror(this.#source, this.#open(), this.#mirror, abort.signal, () => this.#snapshotTaken());
      } else {
        this.#purgeNow(); // nothing left unless a delete came in after the purge loop
        image = this.#imageHere();
      }
      await writeImageInSteps(this.#source, image, abort.signal);
    } catch (err) {
      // Superseded (a newer snapshot covers it) or failed: due again either way.
      this.#deletedSinceSnapshot = true;
      if (!abort.signal.aborted) throw err;
    } finally {
      if (this.#steppedWrite === abort) this.#steppedWrite = undefined;
    }
  }

  /** The image made on this thread and vouched for as pending (the index purged by the caller). */
  #imageHere(): SnapshotImage {
    const image = imageHere(this.#source, this.#open());
    this.#snapshotTaken();
    // Writes from here on follow this image; if its file never lands, the mirror cannot start from it (#startMirrorLater).
    if (this.#held) this.#holdFrom(image.generation);
    return image;
  }

  /** Changes from here on belong to the next snapshot. */
  #snapshotTaken(): void {
    this.#changesSinceSnapshot = 0;
    this.#deletedSinceSnapshot = false;
  }

  /** Writes a snapshot if anything changed since the last one, then frees the index. Call before locking the vault. */
  close(): void {
    if (!this.#index) return;
    try {
      // Pending vault changes count as changes (a deletion not caught up yet must reach the file).
      this.#drainFeed();
      // A stepped snapshot still being written is superseded by this one (it aborts it).
      if (this.#changesSinceSnapshot > 0 || this.#deletedSinceSnapshot || this.#steppedWrite) this.snapshot();
    } finally {
      this.#stopMirror();
      this.#index.close();
      this.#index = undefined;
    }
  }

  /** Frees the index without writing a snapshot (the vault is already locked, or the app is crashing). */
  discard(): void {
    this.#steppedWrite?.abort();
    this.#stopMirror();
    this.#index?.close();
    this.#index = undefined;
  }
}
