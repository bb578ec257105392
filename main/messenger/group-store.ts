// What the group modules share (groups.ts, group-membership.ts, group-delivery.ts): the sealed
// record of each group in the vault kv, the facade's parts they borrow, and small helpers on
// them (signing, verifying, idempotency keys, sessions, the membership lines in the history).
import { createHmac } from 'node:crypto';
import { ApiError, GROUP_ID_RE, type GroupInfo } from '../../shared/api.ts';
import { disappearingLabel } from '../../shared/api/disappearing.ts';
import type { E2e } from '../e2e/index.ts';
import type { Vault } from '../vault/index.ts';
import type { RelayConnection } from './connection.ts';
import type { DisappearingTimers } from './expiry.ts';
import { changeHash, GroupLog, sign, type GroupLogData, type GroupState, type SignedChange, type Verify } from './group-state.ts';
import { incomingMessageId } from './ids.ts';

/** Sealed kv namespaces: group id -> record; inbox seq -> received change; outbox id -> message id. */
export const GROUPS = 'groups';
export const INBOX = 'group-inbox';
export const PENDING = 'group-pending-sends';
/** A received group message's stored sender: the member's handle behind this prefix (an opaque id, as backups require; 1:1 ones hold a contact id). */
export const MEMBER_PREFIX = 'member:';
/** A membership line's stored sender: the change's author behind this prefix (the UI shows it as a system line). */
export const LINE_PREFIX = 'change:';

export interface GroupRecord {
  log: GroupLogData;
  /** Our current chain's distribution id; a new one after every removal or leave. */
  dist: string;
  /** Members who were sent `dist` (a new member gets it with our next message). */
  holders: string[];
  /** The chain each other member last gave us. */
  chains: Record<string, string>;
  /** Hashes of our own changes that lost to a crossing change and were issued again on the new head. */
  reissued?: string[];
}

/** What the facade lends: the unlocked parts and its gates. */
export interface GroupDeps {
  vault(): Vault;
  e2e(): E2e;
  self(): string;
  /** Waits for a bound connection (a bundle fetch needs one). */
  connection(): Promise<RelayConnection>;
  /** The connection as it is, ready or not: sends go to its sealed outbox and leave when it is. */
  link(): RelayConnection | undefined;
  activity<T>(fn: () => Promise<T>): Promise<T>;
  /** The 1:1 send queue (sending.ts): a withdrawn receipt's rest goes through it, one run at a time. */
  enqueue<T>(fn: () => Promise<T>): Promise<T>;
  withIdKey<T>(fn: (idKey: Uint8Array) => T): T;
  stored(): void;
  /** A group changed or stored a message (the `group` event); optional so tests can leave it out. */
  changed?(info: GroupInfo): void;
  /** Receipts (group-receipts.ts): an own text handed to `to`; a member's text stored (`members`: the group's size). */
  sent?(messageId: string, groupId: string, to: readonly string[]): void;
  received?(m: { id: string; groupId: string; from: string; contentId: string; members: number }): void;
  /**
   * The unlocked session's disappearing timers (expiry.ts): an own text under the group's timer
   * counts down from when it is sent, a received one from when groupHistory first returns it.
   */
  timers?(): Pick<DisappearingTimers, 'sent' | 'received' | 'shownStored'> | undefined;
}

export function groupConversationId(groupId: string): string {
  return `g${groupId}`;
}

export const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
export const json = (b: Uint8Array): unknown => JSON.parse(Buffer.from(b).toString('utf8'));

export function loadGroup(d: GroupDeps, groupId: string): GroupRecord | undefined {
  if (!GROUP_ID_RE.test(groupId)) return undefined;
  const raw = d.vault().kvGet(GROUPS, groupId);
  return raw ? (json(raw) as GroupRecord) : undefined;
}

export function requireGroup(d: GroupDeps, groupId: string): GroupRecord {
  const r = loadGroup(d, groupId);
  if (!r) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such group.');
  return r;
}

export function saveGroup(d: GroupDeps, groupId: string, record: GroupRecord): void {
  d.vault().kvSet(GROUPS, groupId, utf8(JSON.stringify(record)));
}

export function groupInfo(d: GroupDeps, record: GroupRecord): GroupInfo {
  return stateInfo(d, GroupLog.restore(record.log).state);
}

/** groupInfo of a state already restored (restoring replays the whole log). */
export function stateInfo(d: GroupDeps, s: GroupState): GroupInfo {
  return {
    groupId: s.groupId,
    conversationId: groupConversationId(s.groupId),
    name: s.name,
    creator: s.creator,
    members: s.members,
    admins: s.admins,
    revision: s.revision,
    isMember: s.members.includes(d.self()),
    ...(s.timer > 0 ? { timerSeconds: s.timer } : {}),
    membersCanAdd: s.membersCanAdd,
  };
}

export function signChange(d: GroupDeps, body: SignedChange['body']): SignedChange {
  const groups = d.e2e().groups;
  return sign(body, (m) => groups.sign(m));
}

export function verifier(d: GroupDeps): Verify {
  const groups = d.e2e().groups;
  return (author, message, sig) => groups.verify(author, message, sig);
}

/** Idempotency keys: keyed hashes, 32 hex characters like every other send's (messenger/ids.ts). */
export function idem(d: GroupDeps, reqId: string, part: string): string {
  return d.withIdKey((k) => createHmac('sha256', k).update(JSON.stringify(['send', 'group', reqId, part])).digest().subarray(0, 16).toString('hex'));
}

/**
 * A 1:1 session with `handle` (its bundle fetched from the relay when there is none): changes and
 * chains travel over it. `oneTime: false` takes none of its one-time prekeys (a joiner that needs
 * an author's identity key to check a signature: the session starts on the signed and last-resort
 * prekeys).
 */
export async function ensureSession(d: GroupDeps, handle: string, opts: { oneTime?: boolean } = {}): Promise<void> {
  const e2e = d.e2e();
  if (await e2e.hasSession(handle)) return;
  const conn = await d.connection();
  let bundle: Uint8Array;
  try {
    bundle = await conn.keys.fetch(handle, opts);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'NOT_FOUND' || code === 'BAD_REQUEST') throw new ApiError('UNKNOWN_HANDLE', `No one is registered as ${handle} on this relay.`);
    throw e;
  }
  await d.activity(() => e2e.startSession(handle, bundle));
}

function lineId(d: GroupDeps, change: SignedChange): string {
  return d.withIdKey((k) => incomingMessageId(k, `${groupConversationId(change.body.groupId)}:change`, changeHash(change)));
}

/**
 * The membership lines after the chain moved: a line for each change now on the chain, and the
 * line of a change that left it (it lost to a crossing one) taken back; a change off the chain
 * never shows.
 */
export function syncLines(d: GroupDeps, before: readonly SignedChange[], log: GroupLog): void {
  const after = log.chainChanges();
  const was = new Set(before.map(changeHash));
  const now = new Set(after.map(changeHash));
  const gone = before.filter((c) => !now.has(changeHash(c)));
  if (gone.length > 0) d.vault().deleteMessages(groupConversationId(log.groupId), gone.map((c) => lineId(d, c)));
  for (const c of after) if (!was.has(changeHash(c))) membershipLine(d, c);
}

/**
 * A membership change as a line in the group's history ("alice removed carol"), stored once
 * per change (its id comes from the change's hash), on every member's side that applied it.
 */
export function membershipLine(d: GroupDeps, change: SignedChange): void {
  const { author, op, groupId } = change.body;
  const text =
    op.type === 'create' ? `${author} created the group "${op.name}"`
    : op.type === 'add' ? `${author} added ${op.handle}`
    : op.type === 'remove' ? `${author} removed ${op.handle}`
    : op.type === 'promote' ? `${author} made ${op.handle} an admin`
    : op.type === 'rename' ? `${author} renamed the group to "${op.name}"`
    : op.type === 'timer' ? (op.seconds === 0 ? `${author} turned disappearing messages off` : `${author} set disappearing messages to ${disappearingLabel(op.seconds)}`)
    : op.type === 'allow-add' ? (op.on ? `${author} let every member add members` : `${author} let only admins add members`)
    : `${author} left the group`;
  const conv = groupConversationId(groupId);
  const id = lineId(d, change);
  if (d.vault().getMessage(id)) return;
  const now = Date.now();
  d.vault().appendMessages([{ id, conversationId: conv, direction: 'in', sender: `${LINE_PREFIX}${author}`, sentAt: now, receivedAt: now, text, state: 'received' }]);
}
