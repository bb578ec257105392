// One group change on its own (group-state.ts keeps the tree of them): the signed body and its
// wire checks, the group id bound to its creation, and the state a change makes of the one it
// names. Pure: no I/O, no clock; signing and key lookup come from the caller.
import { createHash, randomBytes } from 'node:crypto';
import { CodedError } from '../../shared/errors.ts';
import { isDisappearingSeconds } from '../../shared/api/disappearing.ts';
import { GROUP_ID_RE, MAX_GROUP_MEMBERS, MAX_GROUP_NAME_CHARS } from '../../shared/api/types/groups.ts';
import { HANDLE_RE } from '../../shared/protocol/schema.ts';

const HASH_RE = /^[0-9a-f]{64}$/;
const SIGNING_CONTEXT = 'ephemera-group-change-v1\n';
const GROUP_ID_CONTEXT = 'ephemera-group-id-v1\n';
const SNAPSHOT_CONTEXT = 'ephemera-group-snapshot-v1\n';

export type GroupOp =
  /** `nonce`: 32 random hex characters; the group id is a hash of this body (groupIdOf), so no one else's creation can claim it. */
  | { type: 'create'; name: string; members: string[]; nonce?: string }
  | { type: 'add'; handle: string }
  | { type: 'remove'; handle: string }
  | { type: 'leave' }
  | { type: 'rename'; name: string }
  | { type: 'promote'; handle: string }
  /** The group's disappearing-message timer (an admin's change; 0 turns it off). */
  | { type: 'timer'; seconds: number }
  /** Whether every member may add members (an admin's change; off at creation). */
  | { type: 'allow-add'; on: boolean };

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
  /** Every member may add members (not only admins). */
  membersCanAdd: boolean;
}

export type Refusal =
  | 'malformed'
  | 'bad-signature'
  | 'wrong-group'
  | 'stale'
  | 'not-member'
  | 'not-admin'
  | 'invalid'
  | 'full'
  | 'equivocation'
  /** A creation whose group id is not the hash of its body (someone claiming another group's id). */
  | 'unbound'
  /** A removed author's change on a branch off the chosen chain, past the few kept. */
  | 'dead-branch';

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

/** The id a creation binds: a hash of its body with the id left empty (author, name, members, nonce). */
export function groupIdOf(body: ChangeBody): string {
  return createHash('sha256')
    .update(GROUP_ID_CONTEXT + canonical({ ...body, groupId: '' }))
    .digest('hex')
    .slice(0, 32);
}

/** A new group's creation body, its id bound to it (sign it with sign()). */
export function creationBody(author: string, name: string, members: string[]): ChangeBody {
  const body: ChangeBody = { v: 1, groupId: '', revision: 0, parent: '', author, op: { type: 'create', name, members, nonce: randomBytes(16).toString('hex') } };
  return { ...body, groupId: groupIdOf(body) };
}

/** What the adder signs of the state it hands a joiner that gets no chain. */
export function snapshotBytes(s: GroupState): Uint8Array {
  return new TextEncoder().encode(SNAPSHOT_CONTEXT + canonical(s));
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
      if ((keys !== 'members,name,type' && keys !== 'members,name,nonce,type') || !isName(op!.name) || !Array.isArray(op!.members) || !op!.members.every(isHandle)) bad();
      if (op!.nonce !== undefined && (typeof op!.nonce !== 'string' || !GROUP_ID_RE.test(op!.nonce))) bad();
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
    case 'allow-add':
      if (keys !== 'on,type' || typeof op!.on !== 'boolean') bad();
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
      // Admins add; every member may too while the group's setting allows it.
      if (!isAdmin && !s.membersCanAdd) return 'not-admin';
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
    case 'allow-add':
      if (!isAdmin) return 'not-admin';
      if (s.membersCanAdd === body.op.on) return 'invalid';
      return { ...next, membersCanAdd: body.op.on };
    case 'promote': {
      if (!isAdmin) return 'not-admin';
      if (!s.members.includes(body.op.handle) || s.admins.includes(body.op.handle)) return 'invalid';
      return { ...next, admins: sorted([...s.admins, body.op.handle]) };
    }
  }
}

/** The state a creation makes (the creator is the one admin); its group id must be bound to it. */
export function genesisState(c: SignedChange, hash: string): GroupState | Refusal {
  const { body } = c;
  if (body.op.type !== 'create' || body.revision !== 0 || body.parent !== '') return 'invalid';
  if (body.op.nonce === undefined || body.groupId !== groupIdOf(body)) return 'unbound';
  const members = sorted([...body.op.members, body.author]);
  if (members.length > MAX_GROUP_MEMBERS) return 'full';
  return { groupId: body.groupId, name: body.op.name, creator: body.author, members, admins: [body.author], revision: 1, head: hash, timer: 0, membersCanAdd: false };
}

export function checkState(s: GroupState): GroupState {
  // Sizes first: a state from outside (a backup line, a snapshot) may name any number of handles.
  const fits = (xs: unknown): xs is string[] => Array.isArray(xs) && xs.length <= MAX_GROUP_MEMBERS && xs.every(isHandle);
  const members = fits(s.members) ? new Set(s.members) : undefined;
  const ok =
    members !== undefined &&
    fits(s.admins) &&
    s.admins.every((a) => members.has(a)) &&
    GROUP_ID_RE.test(s.groupId) &&
    isName(s.name) &&
    isHandle(s.creator) &&
    Number.isSafeInteger(s.revision) &&
    s.revision > 0 &&
    HASH_RE.test(s.head) &&
    (s.timer === undefined || isDisappearingSeconds(s.timer)) &&
    (s.membersCanAdd === undefined || typeof s.membersCanAdd === 'boolean');
  if (!ok) throw new GroupChangeRefused('malformed');
  return {
    groupId: s.groupId,
    name: s.name,
    creator: s.creator,
    members: sorted(s.members),
    admins: sorted(s.admins),
    revision: s.revision,
    head: s.head,
    timer: s.timer ?? 0,
    membersCanAdd: s.membersCanAdd ?? false,
  };
}

/** The state as JSON-safe data checked from the wire (a joiner's snapshot). Throws GroupChangeRefused('malformed'). */
export function parseGroupState(v: unknown): GroupState {
  if (typeof v !== 'object' || v === null) throw new GroupChangeRefused('malformed');
  return checkState(v as GroupState);
}
