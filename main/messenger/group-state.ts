// Group membership as a signed, revisioned log (docs/protocol.md §9b). Pure: no I/O, no clock;
// signing and key lookup come from the caller. One change on its own: group-ops.ts.
//
// A change names the revision it applies to and the hash of the change that produced that
// revision (its parent), and is signed by its author's identity key. Every member keeps the
// tree of changes it has accepted; the state is the one chain from the creation that takes, at
// each revision, one child chosen by a pure function of the tree (pick()):
// (1) an author with two children on one parent (re-signed or equivocating) is out with both,
//     unless only one of them has others' changes under it (that one stands), and a third is
//     refused; a child whose author has a change under a sibling is out too (it forked behind a
//     change it had seen);
// (2) a child whose author is removed (or leaves) anywhere under a sibling is out, so a removed
//     admin cannot undo the removal with a change of their own at any earlier revision;
// (3) of the rest the smallest hash, a leave or a non-admin's change only when no admin's other
//     change is left;
// (4) when every child is out by (2), removals that cross within FORK_WINDOW revisions of the
//     fork (two admins removing each other at about the same time) go to the most senior
//     author (the creator, then admins in the order they became admins). A child whose author's
//     removal under a sibling lies deeper is a late fork and seniority never saves it, so a
//     removed creator cannot fork back further and remove its remover (at most FORK_WINDOW - 1
//     later changes can go with a crossing removal).
// So members that have seen the same changes hold the same state whatever order they arrived
// in, and a loser is refused everywhere; its author may re-issue it on the new head. What is
// kept is bounded: a removed author keeps at most MAX_DEAD_PER_AUTHOR changes off the chosen
// chain, and branches forked more than FINAL_DEPTH revisions below the head are dropped.
// A change is valid only against the state it names: from an admin (a member for `leave`, and
// for `add` while the group lets every member add), for that revision, signed by the author's key.
import { applyChange, changeHash, checkState, genesisState, GroupChangeRefused, groupIdOf, parseGroupState, parseSignedChange, signingBytes, snapshotBytes } from './group-ops.ts';
import type { GroupState, OfferResult, SignedChange, Verify } from './group-ops.ts';

export * from './group-ops.ts';

/** A change whose parent is more than this many revisions below the head is refused as stale; branches forked that far below are dropped. */
export const FINAL_DEPTH = 64;
/** Removals that cross decide by seniority only when each lies within this many revisions of the fork point. */
export const FORK_WINDOW = 4;
/** Changes a removed author may keep on branches off the chosen chain (below FORK_WINDOW, so it cannot build a late fork's counter-removal). */
export const MAX_DEAD_PER_AUTHOR = 3;
/**
 * Changes a log read from outside as a whole (a backup line, opened or imported) may hold. A real
 * group's log grows by one change per add, removal, leave, rename, promotion, timer or add setting,
 * each a person's action (plus a few changes off the chain): 4,096 is 8 full turnovers of a full
 * group (256 adds and 256 removals each). Choosing the chain once still costs more than linear
 * time on a crafted tree (long side branches naming many handles): about 0.5 s at 2,048 changes,
 * 1.7 s at 4,096 here (docs/backup-format.md "Groups").
 */
export const MAX_REPLAYED_CHANGES = 4_096;
/** Changes held while their parent is unknown (they may arrive before it). */
const MAX_WAITING = 64;
/** Children one author may have on one parent: the second already voids both (select()), so more are refused. */
const MAX_CHILDREN_PER_AUTHOR = 2;

interface Node {
  change: SignedChange;
  state: GroupState;
  parent: string | undefined;
  children: string[];
}

/** What a joiner gets instead of the chain when the chain is too long: the state after its add, signed by the adder, and the creation that binds the group id. */
export interface Snapshot {
  state: GroupState;
  creation: SignedChange;
  /** The adder's signature over snapshotBytes(state), base64. */
  sig: string;
}

/** What a member keeps of a group: the accepted changes (serialisable) and the snapshot it started from. */
export interface GroupLogData {
  /** The state the log starts from: after the creation (creator, first members) or after the add of a joiner. */
  root: GroupState;
  /** The creation or the add that `root` is the result of. */
  rootChange: SignedChange;
  /** Accepted changes in arrival order. */
  changes: SignedChange[];
  /** The group's signed creation when the log starts from a joiner's snapshot (it binds the group id; a later joiner gets it). */
  creation?: SignedChange;
}

interface Memo {
  removed: Map<string, Map<string, number>>;
  authors: Map<string, Set<string>>;
  eligible: Map<string, string[]>;
}

export class GroupLog {
  private readonly nodes = new Map<string, Node>();
  private waiting: SignedChange[] = [];
  /** Hashes of accepted changes in arrival order. */
  private accepted: string[] = [];
  private headHash: string;
  /** While restore() replays stored changes: the chain is chosen once at the end, not per change. */
  private replaying = false;

  private constructor(
    private readonly root: GroupState,
    private readonly rootChange: SignedChange,
    private readonly creationChange: SignedChange | undefined = rootChange.body.op.type === 'create' ? rootChange : undefined,
  ) {
    this.nodes.set(root.head, { change: rootChange, state: root, parent: undefined, children: [] });
    this.headHash = root.head;
  }

  /** A group from its signed creation (its id bound to it). Throws GroupChangeRefused. */
  static create(c: SignedChange, verify: Verify): GroupLog {
    const hash = changeHash(c);
    const s = genesisState(c, hash);
    if (typeof s === 'string') throw new GroupChangeRefused(s);
    if (!verify(c.body.author, signingBytes(c.body), Buffer.from(c.sig, 'base64'))) throw new GroupChangeRefused('bad-signature');
    return new GroupLog(s, c);
  }

  /**
   * A joiner's log from a snapshot (when the chain is too long for one message): the signed add
   * that made `self` a member and the state after it, signed by the adder, with the creation
   * that binds the group id (signed by the creator). Throws GroupChangeRefused unless the add is
   * signed by an admin (or a member, while members may add) named in that state, produced it,
   * and added `self`.
   */
  static joined(add: SignedChange, snap: Snapshot, self: string, verify: Verify): GroupLog {
    const hash = changeHash(add);
    const { state, creation } = snap;
    if (add.body.op.type !== 'add' || add.body.op.handle !== self) throw new GroupChangeRefused('invalid');
    if (state.head !== hash || state.revision !== add.body.revision + 1 || state.groupId !== add.body.groupId) throw new GroupChangeRefused('invalid');
    if (creation.body.op.type !== 'create' || creation.body.groupId !== state.groupId || groupIdOf(creation.body) !== state.groupId || creation.body.author !== state.creator) {
      throw new GroupChangeRefused('unbound');
    }
    if (!state.members.includes(self) || !state.members.includes(add.body.author)) throw new GroupChangeRefused('not-member');
    if (!state.admins.includes(add.body.author) && !state.membersCanAdd) throw new GroupChangeRefused('not-admin');
    if (!verify(add.body.author, signingBytes(add.body), Buffer.from(add.sig, 'base64'))) throw new GroupChangeRefused('bad-signature');
    if (!verify(add.body.author, snapshotBytes(state), Buffer.from(snap.sig, 'base64'))) throw new GroupChangeRefused('bad-signature');
    // The creation is handed on to later joiners as what binds the id: it must be the creator's.
    if (!verify(creation.body.author, signingBytes(creation.body), Buffer.from(creation.sig, 'base64'))) throw new GroupChangeRefused('bad-signature');
    return new GroupLog(checkState(state), add, creation);
  }

  /**
   * A joiner's log from the whole chain the adding admin sent: the signed creation first, then
   * every change on the chain to the add that made `self` a member, each checked as any change is
   * (signature by its author's key, admin rights, revision, parent). Throws GroupChangeRefused.
   */
  static fromChain(chain: readonly SignedChange[], self: string, verify: Verify): GroupLog {
    const [first, ...rest] = chain;
    const last = chain[chain.length - 1];
    if (!first || !last || last.body.op.type !== 'add' || last.body.op.handle !== self) throw new GroupChangeRefused('invalid');
    const log = GroupLog.create(first, verify);
    // A chain has one child per change, so each accepted change is the new head: set it as offer()
    // would select it, without walking the chain again per change (that made a joiner's check
    // quadratic). A change that does not extend the one before it is refused.
    for (const c of rest) {
      const hash = changeHash(c);
      const r = log.admit(c, hash, verify);
      if (r.result === 'refused') throw new GroupChangeRefused(r.reason);
      if (r.result !== 'applied' || c.body.parent !== log.headHash) throw new GroupChangeRefused('invalid');
      log.headHash = hash;
    }
    return log;
  }

  /**
   * The chain's authors in the order their signatures are needed, after checking everything a
   * signature is not needed for (ids, parents, revisions, rights), so a crafted chain is refused
   * before any key is fetched for it. Throws GroupChangeRefused.
   */
  static chainAuthors(chain: readonly SignedChange[], self: string): string[] {
    GroupLog.fromChain(chain, self, () => true);
    return [...new Set(chain.map((c) => c.body.author))];
  }

  /** The changes on the chain, the creation first; undefined when this log starts from a joiner's snapshot. */
  chain(): SignedChange[] | undefined {
    if (this.rootChange.body.op.type !== 'create') return undefined;
    return this.chainChanges();
  }

  /** Hashes on the chosen chain, the root first. */
  chainHashes(): string[] {
    const out: string[] = [];
    for (let h: string | undefined = this.headHash; h !== undefined; h = this.nodes.get(h)!.parent) out.push(h);
    return out.reverse();
  }

  /** The group's signed creation (undefined only for a log stored from a snapshot before it was kept). */
  creation(): SignedChange | undefined {
    return this.creationChange;
  }

  /** The changes on the chosen chain, the root's change first. */
  chainChanges(): SignedChange[] {
    return this.chainHashes().map((h) => this.nodes.get(h)!.change);
  }

  /** Rebuilds a stored log (its changes were checked when accepted). */
  static restore(data: GroupLogData): GroupLog {
    // A log stored before the timer (or the add setting) existed has none in its root: off.
    const root = { ...data.root, timer: data.root.timer ?? 0, membersCanAdd: data.root.membersCanAdd ?? false };
    const log = new GroupLog(root, data.rootChange, data.rootChange.body.op.type === 'create' ? data.rootChange : data.creation);
    log.replaying = true;
    for (const c of data.changes) log.offer(c, () => true);
    log.replaying = false;
    log.select();
    return log;
  }

  /**
   * Offers a whole log's `changes` in order, each checked as offer() checks it (parent known, valid
   * against the state it names, signed, at most two children per author on a parent), and chooses
   * the chain once at the end, then drops branches forked more than FINAL_DEPTH below it: linear in
   * the changes, where offer() walks the chain after each (quadratic over a log read from outside).
   * For a log read as a whole (a backup line), not for live arrivals: a change whose parent is not
   * among those before it is not held ('waiting'), and the dead-branch cap is not re-applied (a
   * stored log obeys it already; the caller bounds the count, MAX_REPLAYED_CHANGES). Returns each
   * change's result in order; the log stays as rebuilt whatever they are.
   */
  replay(changes: readonly SignedChange[], verify: Verify): OfferResult[] {
    const results = changes.map((c) => this.admit(c, changeHash(c), verify));
    this.select();
    this.prune();
    return results;
  }

  get state(): GroupState {
    return this.nodes.get(this.headHash)!.state;
  }

  get groupId(): string {
    return this.root.groupId;
  }

  /** Whether this log starts from the group's creation (not from a joiner's snapshot). */
  get fromCreation(): boolean {
    return this.rootChange.body.op.type === 'create';
  }

  data(): GroupLogData {
    const changes = this.accepted.map((h) => this.nodes.get(h)!.change);
    const creation = this.rootChange.body.op.type === 'create' ? undefined : this.creationChange;
    return { root: this.root, rootChange: this.rootChange, changes, ...(creation ? { creation } : {}) };
  }

  /** Whether `hash` is on the current chain (a change of ours that lost is not). */
  onChain(hash: string): boolean {
    for (let h: string | undefined = this.headHash; h !== undefined; h = this.nodes.get(h)?.parent) if (h === hash) return true;
    return false;
  }

  /**
   * Accepts `c` into the tree if it is valid against the state it names, then re-selects the
   * chain. 'waiting': its parent is not known yet (kept, bounded, and tried again later).
   */
  offer(c: SignedChange, verify: Verify): OfferResult {
    const hash = changeHash(c);
    const r = this.admit(c, hash, verify);
    if (r.result === 'waiting' && !this.waiting.some((w) => changeHash(w) === hash)) {
      if (this.waiting.length >= MAX_WAITING) this.waiting.shift();
      this.waiting.push(c);
    }
    if (r.result !== 'applied' || this.replaying) return r;
    const parent = this.nodes.get(c.body.parent)!;
    this.select();
    if (this.overDeadCap(c.body.author, hash)) {
      // A removed author's branch that lost: kept only up to the cap, so it can neither cost
      // every member unbounded storage and replay nor grow into a late fork's counter-removal.
      this.nodes.delete(hash);
      parent.children.pop();
      this.accepted.pop();
      this.select();
      return { result: 'refused', reason: 'dead-branch' };
    }
    this.prune();
    this.retryWaiting(verify);
    return { result: 'applied' };
  }

  /** Puts `c` into the tree if it is valid against the state it names; the chain is not chosen again here. 'waiting': its parent is unknown (not held here). */
  private admit(c: SignedChange, hash: string, verify: Verify): OfferResult {
    if (this.nodes.has(hash)) return { result: 'duplicate' };
    if (c.body.groupId !== this.root.groupId) return { result: 'refused', reason: 'wrong-group' };
    if (c.body.revision < this.root.revision || c.body.revision < this.state.revision - FINAL_DEPTH) return { result: 'refused', reason: 'stale' };
    const parent = this.nodes.get(c.body.parent);
    if (!parent) return { result: 'waiting' };
    const next = applyChange(parent.state, c, hash);
    if (typeof next === 'string') return { result: 'refused', reason: next };
    if (!verify(c.body.author, signingBytes(c.body), Buffer.from(c.sig, 'base64'))) return { result: 'refused', reason: 'bad-signature' };
    const same = parent.children.filter((h) => this.nodes.get(h)!.change.body.author === c.body.author).length;
    if (same >= MAX_CHILDREN_PER_AUTHOR) return { result: 'refused', reason: 'equivocation' };
    this.nodes.set(hash, { change: c, state: next, parent: c.body.parent, children: [] });
    parent.children.push(hash);
    this.accepted.push(hash);
    return { result: 'applied' };
  }

  /** Whether `hash` (just accepted) is off the chain and one too many of its author's while that author is not a member. */
  private overDeadCap(author: string, hash: string): boolean {
    if (this.state.members.includes(author)) return false;
    const chain = new Set(this.chainHashes());
    if (chain.has(hash)) return false;
    let n = 0;
    for (const [h, node] of this.nodes) if (!chain.has(h) && node.change.body.author === author) n++;
    return n > MAX_DEAD_PER_AUTHOR;
  }

  /** Drops branches forked more than FINAL_DEPTH below the head: no change may join them any more (stale). */
  private prune(): void {
    const limit = this.state.revision - FINAL_DEPTH;
    const chain = this.chainHashes();
    const on = new Set(chain);
    let dropped = false;
    for (const h of chain) {
      const n = this.nodes.get(h)!;
      if (n.state.revision >= limit) break;
      for (const c of n.children) if (!on.has(c)) dropped = this.dropSubtree(c) || dropped;
      n.children = n.children.filter((c) => on.has(c));
    }
    if (!dropped) return;
    this.accepted = this.accepted.filter((h) => this.nodes.has(h));
    this.waiting = this.waiting.filter((w) => w.body.revision >= limit);
  }

  private dropSubtree(h: string): boolean {
    const n = this.nodes.get(h);
    if (!n) return false;
    for (const c of n.children) this.dropSubtree(c);
    this.nodes.delete(h);
    return true;
  }

  private retryWaiting(verify: Verify): void {
    const ready = this.waiting.filter((w) => this.nodes.has(w.body.parent));
    if (ready.length === 0) return;
    this.waiting = this.waiting.filter((w) => !this.nodes.has(w.body.parent));
    for (const w of ready) this.offer(w, verify);
  }

  /** From the root, at each node the child pick() takes, until there is none. */
  private select(): void {
    const memo: Memo = { removed: new Map(), authors: new Map(), eligible: new Map() };
    let h = this.root.head;
    for (;;) {
      const next = this.pick(h, memo);
      if (next === undefined) break;
      h = next;
    }
    this.headHash = h;
  }

  private author(h: string): string {
    return this.nodes.get(h)!.change.body.author;
  }

  /** Authors of every change in the subtree of `h` (`h` included). */
  private authorsUnder(h: string, memo: Memo): Set<string> {
    const known = memo.authors.get(h);
    if (known) return known;
    const out = new Set([this.author(h)]);
    for (const c of this.nodes.get(h)!.children) for (const a of this.authorsUnder(c, memo)) out.add(a);
    memo.authors.set(h, out);
    return out;
  }

  /** The children of `h` that count (rule 1): whose author has no other child on `h` (or only one others built on) and no change under a sibling. */
  private eligible(h: string, memo: Memo): string[] {
    const known = memo.eligible.get(h);
    if (known) return known;
    const children = this.nodes.get(h)!.children;
    // Of an author's two children on `h`, the one others built on stands alone; else both are
    // out (a removed author re-signing at an old revision cannot void its change the chain
    // went on from).
    const builtOn = (c: string): boolean => [...this.authorsUnder(c, memo)].some((a) => a !== this.author(c));
    const single = children.filter((c) => {
      const mine = children.filter((o) => this.author(o) === this.author(c));
      if (mine.length === 1) return true;
      const standing = mine.filter(builtOn);
      return standing.length === 1 && standing[0] === c;
    });
    const unseen = single.filter((c) => single.every((o) => o === c || !this.authorsUnder(o, memo).has(this.author(c))));
    // Two authors each with a change under the other's (views that differed): neither rule applies.
    const out = unseen.length > 0 ? unseen : single;
    memo.eligible.set(h, out);
    return out;
  }

  /** Handles removed or leaving in the subtree of `h` (`h` included, depth 0), over eligible children only, each at its least depth. */
  private removedUnder(h: string, memo: Memo): Map<string, number> {
    const known = memo.removed.get(h);
    if (known) return known;
    const out = new Map<string, number>();
    const { op, author } = this.nodes.get(h)!.change.body;
    if (op.type === 'remove') out.set(op.handle, 0);
    if (op.type === 'leave') out.set(author, 0);
    for (const c of this.eligible(h, memo)) {
      for (const [x, k] of this.removedUnder(c, memo)) if ((out.get(x) ?? Infinity) > k + 1) out.set(x, k + 1);
    }
    memo.removed.set(h, out);
    return out;
  }

  private pick(h: string, memo: Memo): string | undefined {
    const kids = this.eligible(h, memo);
    if (kids.length <= 1) return kids[0];
    // How deep below `h` the author of `c` is removed under sibling `d` (undefined: not at all).
    const veto = (d: string, c: string): number | undefined => (d === c ? undefined : this.removedUnder(d, memo).get(this.author(c)));
    const free = kids.filter((c) => kids.every((d) => veto(d, c) === undefined));
    if (free.length > 0) {
      // A leave, or a non-admin's add, yields to any admin's change that is not one (its author
      // issues it again on the chosen chain): else a member could grind its hash below an
      // admin's change and discard it, a removal or the add setting turned off included.
      const at = this.nodes.get(h)!.state;
      const firm = free.filter((c) => {
        const b = this.nodes.get(c)!.change.body;
        return b.op.type !== 'leave' && at.admins.includes(b.author);
      });
      return (firm.length > 0 ? firm : free).reduce((a, b) => (a < b ? a : b));
    }
    // Every child's author is removed under a sibling. Removals that cross within the window
    // (each removed by a sibling it removes in turn, near the fork) go to seniority, not a hash
    // its author could grind; a child whose author is removed deeper under a sibling is a late
    // fork, behind changes that stood while its author was a member, and never comes back so.
    const crossing = kids.filter((c) =>
      kids.every((d) => {
        const k = veto(d, c);
        return k === undefined || (k < FORK_WINDOW && veto(c, d) !== undefined);
      }),
    );
    const rank = (c: string): number => this.seniority(h, this.author(c));
    return (crossing.length > 0 ? crossing : kids).reduce((a, b) => {
      const ra = rank(a);
      const rb = rank(b);
      return ra < rb || (ra === rb && a < b) ? a : b;
    });
  }

  /** When `handle` last became an admin on the chain to `h` (the creator 0; an admin already in a joiner's root, the root's revision). */
  private seniority(h: string, handle: string): number {
    let n = this.nodes.get(h)!;
    if (!n.state.admins.includes(handle)) return Number.MAX_SAFE_INTEGER;
    while (n.parent !== undefined) {
      const up = this.nodes.get(n.parent)!;
      if (!up.state.admins.includes(handle)) return n.state.revision;
      n = up;
    }
    // The creator ranks first in a joiner's snapshot too (its state names the creator).
    return handle === n.state.creator ? 0 : n.state.revision;
  }
}

/** A joiner's snapshot from the wire: `{state, creation, sig}`. Throws GroupChangeRefused('malformed'). */
export function parseSnapshot(v: unknown): Snapshot {
  if (typeof v !== 'object' || v === null) throw new GroupChangeRefused('malformed');
  const { state, creation, sig } = v as Record<string, unknown>;
  if (typeof sig !== 'string' || !/^[A-Za-z0-9+/]{40,200}={0,2}$/.test(sig)) throw new GroupChangeRefused('malformed');
  return { state: parseGroupState(state), creation: parseSignedChange(creation), sig };
}
