/**
 * A conversation's activity time and unread count, written in batches: each change is recorded
 * here and written (and announced) in one batch shortly after, or before anything reads
 * conversations. Messages themselves are durable at once; a crash in the batch window only
 * loses these counters' last increments.
 */
import { performance } from 'node:perf_hooks';
import type { ConversationSummary } from '../../shared/api.ts';
import { VaultLocked } from '../vault/errors.ts';
import type { Vault } from '../vault/index.ts';
import { conversationSummary } from './conversations.ts';
import type { Emit } from './events.ts';

const CONVERSATION_FLUSH_MS = 50;
/**
 * While changes keep coming (a catch-up), the batch waits for a quiet moment, but no longer than
 * this after its first change: each announce reads the conversation's summary back (several
 * sealed reads and its newest message). Per 50 ms per conversation that was about a twentieth of
 * a catch-up's CPU, per 250 ms still 4-7 % (about 4,600 summaries per 10,000 texts from 50
 * contacts); the list's order and counts lag at most this long, only while texts keep coming
 * (each text's own 'message' event is not delayed).
 */
const CONVERSATION_FLUSH_MAX_MS = 1_000;
/**
 * A flush's announcements run in slices of about this much main-thread time, the rest in later
 * turns: a catch-up from 50 contacts touches 50 conversations per flush, and reading every
 * summary in one callback held the window 86-150 ms at load.
 */
const ANNOUNCE_SLICE_MS = 8;

export class ConversationCounters {
  /** Activity / unread changes not yet written (one write per conversation per flush). */
  private readonly deltas = new Map<string, { at: number; unread: number }>();
  private readonly toAnnounce = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** When the pending batch's first change came. */
  private since = 0;
  /** The batch is flushed CONVERSATION_FLUSH_MS after this: its last change within the first CONVERSATION_FLUSH_MAX_MS. */
  private quietFrom = 0;
  private flushDeferred = false;
  /** Flushed conversations still to announce, in the order they were first touched (a Set: each once). */
  private readonly announcing = new Set<string>();
  private slice: NodeJS.Immediate | undefined;

  /**
   * `vault` is the unlocked vault (it throws when locked). `clock` reads milliseconds for the
   * announce slices (a test passes its own to make the slicing independent of machine speed);
   * `batchClock` for when a batch's first and last changes came (monotonic: a wall clock set back
   * during a burst would delay the flush by as much; a test passes one its fake timers move).
   */
  constructor(
    private readonly vault: () => Vault,
    private readonly emit: Emit,
    private readonly clock: () => number = () => performance.now(),
    private readonly batchClock: () => number = () => performance.now(),
  ) {}

  /** Records a conversation's new activity and unread change (see above). */
  touch(conversationId: string, at: number, unreadDelta: number): void {
    const d = this.deltas.get(conversationId) ?? { at: 0, unread: 0 };
    d.at = Math.max(d.at, at);
    d.unread += unreadDelta;
    this.deltas.set(conversationId, d);
    this.toAnnounce.add(conversationId);
    this.arm();
  }

  private arm(): void {
    const now = this.batchClock();
    if (!this.timer) {
      this.since = this.quietFrom = now;
      this.timer = setTimeout(() => this.due(), CONVERSATION_FLUSH_MS);
    } else if (now - this.since < CONVERSATION_FLUSH_MAX_MS - CONVERSATION_FLUSH_MS) this.quietFrom = now;
    // The timer is not re-armed per change (a catch-up touches once per text: a clearTimeout and
    // a setTimeout each); when it fires before the quiet moment it waits out the rest (due).
  }

  private due(): void {
    const wait = this.quietFrom + CONVERSATION_FLUSH_MS - this.batchClock();
    if (wait > 0) {
      this.timer = setTimeout(() => this.due(), wait);
      return;
    }
    this.timer = undefined;
    try {
      // Deferred by an import's merge: announce once the counts are written.
      if (!this.flush()) return;
    } catch {
      // Locked meanwhile: lock flushed what it could.
      return;
    }
    // A conversation still waiting from an earlier flush keeps its place: its summary is read
    // when its turn comes, so it shows these counts too.
    for (const id of this.toAnnounce) this.announcing.add(id);
    this.toAnnounce.clear();
    // The first slice in a turn of its own too: the flush's write (every touched conversation
    // read and rewritten, the open receive batch committed first) and a slice in one callback
    // were among a catch-up's stops over 50 ms.
    this.slice ??= setImmediate(() => this.announceSlice());
  }

  /**
   * Announces from `announcing` until the slice's time is used, then yields a turn. Summaries are
   * read as stored: changes recorded since the flush are announced after the next one.
   */
  private announceSlice(): void {
    this.slice = undefined;
    const start = this.clock();
    try {
      const vault = this.vault();
      // A receive batch still open (the mailbox went on after its yield) is committed first, as
      // the flush's write does for the first slice: a summary never shows a message that may yet
      // roll back. A failed commit is the mailbox's to report (syncCommitted); go on announcing.
      try {
        vault.commitBatch();
      } catch (err) {
        if (err instanceof VaultLocked) throw err;
      }
      for (const id of this.announcing) {
        this.announcing.delete(id);
        const s = conversationSummary(vault, id);
        if (s) this.emit('conversation', s);
        if (this.announcing.size > 0 && this.clock() - start >= ANNOUNCE_SLICE_MS) {
          this.slice = setImmediate(() => this.announceSlice());
          return;
        }
      }
    } catch {
      // Locked meanwhile: the list is the locked session's, nothing more to announce.
      this.announcing.clear();
    }
  }

  /** False when an import's merge holds the vault: the deltas are kept and flushed after it. */
  flush(): boolean {
    if (this.deltas.size === 0) return true;
    const vault = this.vault();
    if (vault.busy) {
      if (!this.flushDeferred) {
        this.flushDeferred = true;
        void vault.idle().then(() => {
          this.flushDeferred = false;
          this.arm();
        });
      }
      return false;
    }
    const deltas = [...this.deltas];
    this.deltas.clear();
    // One commit for the batch, without an fsync wait (a crash may lose the last increments
    // anyway, see above): the next full commit or the mailbox's sync makes it durable.
    vault.relaxedTransaction(() => {
      for (const [id, d] of deltas) {
        const conv = vault.getConversation(id);
        if (conv) vault.upsertConversation({ ...conv, lastActivity: Math.max(conv.lastActivity, d.at), unread: Math.max(0, conv.unread + d.unread) });
      }
    });
    return true;
  }

  /** The summary with every pending change written first. */
  summary(conversationId: string): ConversationSummary | undefined {
    const vault = this.vault();
    this.flush();
    return conversationSummary(vault, conversationId);
  }

  /** Emits the conversation's summary (a 'conversation' event), if it exists. */
  announce(conversationId: string): void {
    const s = this.summary(conversationId);
    if (s) this.emit('conversation', s);
  }

  /** First step of locking: no batch starts any more. */
  stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.slice) clearImmediate(this.slice);
    this.slice = undefined;
  }

  /** Later in locking: writes what is pending while the vault is still open, then forgets the rest. */
  drain(vaultOpen: boolean): void {
    try {
      if (vaultOpen) this.flush();
    } catch {
      // Counters only; the messages are stored.
    }
    this.deltas.clear();
    this.toAnnounce.clear();
    this.announcing.clear();
  }
}
