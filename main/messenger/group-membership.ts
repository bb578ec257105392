// Received membership changes and chains (groups.ts). A change is written to a sealed inbox
// inside the 1:1 receive's transaction and applied just after it committed (the author's
// identity key is then the trusted one to verify with); anything refused is dropped unseen, and
// a change for a group not held yet (it came before the creation or our add) waits for it. A
// joiner checks the whole signed chain from the creation: its structure first, then signatures
// in order, fetching the key of an author it never talked to only when that author's signature
// is next (from the relay, as for a first 1:1 message; bounded, docs/protocol.md §9b).
import { randomBytes } from 'node:crypto';
import type { GroupChangeContent, SenderKeyContent } from '../e2e/index.ts';
import { newDistributionId } from '../e2e/sender-keys.ts';
import type { Vault } from '../vault/index.ts';
import { sendChange } from './group-delivery.ts';
import { changeHash, GroupChangeRefused, GroupLog, parseSignedChange, parseSnapshot, signingBytes, type SignedChange } from './group-state.ts';
import { ensureSession, groupInfo, INBOX, json, loadGroup, membershipLine, saveGroup, signChange, syncLines, utf8, verifier, type GroupDeps, type GroupRecord } from './group-store.ts';

/** A change whose parent has not arrived is kept this long, at most this many per group (then dropped unseen). */
export const WAIT_MS = 7 * 86_400_000;
const MAX_WAITING_PER_GROUP = 64;
/**
 * Changes kept for groups we do not hold yet (another member's change can come before the
 * creation or our add: the relay orders per sender only), per sender, the newest: anyone with a
 * session could otherwise make us keep changes under made-up group ids without end.
 */
export const MAX_EARLY_PER_SENDER = 32;
/**
 * The same changes from all senders together: the bound per sender alone lets many senders
 * (accounts are free to make) grow the inbox without end, and every drain (each group call runs
 * one) reads and parses each of them again, about 0.1 ms each. Past it the oldest change of the
 * sender keeping the most goes first, so a flood pushes out its own senders' changes before a
 * sender's one or two (a change pushed out is lost, as all were before such changes waited).
 */
export const MAX_EARLY = 256;
/** Chains kept for groups we do not hold yet, per sender. */
export const MAX_CHAINS_WAITING_PER_SENDER = 8;
/**
 * How long such a chain waits for its group: WAIT_MS, as an early change. A member hands its
 * chain over once it learns of our add, when the add is sent to us too, so the two arrive close
 * together (a catch-up brings both); a group that has not come in a week will not. Without an
 * age, chains for groups that never come (made-up ids, or a group we were not added to after
 * all) kept their sender's slots for ever, and that sender's genuine early chain was refused;
 * the sender key record behind each is forgotten with it.
 */
export const CHAIN_WAIT_MS = WAIT_MS;
/**
 * A time kept in the inbox (a key's time part, a chain's) more than this ahead of the clock was
 * taken while the clock was set ahead: it is moved to now, as if it had arrived now, so that it
 * neither sorts after every later change nor escapes its week until the clock catches up.
 */
const CLOCK_AHEAD_MS = 86_400_000;
/** How often a drain looks at the waiting chains' ages (each one is a sealed read). */
const CHAIN_SWEEP_EVERY_MS = 3_600_000;
/** Authors a joiner may fetch keys for, per chain and per hour in all. */
const MAX_JOIN_FETCHES = 8;
const MAX_FETCHES_PER_HOUR = 32;

/** A waiting chain's value: its distribution id and when it came (a value of older code, the id alone, has no time). */
function parseWaitingChain(raw: Uint8Array): { dist: string; at: number | undefined } {
  const text = Buffer.from(raw).toString('utf8');
  if (!text.startsWith('{')) return { dist: text, at: undefined };
  const v = JSON.parse(text) as { dist?: unknown; at?: unknown };
  if (typeof v.dist !== 'string' || typeof v.at !== 'number' || !Number.isSafeInteger(v.at)) throw new SyntaxError('not a waiting chain');
  return { dist: v.dist, at: v.at };
}

/** A change's inbox key: the time part (15 digits), then a random part so keys of one millisecond differ. */
function inboxKey(at: number): string {
  return `${String(at).padStart(15, '0')}-${randomBytes(6).toString('hex')}`;
}

/** The time part of a change's inbox key (undefined for a waiting chain's key). */
function inboxKeyTime(key: string): number | undefined {
  return /^\d{15}-/.test(key) ? Number(key.slice(0, 15)) : undefined;
}

interface InboxEntry {
  from: string;
  change: unknown;
  state?: unknown;
  chain?: unknown;
}

export class GroupMembership {
  private drainScheduled = false;
  /**
   * The time part of the last inbox key: increasing, so keys sort in arrival order. A backlog is
   * received back to back (net/mailbox.ts), often several in one millisecond, and the random
   * suffix alone would then order them: a change drained before its group's creation is dropped.
   * Starts above every key the inbox holds (read once per unlock, startKeys), not at the
   * clock: after a clock set back across a restart, new keys would sort before the older ones
   * and the trims, which drop the oldest keys first, would drop the newest changes.
   */
  private lastKeyAt = 0;
  /** The unlocked vault lastKeyAt was started from (a restart or another unlock starts it again). */
  private keysOf: WeakRef<Vault> | undefined;
  /** Authors whose keys a join fetches or fetched (once per run: a failed fetch refuses the join). */
  private readonly fetched = new Map<string, 'pending' | 'done'>();
  /** When join fetches started, for the hourly bound. */
  private fetchTimes: number[] = [];
  /** When a drain last looked at the waiting chains' ages (expireChains). */
  private chainsSweptAt = 0;

  constructor(private readonly d: GroupDeps) {}

  /** Inside a 1:1 receive (the transaction is open): keeps the change or the sender's chain. */
  storeInbound(from: string, content: GroupChangeContent | SenderKeyContent): Promise<{ kind: 'none' }> | { kind: 'none' } {
    const vault = this.d.vault();
    if (content.kind === 'group-change') {
      const key = this.nextInboxKey(vault);
      const entry: InboxEntry = { from, change: content.change, state: content.state, chain: content.chain };
      vault.kvSet(INBOX, key, utf8(JSON.stringify(entry)));
      this.scheduleDrain();
      return { kind: 'none' };
    }
    // A chain for a group we do not hold waits for it, a few per sender: anyone with a session
    // could otherwise make us keep chains under made-up group ids without end.
    if (!loadGroup(this.d, content.groupId)) {
      let waiting = vault.kvKeys(INBOX).filter((k) => k.startsWith('chain-') && k.endsWith(`-${from}`));
      // Full: the sender's chains past their age give their places first.
      if (waiting.length >= MAX_CHAINS_WAITING_PER_SENDER) waiting = this.expireChains(vault, waiting);
      if (waiting.length >= MAX_CHAINS_WAITING_PER_SENDER && !waiting.includes(`chain-${content.groupId}-${from}`)) return { kind: 'none' };
    }
    return this.d
      .e2e()
      .groups.processDistributionInReceive(from, Buffer.from(content.distribution, 'base64'))
      .then((dist) => {
        const record = loadGroup(this.d, content.groupId);
        if (record) {
          record.chains[from] = dist;
          saveGroup(this.d, content.groupId, record);
        } else {
          // The group itself may still be in the inbox: remember the chain until it is applied (CHAIN_WAIT_MS at most).
          vault.kvSet(INBOX, `chain-${content.groupId}-${from}`, utf8(JSON.stringify({ dist, at: Date.now() })));
        }
        return { kind: 'none' as const };
      });
  }

  /**
   * A new inbox key: its time part the clock's, or one past the last key's when that is later
   * (a clock set back keeps arrival order; such keys then count as young until the clock
   * catches up, bounded by the counts). `${15 digits}-${12 hex}`, as before.
   */
  private nextInboxKey(vault: Vault): string {
    this.startKeys(vault);
    this.lastKeyAt = Math.max(Date.now(), this.lastKeyAt + 1);
    return inboxKey(this.lastKeyAt);
  }

  /**
   * Once per unlocked vault (before its first change is stored or drained): lastKeyAt from the
   * keys the inbox holds. Keys more than CLOCK_AHEAD_MS ahead of the clock are moved, in their
   * order, to just after the others (and not before now).
   */
  private startKeys(vault: Vault): void {
    if (this.keysOf?.deref() === vault) return;
    const now = Date.now();
    let last = 0;
    const ahead: string[] = [];
    for (const k of vault.kvKeys(INBOX)) {
      const at = inboxKeyTime(k);
      if (at === undefined) continue;
      if (at - now > CLOCK_AHEAD_MS) ahead.push(k);
      else if (at > last) last = at;
    }
    if (ahead.length > 0) {
      // One transaction: a crash between the removal and the new key loses no change.
      vault.transaction(() => {
        for (const k of ahead.sort()) {
          last = Math.max(now, last + 1);
          const raw = vault.kvGet(INBOX, k);
          vault.kvDelete(INBOX, k);
          if (raw) vault.kvSet(INBOX, inboxKey(last), raw);
        }
      });
    }
    this.lastKeyAt = last;
    this.keysOf = new WeakRef(vault);
  }

  scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      void this.d.activity(async () => this.drain()).catch(() => undefined);
    });
  }

  /** Applies received changes in arrival order (each checked against the log); the refused leave no trace. */
  drain(): void {
    let vault: Vault;
    try {
      vault = this.d.vault();
    } catch {
      return;
    }
    this.startKeys(vault);
    const all = vault.kvKeys(INBOX);
    const now = Date.now();
    if (!(now - this.chainsSweptAt >= 0 && now - this.chainsSweptAt < CHAIN_SWEEP_EVERY_MS)) {
      this.chainsSweptAt = now;
      this.expireChains(vault, all.filter((k) => k.startsWith('chain-')));
    }
    const keys = all.filter((k) => !k.startsWith('chain-')).sort();
    // Groups whose join waits for authors' keys: their later changes wait with it.
    const joining = new Set<string>();
    // Changes kept for a parent that has not arrived (the relay orders per sender only), per group.
    const waiting = new Map<string, number>();
    // Changes kept for a group we do not hold yet: per sender, their keys and groups in arrival order.
    const early = new Map<string, { key: string; groupId: string }[]>();
    let applied = false;
    for (const key of keys) {
      const raw = vault.kvGet(INBOX, key);
      if (!raw) continue;
      const young = now - Number(key.slice(0, 15)) < WAIT_MS;
      try {
        const entry = json(raw) as InboxEntry;
        const change = parseSignedChange(entry.change);
        const groupId = change.body.groupId;
        if (young && !joining.has(groupId) && this.beforeItsGroup(entry, change)) {
          // Left in place, not rewritten: it is read again at every drain until its group comes.
          const mine = early.get(entry.from) ?? [];
          mine.push({ key, groupId });
          early.set(entry.from, mine);
          continue;
        }
        vault.kvDelete(INBOX, key);
        const outcome = joining.has(groupId) ? 'keep' : this.apply(entry, change);
        if (outcome === 'keep') {
          joining.add(groupId);
          if (young) vault.kvSet(INBOX, key, raw);
        } else if (outcome === 'wait') {
          const n = (waiting.get(groupId) ?? 0) + 1;
          waiting.set(groupId, n);
          if (n <= MAX_WAITING_PER_GROUP && young) vault.kvSet(INBOX, key, raw);
        } else if (outcome === 'applied') applied = true;
      } catch (e) {
        vault.kvDelete(INBOX, key);
        if (!(e instanceof GroupChangeRefused) && !(e instanceof SyntaxError)) throw e;
      }
    }
    // A group joined now may be the one kept changes were waiting for.
    const held = new Map<string, boolean>();
    const isHeld = (groupId: string): boolean => {
      if (!held.has(groupId)) held.set(groupId, loadGroup(this.d, groupId) !== undefined);
      return held.get(groupId)!;
    };
    let joined = false;
    // Per sender, the keys that still wait, oldest first (keys sort in arrival order).
    const senders: string[][] = [];
    let total = 0;
    for (const kept of early.values()) {
      // The bounds count only what still waits; the oldest go first.
      const still = kept.filter((k) => !isHeld(k.groupId));
      joined ||= still.length < kept.length;
      const over = Math.max(0, still.length - MAX_EARLY_PER_SENDER);
      for (const k of still.slice(0, over)) vault.kvDelete(INBOX, k.key);
      senders.push(still.slice(over).map((k) => k.key));
      total += still.length - over;
    }
    // All senders together: the sender keeping the most (of those, the one with the oldest) loses its oldest.
    for (; total > MAX_EARLY; total--) {
      let most = senders[0]!;
      for (const keys of senders) if (keys.length > most.length || (keys.length === most.length && keys[0]! < most[0]!)) most = keys;
      vault.kvDelete(INBOX, most.shift()!);
    }
    // A change applied now may be the parent one kept above was waiting for.
    if (applied && (waiting.size > 0 || joined)) this.scheduleDrain();
  }

  /**
   * Drops the waiting chains among `keys` that came CHAIN_WAIT_MS ago or more, with their sender
   * key records; returns the others. A value of older code (no time), or one whose time is more
   * than CLOCK_AHEAD_MS ahead of the clock, is given the time now; one that does not parse is dropped.
   */
  private expireChains(vault: Vault, keys: readonly string[]): string[] {
    const now = Date.now();
    return keys.filter((key) => {
      const raw = vault.kvGet(INBOX, key);
      if (!raw) return false;
      let chain: { dist: string; at: number | undefined };
      try {
        chain = parseWaitingChain(raw);
      } catch {
        vault.kvDelete(INBOX, key);
        return false;
      }
      // No time (older code), or one taken while the clock was far ahead: it waits from now.
      if (chain.at === undefined || chain.at - now > CLOCK_AHEAD_MS) {
        vault.kvSet(INBOX, key, utf8(JSON.stringify({ dist: chain.dist, at: now })));
        return true;
      }
      if (now - chain.at < CHAIN_WAIT_MS) return true;
      vault.kvDelete(INBOX, key);
      // After the receive that may be running (it holds the e2e queue), as afterApplied's.
      // Handles hold no '-' (HANDLE_RE): the sender is what follows the last one.
      const from = key.slice(key.lastIndexOf('-') + 1);
      try {
        void this.d.e2e().groups.forget(from, chain.dist).catch(() => undefined);
      } catch {
        // No e2e now (locked meanwhile): the record stays, as one of a member who never wrote.
      }
      return false;
    });
  }

  /** A change from its author for a group we do not hold, that starts none (not a creation, no chain or state of a joiner): it waits for its group. */
  private beforeItsGroup(entry: InboxEntry, change: SignedChange): boolean {
    const { author, op, groupId } = change.body;
    return author === entry.from && op.type !== 'create' && entry.chain === undefined && entry.state === undefined && !loadGroup(this.d, groupId);
  }

  /** Each member's chain after a change: a removal or leave starts a new chain of ours; removed members' chains are forgotten. */
  afterApplied(record: GroupRecord, before: readonly string[], after: readonly string[]): void {
    const gone = before.filter((h) => !after.includes(h));
    if (gone.length === 0) return;
    record.dist = newDistributionId();
    record.holders = [];
    for (const h of gone) {
      const dist = record.chains[h];
      delete record.chains[h];
      if (dist) void this.d.e2e().groups.forget(h, dist);
    }
  }

  private apply(entry: InboxEntry, change: SignedChange): 'keep' | 'wait' | 'applied' | undefined {
    // Changes come from their authors, over the author's own session.
    if (change.body.author !== entry.from) return undefined;
    const groupId = change.body.groupId;
    const record = loadGroup(this.d, groupId);
    if (!record) return this.join(entry, change);
    const log = GroupLog.restore(record.log);
    const before = log.state.members;
    const chainBefore = log.chainChanges();
    const offered = log.offer(change, verifier(this.d)).result;
    if (offered === 'waiting') {
      // An add of us with the chain from the creation that our log cannot place: we were
      // removed and are added again, or hold a made-up state someone sent under this id. The
      // chain, checked from the creation that binds the id, replaces what we hold.
      if (change.body.op.type === 'add' && change.body.op.handle === this.d.self() && entry.chain !== undefined) return this.replace(entry, change, record, log);
      return 'wait';
    }
    if (offered !== 'applied') return undefined;
    this.reissueLost(record, log);
    record.log = log.data();
    this.afterApplied(record, before, log.state.members);
    saveGroup(this.d, groupId, record);
    syncLines(this.d, chainBefore, log);
    this.d.changed?.(groupInfo(this.d, record));
    return 'applied';
  }

  /** A group we do not hold yet: its creation, or an add of us with the chain (or state) it starts from. */
  private join(entry: InboxEntry, change: SignedChange): 'keep' | 'applied' | undefined {
    const log = this.startLog(entry, change);
    if (!(log instanceof GroupLog)) return log;
    if (!log.state.members.includes(this.d.self())) return undefined;
    const groupId = change.body.groupId;
    const fresh: GroupRecord = { log: log.data(), dist: newDistributionId(), holders: [], chains: {} };
    this.adoptChains(groupId, fresh, log.state.members);
    saveGroup(this.d, groupId, fresh);
    membershipLine(this.d, change);
    this.d.changed?.(groupInfo(this.d, fresh));
    return 'applied';
  }

  /** The genuine chain in place of what we held (our changes that still apply to it are kept; lines that no longer are on the chain go). */
  private replace(entry: InboxEntry, change: SignedChange, record: GroupRecord, old: GroupLog): 'keep' | 'applied' | undefined {
    const log = this.startLog(entry, change);
    if (!(log instanceof GroupLog)) return log;
    if (!log.state.members.includes(this.d.self())) return undefined;
    // Only a chain that holds what ours starts from and every change on our chain takes its
    // place: a creator re-signing its creation (same id, another hash), or a former admin
    // forking behind a snapshot we joined from, would otherwise swap the group's members.
    const held = old.chainChanges();
    if (!log.onChain(changeHash(held[0]!))) return undefined;
    const verify = verifier(this.d);
    for (const c of held) if (log.offer(c, verify).result === 'refused') return undefined;
    for (const c of old.data().changes) log.offer(c, verify);
    const before = old.state.members;
    record.log = log.data();
    this.afterApplied(record, before, log.state.members);
    saveGroup(this.d, change.body.groupId, record);
    syncLines(this.d, old.chainChanges(), log);
    this.d.changed?.(groupInfo(this.d, record));
    return 'applied';
  }

  /** The log a creation, or an add of us with its chain or snapshot, starts; 'keep' while an author's key is being fetched. Throws GroupChangeRefused. */
  private startLog(entry: InboxEntry, change: SignedChange): GroupLog | 'keep' | undefined {
    const self = this.d.self();
    const verify = verifier(this.d);
    if (change.body.op.type === 'create') return GroupLog.create(change, verify);
    if (entry.chain !== undefined) {
      if (!Array.isArray(entry.chain)) throw new GroupChangeRefused('malformed');
      const chain = entry.chain.map(parseSignedChange);
      if (chain.length === 0 || changeHash(chain[chain.length - 1]!) !== changeHash(change)) throw new GroupChangeRefused('invalid');
      if (this.needKey(chain)) return 'keep';
      return GroupLog.fromChain(chain, self, verify);
    }
    if (entry.state !== undefined) {
      const snap = parseSnapshot(entry.state);
      if (this.waitForKey(snap.creation.body.author)) return 'keep';
      return GroupLog.joined(change, snap, self, verify);
    }
    return undefined;
  }

  /**
   * Checks the chain's signatures in order, fetching the key of the first author we do not
   * know (true: wait for it). Everything a signature is not needed for is checked first, so a
   * made-up chain is refused before any fetch; a forged signature stops the walk at its change;
   * at most MAX_JOIN_FETCHES authors per chain and MAX_FETCHES_PER_HOUR in all are fetched, each
   * without one-time prekeys (none of that handle's is taken). Throws GroupChangeRefused.
   */
  private needKey(chain: readonly SignedChange[]): boolean {
    const self = this.d.self();
    const e2e = this.d.e2e();
    const verify = verifier(this.d);
    const unknown = (a: string): boolean => a !== self && e2e.identityStatus(a).trusted === undefined;
    const authors = GroupLog.chainAuthors(chain, self);
    if (authors.filter((a) => unknown(a) && this.fetched.get(a) !== 'done').length > MAX_JOIN_FETCHES) throw new GroupChangeRefused('invalid');
    for (const c of chain) {
      const a = c.body.author;
      if (unknown(a) && this.waitForKey(a)) return true;
      if (!verify(a, signingBytes(c.body), Buffer.from(c.sig, 'base64'))) throw new GroupChangeRefused('bad-signature');
    }
    return false;
  }

  /** True while the identity key of `handle`, not known yet, is being fetched (one fetch, within the hourly bound). */
  private waitForKey(handle: string): boolean {
    if (handle === this.d.self() || this.d.e2e().identityStatus(handle).trusted !== undefined) return false;
    const f = this.fetched.get(handle);
    if (f === 'done') return false;
    if (f === 'pending') return true;
    if (this.mayFetch()) void this.fetchKey(handle);
    return true;
  }

  /** One more join fetch within the hourly bound. */
  private mayFetch(): boolean {
    const now = Date.now();
    this.fetchTimes = this.fetchTimes.filter((t) => now - t < 3_600_000);
    if (this.fetchTimes.length >= MAX_FETCHES_PER_HOUR) return false;
    this.fetchTimes.push(now);
    return true;
  }

  /** The identity key of a chain's author we never talked to (a failed fetch leaves the join to be refused). */
  private async fetchKey(handle: string): Promise<void> {
    this.fetched.set(handle, 'pending');
    await ensureSession(this.d, handle, { oneTime: false }).catch(() => undefined);
    this.fetched.set(handle, 'done');
    this.scheduleDrain();
  }

  /**
   * The convergence rule's other half: a change of ours that lost to a crossing one is issued
   * again, once, on the new head, if it still applies there.
   */
  private reissueLost(record: GroupRecord, log: GroupLog): void {
    const self = this.d.self();
    const done = new Set(record.reissued ?? []);
    for (const c of log.data().changes) {
      const hash = changeHash(c);
      if (c.body.author !== self || done.has(hash) || log.onChain(hash)) continue;
      done.add(hash);
      const before = log.state;
      const again = signChange(this.d, { ...c.body, revision: before.revision, parent: before.head });
      if (log.offer(again, verifier(this.d)).result !== 'applied') continue;
      const to = [...new Set([...before.members, ...log.state.members])].filter((h) => h !== self);
      const joiner = again.body.op.type === 'add' ? again.body.op.handle : undefined;
      const snapshot = GroupLog.restore(log.data());
      setImmediate(() => {
        void this.d.activity(() => sendChange(this.d, snapshot, again, to, joiner)).catch(() => undefined);
      });
    }
    record.reissued = [...done];
  }

  /** Chains that arrived before the group did. */
  private adoptChains(groupId: string, record: GroupRecord, members: readonly string[]): void {
    const vault = this.d.vault();
    for (const h of members) {
      const key = `chain-${groupId}-${h}`;
      const raw = vault.kvGet(INBOX, key);
      if (!raw) continue;
      vault.kvDelete(INBOX, key);
      try {
        record.chains[h] = parseWaitingChain(raw).dist;
      } catch {
        // Not one this code wrote: dropped, as a chain never handed over.
      }
    }
  }
}
