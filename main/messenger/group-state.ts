// Group membership as a signed, revisioned log (docs/protocol.md "Groups"). Pure: no I/O, no
// clock; signing and key lookup come from the caller.
//
// A change names the revision it applies to and the hash of the change that produced that
// revision (its parent), and is signed by its author's identity key. Every member keeps the
// tree of changes it has accepted; the state is the one chain from the creation that takes, at
// each revision, one child chosen by a pure function of the tree (select()): a child whose
// author is removed (or leaves) anywhere under a sibling is out, so a removed admin cannot undo
// the removal with a crossing change of their own at any earlier revision; an author with two
// children on one parent (re-signed or equivocating) is out with both, and a third is refused,
// which bounds the siblings; of the rest the smallest hash wins; when every child is out by
// removals that cross (two admins removing each other), the most senior author's wins (the
// creator, then admins in the order they became admins). So members that have seen the same
// changes hold the same state whatever order they arrived in, and a loser is refused everywhere;
// its author may re-issue it on the new head.
// A change is valid only against the state it names: from an admin (a member for `leave`), for
// that revision, signed by the author's key. Anything else is refused and changes nothing.
import { createHash } from 'node:crypto';
import { CodedError } from '../../shared/errors.ts';
import { isDisappearingSeconds } from '../../shared/api/disappearing.ts';
import { HANDLE_RE } from '../../shared/protocol/schema.ts';

/** Most members a group may have (the relay's per-send recipient limit is this minus one, us). */
export const MAX_GROUP_MEMBERS = 256;
export const MAX_GROUP_NAME_CHARS = 100;
/** A change whose parent is more than this many revisions below the head is refused as stale. */
export const FINAL_DEPTH = 64;
/** Changes held while their parent is unknown (they may arrive before it). */
const MAX_WAITING = 64;
/** Children one author may have on one parent: the second already voids both (select()), so more are refused. */
const MAX_CHILDREN_PER_AUTHOR = 2;
const GROUP_ID_RE = /^[0-9a-f]{32}$/;
const HASH_RE = /^[0-9a-f]{64}$/;
const SIGNING_CONTEXT = 'ephemera-group-change-v1\n';

export type GroupOp =
  | { type: 'create'; name: string; members: string[] }
  | { type: 'add'; handle: string }
  | { type: 'remove'; handle: string }
  | { type: 'leave' }
  | { type: 'rename'; name: string }
  | { type: 'promote'; handle: string }
  /** The group's disappearing-message timer (an admin's change; 0 turns it off). */
  | { type: 'timer'; seconds: number };

export interface ChangeBody {
  v: 1;
  groupId: string;
  /** The revision this change applies to (0 for the creation); it produces revision + 1. */
  revision: number;
  /** Hash of the change that produced `revision` ('' for the creation). */
  parent: string;
  author: string;
  op: GroupOp;
}

export interface SignedChange {
  body: ChangeBody;
  /** The author's identity-key signature over signingBytes(body), base64. */
  sig: string;
}

export interface GroupState {
  groupId: string;
  name: string;
  creator: string;
  /** Sorted handles. */
  members: string[];
  /** Sorted handles, a subset of members. */
  admins: string[];
  revision: number;
  /** Hash of the change that produced this revision. */
  head: string;
  /** Disappearing-message timer in seconds (0: off); texts are sent under it. */
  timer: number;
}

export type Refusal = 'malformed' | 'bad-signature' | 'wrong-group' | 'stale' | 'not-member' | 'not-admin' | 'invalid' | 'full' | 'equivocation';
export type OfferResult =
  | { result: 'applied' | 'duplicate' | 'waiting' }
  | { result: 'refused'; reason: Refusal };

/** Checks `sig` over `message` with the author's identity key as we trust it (false when unknown). */
export type Verify = (author: string, message: Uint8Array, sig: Uint8Array) => boolean;

/** A group change that is refused and not applied; `reason` says why. */
export class GroupChangeRefused extends CodedError<'GROUP_CHANGE_REFUSED'> {
  constructor(readonly reason: Refusal) {
    super('GROUP_CHANGE_REFUSED', `group change refused: ${reason}`);
  }
}

/** JSON with object keys sorted at every level: one encoding for signer and verifier. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

export function signingBytes(body: ChangeBody): Uint8Array {
  return new TextEncoder().encode(SIGNING_CONTEXT + canonical(body));
}

/** The change's id: over body and signature, so two signed changes never share one. */
export function changeHash(c: SignedChange): string {
  return createHash('sha256').update(canonical(c.body)).update('.').update(c.sig).digest('hex');
}

export function sign(body: ChangeBody, signer: (message: Uint8Array) => Uint8Array): SignedChange {
  return { body, sig: Buffer.from(signer(signingBytes(body))).toString('base64') };
}

function isHandle(v: unknown): v is string {
  return typeof v === 'string' && HANDLE_RE.test(v);
}

function isName(v: unknown): v is string {
  return typeof v === 'string' && v.trim().length > 0 && v.length <= MAX_GROUP_NAME_CHARS && ![...v].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
}

/** Structural check of a change from the wire (JSON already parsed); throws GroupChangeRefused('malformed'). */
export function parseSignedChange(v: unknown): SignedChange {
  const bad: () => never = () => {
    throw new GroupChangeRefused('malformed');
  };
  if (typeof v !== 'object' || v === null) bad();
  const { body, sig } = v as { body?: unknown; sig?: unknown };
  if (typeof sig !== 'string' || !/^[A-Za-z0-9+/]{40,200}={0,2}$/.test(sig)) bad();
  if (typeof body !== 'object' || body === null) bad();
  const b = body as Record<string, unknown>;
  if (Object.keys(b).some((k) => !['v', 'groupId', 'revision', 'parent', 'author', 'op'].includes(k))) bad();
  if (b.v !== 1 || typeof b.groupId !== 'string' || !GROUP_ID_RE.test(b.groupId)) bad();
  if (typeof b.revision !== 'number' || !Number.isSafeInteger(b.revision) || b.revision < 0) bad();
  if (typeof b.parent !== 'string' || (b.revision === 0 ? b.parent !== '' : !HASH_RE.test(b.parent))) bad();
  if (!isHandle(b.author)) bad();
  const op = b.op as Record<string, unknown> | null;
  if (typeof op !== 'object' || op === null) bad();
  const keys = Object.keys(op!).sort().join(',');
  switch (op!.type) {
    case 'create':
      if (keys !== 'members,name,type' || !isName(op!.name) || !Array.isArray(op!.members) || !op!.members.every(isHandle)) bad();
      if ((op!.members as string[]).length > MAX_GROUP_MEMBERS || b.revision !== 0) bad();
      break;
    case 'add':
    case 'remove':
    case 'promote':
      if (keys !== 'handle,type' || !isHandle(op!.handle)) bad();
      break;
    case 'leave':
      if (keys !== 'type') bad();
      break;
    case 'rename':
      if (keys !== 'name,type' || !isName(op!.name)) bad();
      break;
    case 'timer':
      if (keys !== 'seconds,type' || !isDisappearingSeconds(op!.seconds)) bad();
      break;
    default:
      bad();
  }
  if (op!.type !== 'create' && b.revision === 0) bad();
  return { body: b as unknown as ChangeBody, sig };
}

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

/** The state after `c`, or the reason it does not apply to `s` (signature checked by the caller). */
export function applyChange(s: GroupState, c: SignedChange, hash: string): GroupState | Refusal {
  const { body } = c;
  if (body.groupId !== s.groupId) return 'wrong-group';
  if (body.revision !== s.revision || body.parent !== s.head) return 'stale';
  const author = body.author;
  if (!s.members.includes(author)) return 'not-member';
  const isAdmin = s.admins.includes(author);
  const next = { ...s, revision: s.revision + 1, head: hash };
  switch (body.op.type) {
    case 'create':
      return 'invalid';
    case 'add': {
      if (!isAdmin) return 'not-admin';
      if (s.members.includes(body.op.handle)) return 'invalid';
      if (s.members.length >= MAX_GROUP_MEMBERS) return 'full';
      return { ...next, members: sorted([...s.members, body.op.handle]) };
    }
    case 'remove': {
      if (!isAdmin) return 'not-admin';
      const h = body.op.handle;
      if (h === author || !s.members.includes(h)) return 'invalid';
      return { ...next, members: s.members.filter((m) => m !== h), admins: s.admins.filter((m) => m !== h) };
    }
    case 'leave': {
      const members = s.members.filter((m) => m !== author);
      let admins = s.admins.filter((m) => m !== author);
      // A group never loses its last admin while it has members: the first remaining handle becomes one.
      if (admins.length === 0 && members.length > 0) admins = [members[0]!];
      return { ...next, members, admins };
    }
    case 'rename':
      if (!isAdmin) return 'not-admin';
      return { ...next, name: body.op.name };
    case 'timer':
      if (!isAdmin) return 'not-admin';
      return { ...next, timer: body.op.seconds };
    case 'promote': {
      if (!isAdmin) return 'not-admin';
      if (!s.members.includes(body.op.handle) || s.admins.includes(body.op.handle)) return 'invalid';
      return { ...next, admins: sorted([...s.admins, body.op.handle]) };
    }
  }
}

/** The state a creation makes (the creator is the one admin). */
export function genesisState(c: SignedChange, hash: string): GroupState | Refusal {
  const { body } = c;
  if (body.op.type !== 'create' || body.revision !== 0 || body.parent !== '') return 'invalid';
  const members = sorted([...body.op.members, body.author]);
  if (members.length > MAX_GROUP_MEMBERS) return 'full';
  return { groupId: body.groupId, name: body.op.name, creator: body.author, members, admins: [body.author], revision: 1, head: hash, timer: 0 };
}

interface Node {
  change: SignedChange | undefined;
  state: GroupState;
  parent: string | undefined;
  children: string[];
}

/** What a member keeps of a group: the accepted changes (serialisable) and the snapshot it started from. */
export interface GroupLogData {
  /** The state the log starts from: after the creation (creator, first members) or after the add of a joiner. */
  root: GroupState;
  /** The creation or the add that `root` is the result of. */
  rootChange: SignedChange;
  /** Accepted changes in arrival order. */
  changes: SignedChange[];
}

export class GroupLog {
  private readonly nodes = new Map<string, Node>();
  private waiting: SignedChange[] = [];
  private readonly accepted: SignedChange[] = [];
  private headHash: string;
  /** While restore() replays stored changes: the chain is chosen once at the end, not per change. */
  private replaying = false;

  private constructor(
    private readonly root: GroupState,
    private readonly rootChange: SignedChange,
  ) {
    this.nodes.set(root.head, { change: rootChange, state: root, parent: undefined, children: [] });
    this.headHash = root.head;
  }

  /** A group from its signed creation. Throws GroupChangeRefused. */
  static create(c: SignedChange, verify: Verify): GroupLog {
    const hash = changeHash(c);
    if (!verify(c.body.author, signingBytes(c.body), Buffer.from(c.sig, 'base64'))) throw new GroupChangeRefused('bad-signature');
    const s = genesisState(c, hash);
    if (typeof s === 'string') throw new GroupChangeRefused(s);
    return new GroupLog(s, c);
  }

  /**
   * A joiner's log from a snapshot (when the chain is too long for one message): the signed add
   * that made `self` a member and the state after it, as the adding admin sent them. Throws GroupChangeRefused unless the add is signed by an admin named
   * in that state, produced it, and added `self`.
   */
  static joined(add: SignedChange, state: GroupState, self: string, verify: Verify): GroupLog {
    const hash = changeHash(add);
    if (add.body.op.type !== 'add' || add.body.op.handle !== self) throw new GroupChangeRefused('invalid');
    if (state.head !== hash || state.revision !== add.body.revision + 1 || state.groupId !== add.body.groupId) throw new GroupChangeRefused('invalid');
    if (!state.members.includes(self) || !state.admins.includes(add.body.author)) throw new GroupChangeRefused('not-admin');
    if (state.members.length > MAX_GROUP_MEMBERS) throw new GroupChangeRefused('full');
    if (!verify(add.body.author, signingBytes(add.body), Buffer.from(add.sig, 'base64'))) throw new GroupChangeRefused('bad-signature');
    return new GroupLog(checkState(state), add);
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
    for (const c of rest) {
      const r = log.offer(c, verify);
      if (r.result === 'refused') throw new GroupChangeRefused(r.reason);
      if (r.result !== 'applied' || log.state.head !== changeHash(c)) throw new GroupChangeRefused('invalid');
    }
    return log;
  }

  /** The changes on the chain, the creation first; undefined when this log starts from a joiner's snapshot. */
  chain(): SignedChange[] | undefined {
    if (this.rootChange.body.op.type !== 'create') return undefined;
    const out: SignedChange[] = [];
    for (let h: string | undefined = this.headHash; h !== undefined; h = this.nodes.get(h)!.parent) out.push(this.nodes.get(h)!.change!);
    return out.reverse();
  }

  /** Rebuilds a stored log (its changes were checked when accepted). */
  static restore(data: GroupLogData): GroupLog {
    // A log stored before the timer existed has none in its root: off.
    const log = new GroupLog({ ...data.root, timer: data.root.timer ?? 0 }, data.rootChange);
    log.replaying = true;
    for (const c of data.changes) log.offer(c, () => true);
    log.replaying = false;
    log.select();
    return log;
  }

  get state(): GroupState {
    return this.nodes.get(this.headHash)!.state;
  }

  get groupId(): string {
    return this.root.groupId;
  }

  data(): GroupLogData {
    return { root: this.root, rootChange: this.rootChange, changes: [...this.accepted] };
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
    if (this.nodes.has(hash)) return { result: 'duplicate' };
    if (c.body.groupId !== this.root.groupId) return { result: 'refused', reason: 'wrong-group' };
    if (c.body.revision < this.root.revision || c.body.revision < this.state.revision - FINAL_DEPTH) return { result: 'refused', reason: 'stale' };
    const parent = this.nodes.get(c.body.parent);
    if (!parent) {
      if (!this.waiting.some((w) => changeHash(w) === hash)) {
        if (this.waiting.length >= MAX_WAITING) this.waiting.shift();
        this.waiting.push(c);
      }
      return { result: 'waiting' };
    }
    const next = applyChange(parent.state, c, hash);
    if (typeof next === 'string') return { result: 'refused', reason: next };
    if (!verify(c.body.author, signingBytes(c.body), Buffer.from(c.sig, 'base64'))) return { result: 'refused', reason: 'bad-signature' };
    const same = parent.children.filter((h) => this.nodes.get(h)!.change!.body.author === c.body.author).length;
    if (same >= MAX_CHILDREN_PER_AUTHOR) return { result: 'refused', reason: 'equivocation' };
    this.nodes.set(hash, { change: c, state: next, parent: c.body.parent, children: [] });
    parent.children.push(hash);
    this.accepted.push(c);
    if (this.replaying) return { result: 'applied' };
    this.select();
    this.retryWaiting(verify);
    return { result: 'applied' };
  }

  private retryWaiting(verify: Verify): void {
    const ready = this.waiting.filter((w) => this.nodes.has(w.body.parent));
    if (ready.length === 0) return;
    this.waiting = this.waiting.filter((w) => !this.nodes.has(w.body.parent));
    for (const w of ready) this.offer(w, verify);
  }

  /** From the root, at each node the child pick() takes, until there is none. */
  private select(): void {
    const memo = new Map<string, Set<string>>();
    let h = this.root.head;
    for (;;) {
      const next = this.pick(h, memo);
      if (next === undefined) break;
      h = next;
    }
    this.headHash = h;
  }

  /** The children of `h` that count: those whose author has no other child on `h`. */
  private eligible(h: string): string[] {
    const children = this.nodes.get(h)!.children;
    const author = (c: string): string => this.nodes.get(c)!.change!.body.author;
    return children.filter((c) => children.every((o) => o === c || author(o) !== author(c)));
  }

  /** Handles removed or leaving in the subtree of `h` (`h` included), over eligible children only. */
  private removedUnder(h: string, memo: Map<string, Set<string>>): Set<string> {
    const known = memo.get(h);
    if (known) return known;
    const out = new Set<string>();
    const op = this.nodes.get(h)!.change!.body.op;
    if (op.type === 'remove') out.add(op.handle);
    if (op.type === 'leave') out.add(this.nodes.get(h)!.change!.body.author);
    for (const c of this.eligible(h)) for (const x of this.removedUnder(c, memo)) out.add(x);
    memo.set(h, out);
    return out;
  }

  private pick(h: string, memo: Map<string, Set<string>>): string | undefined {
    const kids = this.eligible(h);
    if (kids.length <= 1) return kids[0];
    const author = (c: string): string => this.nodes.get(c)!.change!.body.author;
    const free = kids.filter((c) => !kids.some((d) => d !== c && this.removedUnder(d, memo).has(author(c))));
    if (free.length > 0) {
      // A leave yields to any sibling that is not one (its author leaves again on the chosen
      // chain, as any lost change is issued again): else a member, who may only leave, could
      // grind a leave's hash below an admin's change and discard it, a removal included.
      const firm = free.filter((c) => this.nodes.get(c)!.change!.body.op.type !== 'leave');
      return (firm.length > 0 ? firm : free).reduce((a, b) => (a < b ? a : b));
    }
    // Every child's author is removed under a sibling. Those removed only by siblings they remove
    // in turn (removals that cross) are left, and seniority decides, not a hash its author could
    // grind; a child removed by one it does not remove back never comes back this way.
    const vetoes = (d: string, c: string): boolean => d !== c && this.removedUnder(d, memo).has(author(c));
    const crossing = kids.filter((c) => kids.every((d) => !vetoes(d, c) || vetoes(c, d)));
    const rank = (c: string): number => this.seniority(h, author(c));
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

function checkState(s: GroupState): GroupState {
  const ok =
    GROUP_ID_RE.test(s.groupId) &&
    isName(s.name) &&
    isHandle(s.creator) &&
    Array.isArray(s.members) &&
    s.members.every(isHandle) &&
    Array.isArray(s.admins) &&
    s.admins.every((a) => isHandle(a) && s.members.includes(a)) &&
    Number.isSafeInteger(s.revision) &&
    s.revision > 0 &&
    HASH_RE.test(s.head) &&
    (s.timer === undefined || isDisappearingSeconds(s.timer));
  if (!ok) throw new GroupChangeRefused('malformed');
  return { groupId: s.groupId, name: s.name, creator: s.creator, members: sorted(s.members), admins: sorted(s.admins), revision: s.revision, head: s.head, timer: s.timer ?? 0 };
}

/** The state as JSON-safe data checked from the wire (a joiner's snapshot). Throws GroupChangeRefused('malformed'). */
export function parseGroupState(v: unknown): GroupState {
  if (typeof v !== 'object' || v === null) throw new GroupChangeRefused('malformed');
  return checkState(v as GroupState);
}
