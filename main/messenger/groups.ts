// Group chats (docs/messaging.md "Groups"): membership as a signed change log (group-state.ts),
// group messages with sender keys (main/e2e/sender-keys.ts), fan-out in one relay request
// (sendMany). What a member keeps is sealed in the vault kv: the log, its own current chain and
// who already holds it, and the chain each member uses. Messages are stored like 1:1 ones under
// the conversation id `g<group id>`, so history, search and deletion read them the same way.
//
// Changes reach members over the 1:1 sessions. A received change is written to a sealed inbox
// inside the 1:1 receive's transaction and applied just after it committed (the author's
// identity key is then the trusted one to verify with); anything refused is dropped unseen.
import { createHmac, randomBytes } from 'node:crypto';
import { ApiError, type GroupInfo, type GroupMessage, type ParamsOf, type ResultOf } from '../../shared/api.ts';
import { MAX_ENVELOPE_BYTES, MAX_SEND_MANY_BYTES, MAX_SEND_MANY_ITEMS, type SendManyParams } from '../../shared/protocol/methods.ts';
import {
  decodeContent,
  E2eError,
  encodeContent,
  encodeEnvelope,
  type E2e,
  type GroupChangeContent,
  type MessageContent,
  type SenderKeyContent,
} from '../e2e/index.ts';
import { isSenderKeyEnvelope, newDistributionId } from '../e2e/sender-keys.ts';
import type { Envelope as RelayEnvelope } from '../net/mailbox.ts';
import type { StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import type { RelayConnection } from './connection.ts';
import {
  changeHash,
  GroupChangeRefused,
  GroupLog,
  parseGroupState,
  parseSignedChange,
  sign,
  type GroupLogData,
  type GroupOp,
  type SignedChange,
  type Verify,
} from './group-state.ts';
import { incomingMessageId, outgoingMessageId } from './ids.ts';

export { isSenderKeyEnvelope };

/** Sealed kv namespaces: group id -> record; inbox seq -> received change; outbox id -> message id. */
const GROUPS = 'groups';
const INBOX = 'group-inbox';
const PENDING = 'group-pending-sends';
/** A received group message's stored sender: the member's handle behind this prefix (an opaque id, as backups require; 1:1 ones hold a contact id). */
const MEMBER_PREFIX = 'member:';
/** A membership line's stored sender: the change's author behind this prefix (the UI shows it as a system line). */
const LINE_PREFIX = 'change:';

interface GroupRecord {
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
  withIdKey<T>(fn: (idKey: Uint8Array) => T): T;
  stored(): void;
  /** A group changed or stored a message (the `group` event); optional so tests can leave it out. */
  changed?(info: GroupInfo): void;
}

export type GroupReceipt = 'stored' | 'duplicate' | 'dropped';

export function groupConversationId(groupId: string): string {
  return `g${groupId}`;
}

export function isGroupContent(c: MessageContent): c is GroupChangeContent | SenderKeyContent | Extract<MessageContent, { kind: 'group-text' }> {
  return c.kind === 'group-change' || c.kind === 'sender-key' || c.kind === 'group-text';
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const json = (b: Uint8Array): unknown => JSON.parse(Buffer.from(b).toString('utf8'));

export class GroupService {
  private drainScheduled = false;

  constructor(private readonly d: GroupDeps) {}

  // ---------------------------------------------------------------- reading

  list(): GroupInfo[] {
    this.drain();
    const vault = this.d.vault();
    return vault
      .kvKeys(GROUPS)
      .map((id) => this.info(this.load(id)!))
      .sort((a, b) => a.name.localeCompare(b.name) || a.groupId.localeCompare(b.groupId));
  }

  infoOf(groupId: string): GroupInfo {
    this.drain();
    return this.info(this.require(groupId));
  }

  history(p: ParamsOf<'groupHistory'>): ResultOf<'groupHistory'> {
    this.drain();
    this.require(p.groupId);
    const vault = this.d.vault();
    const conv = groupConversationId(p.groupId);
    let before: number | undefined;
    if (p.before !== undefined) {
      const m = vault.getMessage(p.before);
      if (!m || m.conversationId !== conv) throw new ApiError('UNKNOWN_MESSAGE', 'There is no such message in this group.');
      before = m.orderKey;
    }
    const rows = vault.pageMessages(conv, before === undefined ? { limit: p.limit } : { before, limit: p.limit });
    const first = rows[0];
    return {
      messages: rows.map((m) => this.view(p.groupId, m)),
      hasOlder: first ? vault.pageMessages(conv, { before: first.orderKey, limit: 1 }).length > 0 : false,
    };
  }

  // ---------------------------------------------------------------- membership changes

  async create(p: ParamsOf<'groupCreate'>): Promise<GroupInfo> {
    const self = this.d.self();
    const members = [...new Set(p.members)].filter((h) => h !== self);
    if (members.length === 0) throw new ApiError('INVALID_ARGUMENT', 'A group needs at least one other member.');
    for (const h of members) await this.ensureSession(h);
    return this.d.activity(async () => {
      const groupId = randomBytes(16).toString('hex');
      const change = this.sign({ v: 1, groupId, revision: 0, parent: '', author: self, op: { type: 'create', name: p.name, members } });
      const log = GroupLog.create(change, this.verifier());
      const record: GroupRecord = { log: log.data(), dist: newDistributionId(), holders: [], chains: {} };
      this.save(groupId, record);
      this.line(change);
      this.d.changed?.(this.info(record));
      await this.sendChange(log, change, members, undefined);
      return this.info(record);
    });
  }

  add(p: ParamsOf<'groupAdd'>): Promise<GroupInfo> {
    return this.change(p.groupId, { type: 'add', handle: p.handle }, p.handle);
  }

  remove(p: ParamsOf<'groupRemove'>): Promise<GroupInfo> {
    return this.change(p.groupId, { type: 'remove', handle: p.handle });
  }

  promote(p: ParamsOf<'groupPromote'>): Promise<GroupInfo> {
    return this.change(p.groupId, { type: 'promote', handle: p.handle });
  }

  rename(p: ParamsOf<'groupRename'>): Promise<GroupInfo> {
    return this.change(p.groupId, { type: 'rename', name: p.name });
  }

  leave(p: ParamsOf<'groupLeave'>): Promise<GroupInfo> {
    return this.change(p.groupId, { type: 'leave' });
  }

  private async change(groupId: string, op: GroupOp, joiner?: string): Promise<GroupInfo> {
    this.drain();
    const before = GroupLog.restore(this.require(groupId).log).state;
    if (joiner !== undefined) await this.ensureSession(joiner);
    for (const h of before.members) if (h !== this.d.self()) await this.ensureSession(h);
    return this.d.activity(async () => {
      const record = this.require(groupId);
      const log = GroupLog.restore(record.log);
      const s = log.state;
      const self = this.d.self();
      const change = this.sign({ v: 1, groupId, revision: s.revision, parent: s.head, author: self, op });
      const result = log.offer(change, this.verifier());
      if (result.result !== 'applied') {
        const reason = result.result === 'refused' ? result.reason : result.result;
        if (reason === 'not-admin' || reason === 'not-member') throw new ApiError('FORBIDDEN', 'Only an admin of the group may do that.');
        throw new ApiError('INVALID_ARGUMENT', `That change does not apply to the group (${reason}).`);
      }
      // The removed member and everyone left learn of it; a joiner gets the state it starts from.
      const to = [...new Set([...s.members, ...log.state.members])].filter((h) => h !== self);
      record.log = log.data();
      this.afterApplied(record, s.members, log.state.members);
      this.save(groupId, record);
      this.line(change);
      this.d.changed?.(this.info(record));
      await this.sendChange(log, change, to, joiner);
      return this.info(record);
    });
  }

  /** Each member's chain after a change: a removal or leave starts a new chain of ours; removed members' chains are forgotten. */
  private afterApplied(record: GroupRecord, before: readonly string[], after: readonly string[]): void {
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

  /** Sends a change to `to` over the 1:1 sessions, in one relay request. */
  private async sendChange(log: GroupLog, change: SignedChange, to: readonly string[], joiner: string | undefined): Promise<void> {
    const e2e = this.d.e2e();
    const bodies: Uint8Array[] = [];
    const items: SendManyParams['items'] = [];
    const reqId = randomBytes(16).toString('hex');
    for (const h of to) {
      if (e2e.identityStatus(h).pending) continue; // a changed, unaccepted key gets nothing new
      const content: MessageContent = {
        v: 1,
        kind: 'group-change',
        change: change as unknown as Record<string, unknown>,
        ...(h === joiner ? { state: log.state as unknown as Record<string, unknown> } : {}),
      };
      bodies.push(encodeEnvelope(await e2e.sendContent(h, content)));
      items.push({ to: h, idem: this.idem(reqId, h), b: bodies.length - 1 });
    }
    await this.hand(bodies, items, reqId, undefined);
  }

  // ---------------------------------------------------------------- sending

  async send(p: ParamsOf<'groupSend'>): Promise<GroupMessage> {
    this.drain();
    const pre = GroupLog.restore(this.require(p.groupId).log).state;
    const self = this.d.self();
    if (!pre.members.includes(self)) throw new ApiError('FORBIDDEN', 'You are no longer a member of this group.');
    for (const h of pre.members) if (h !== self) await this.ensureSession(h);
    return this.d.activity(async () => {
      const vault = this.d.vault();
      const e2e = this.d.e2e();
      const record = this.require(p.groupId);
      const state = GroupLog.restore(record.log).state;
      const contentId = randomBytes(16).toString('hex');
      const now = Date.now();
      const id = this.d.withIdKey((k) => outgoingMessageId(k, contentId));
      const conv = groupConversationId(p.groupId);
      const [stored] = vault.appendMessages([{ id, conversationId: conv, direction: 'out', sender: 'self', sentAt: now, receivedAt: now, text: p.text, state: 'queued' }]);
      if (!stored) throw new Error('the vault did not store the message');
      const recipients = state.members.filter((h) => h !== self && !e2e.identityStatus(h).pending);
      const reqId = randomBytes(16).toString('hex');
      const bodies: Uint8Array[] = [];
      const items: SendManyParams['items'] = [];
      // Our current chain first, to members who do not hold it yet (new members, or after a removal).
      const needKey = recipients.filter((h) => !record.holders.includes(h));
      if (needKey.length > 0) {
        const distribution = Buffer.from(await e2e.groups.distribution(record.dist)).toString('base64');
        for (const h of needKey) {
          bodies.push(encodeEnvelope(await e2e.sendContent(h, { v: 1, kind: 'sender-key', groupId: p.groupId, distribution })));
          items.push({ to: h, idem: this.idem(reqId, `key:${h}`), b: bodies.length - 1 });
        }
        record.holders = [...new Set([...record.holders, ...needKey])];
        // Re-read before writing: a member's chain may have been stored while we awaited above
        // (writing our stale copy would lose it, and every later message of theirs with it).
        const fresh = this.require(p.groupId);
        if (fresh.dist === record.dist) {
          fresh.holders = [...new Set([...fresh.holders, ...needKey])];
          this.save(p.groupId, fresh);
        }
      }
      const text = encodeContent({ v: 1, kind: 'group-text', groupId: p.groupId, id: contentId, sentAt: now, text: p.text });
      bodies.push(await e2e.groups.encrypt(record.dist, text));
      const b = bodies.length - 1;
      for (const h of recipients) items.push({ to: h, idem: this.idem(reqId, h), b });
      this.d.stored();
      if (items.length === 0) {
        vault.updateMessageState(id, 'sent');
        return this.view(p.groupId, { ...stored, state: 'sent' });
      }
      await this.hand(bodies, items, reqId, id);
      return this.view(p.groupId, vault.getMessage(id) ?? stored);
    });
  }

  /**
   * Durable in the sealed outbox before this returns (the net layer re-sends after a restart;
   * each item's idempotency key keeps it once at the relay). Large fan-outs are split in
   * requests the relay accepts, in order, so each recipient's key still comes before the text.
   */
  private async hand(bodies: Uint8Array[], items: SendManyParams['items'], reqId: string, messageId: string | undefined): Promise<void> {
    if (items.length === 0) return;
    const conn = this.d.link();
    if (!conn) throw new ApiError('NOT_REGISTERED', 'Not connected to a relay.');
    const chunks: SendManyParams[] = [];
    let cur: SendManyParams = { bodies: [], items: [] };
    let bytes = 0;
    const index = new Map<number, number>();
    for (const item of items) {
      const body = bodies[item.b]!;
      const isNew = !index.has(item.b);
      if (cur.items.length >= MAX_SEND_MANY_ITEMS || (isNew && bytes + body.length > MAX_SEND_MANY_BYTES)) {
        chunks.push(cur);
        cur = { bodies: [], items: [] };
        bytes = 0;
        index.clear();
      }
      let b = index.get(item.b);
      if (b === undefined) {
        if (body.length > MAX_ENVELOPE_BYTES) throw new ApiError('INVALID_ARGUMENT', 'The message is too long.');
        b = cur.bodies.push(body) - 1;
        index.set(item.b, b);
        bytes += body.length;
      }
      cur.items.push({ to: item.to, idem: item.idem, b });
    }
    chunks.push(cur);
    const vault = this.d.vault();
    chunks.forEach((chunk, i) => {
      const outboxId = this.idem(reqId, `request:${i}`);
      if (messageId !== undefined && i === chunks.length - 1) vault.kvSet(PENDING, outboxId, utf8(messageId));
      conn.client.callDurableMany(chunk, outboxId).then(
        () => this.onSent(outboxId),
        () => undefined,
      );
    });
  }

  /** The relay accepted a group request: its message is 'sent' (also after a restart, through onDurable). */
  onSent(outboxId: string): void {
    let vault: Vault;
    try {
      vault = this.d.vault();
    } catch {
      return; // locked: resumed at the next unlock
    }
    const raw = vault.kvGet(PENDING, outboxId);
    if (!raw) return;
    vault.kvDelete(PENDING, outboxId);
    const id = Buffer.from(raw).toString('utf8');
    const m = vault.getMessage(id);
    if (m?.state !== 'queued') return;
    vault.updateMessageState(id, 'sent');
    const record = this.load(m.conversationId.slice(1));
    if (record) this.d.changed?.(this.info(record));
  }

  // ---------------------------------------------------------------- receiving

  /** Inside a 1:1 receive (the transaction is open): keeps the change or the sender's chain. */
  storeInbound(from: string, content: GroupChangeContent | SenderKeyContent | Extract<MessageContent, { kind: 'group-text' }>): Promise<{ kind: 'none' }> | { kind: 'none' } {
    const vault = this.d.vault();
    if (content.kind === 'group-change') {
      const key = `${String(Date.now()).padStart(15, '0')}-${randomBytes(6).toString('hex')}`;
      vault.kvSet(INBOX, key, utf8(JSON.stringify({ from, change: content.change, state: content.state })));
      this.scheduleDrain();
      return { kind: 'none' };
    }
    if (content.kind === 'sender-key') {
      return this.d
        .e2e()
        .groups.processDistributionInReceive(from, Buffer.from(content.distribution, 'base64'))
        .then((dist) => {
          const record = this.load(content.groupId);
          if (record) {
            record.chains[from] = dist;
            this.save(content.groupId, record);
          } else {
            // The group itself may still be in the inbox: remember the chain until it is applied.
            vault.kvSet(INBOX, `chain-${content.groupId}-${from}`, utf8(dist));
          }
          return { kind: 'none' as const };
        });
    }
    return { kind: 'none' }; // a group text never comes over a 1:1 session
  }

  /** A sender key envelope from the relay: decrypted, checked against the group, stored. */
  async receiveEnvelope(env: RelayEnvelope): Promise<GroupReceipt> {
    this.drain();
    const e2e = this.d.e2e();
    const vault = this.d.vault();
    let outcome = 'dropped' as GroupReceipt;
    let storedIn = '';
    try {
      await e2e.groups.receive(env.from, env.body, (plaintext) => {
        const content = decodeContent(plaintext);
        if (content.kind !== 'group-text') return;
        const record = this.load(content.groupId);
        if (!record) return;
        const state = GroupLog.restore(record.log).state;
        // Only from a current member, on the chain they gave us, while we are a member.
        const dist = e2e.groups.distributionIdOf(env.body);
        if (!state.members.includes(env.from) || !state.members.includes(this.d.self()) || record.chains[env.from] !== dist) return;
        const id = this.d.withIdKey((k) => incomingMessageId(k, `${groupConversationId(content.groupId)}:${env.from}`, content.id));
        if (vault.getMessage(id)) {
          outcome = 'duplicate';
          return;
        }
        vault.appendMessages([
          { id, conversationId: groupConversationId(content.groupId), direction: 'in', sender: `${MEMBER_PREFIX}${env.from}`, sentAt: content.sentAt, receivedAt: Date.now(), text: content.text, state: 'received' },
        ]);
        outcome = 'stored';
        storedIn = content.groupId;
      });
    } catch (e) {
      // Undecryptable (no chain: removed, or from before we joined), replayed or malformed: acknowledged, never shown.
      if (e instanceof E2eError) return 'dropped';
      throw e;
    }
    if (outcome === 'stored') {
      this.d.stored();
      const record = this.load(storedIn);
      if (record) this.d.changed?.(this.info(record));
    }
    return outcome;
  }

  private scheduleDrain(): void {
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
    const keys = vault.kvKeys(INBOX).filter((k) => !k.startsWith('chain-')).sort();
    for (const key of keys) {
      const raw = vault.kvGet(INBOX, key);
      vault.kvDelete(INBOX, key);
      if (!raw) continue;
      try {
        const entry = json(raw) as { from: string; change: unknown; state?: unknown };
        this.apply(entry.from, parseSignedChange(entry.change), entry.state);
      } catch (e) {
        if (!(e instanceof GroupChangeRefused) && !(e instanceof SyntaxError)) throw e;
      }
    }
  }

  private apply(from: string, change: SignedChange, state: unknown): void {
    // Changes come from their authors, over the author's own session.
    if (change.body.author !== from) return;
    const self = this.d.self();
    const groupId = change.body.groupId;
    const record = this.load(groupId);
    const verify = this.verifier();
    if (!record) {
      let log: GroupLog;
      if (change.body.op.type === 'create') log = GroupLog.create(change, verify);
      else if (state !== undefined) log = GroupLog.joined(change, parseGroupState(state), self, verify);
      else return;
      if (!log.state.members.includes(self)) return;
      const fresh: GroupRecord = { log: log.data(), dist: newDistributionId(), holders: [], chains: {} };
      this.adoptChains(groupId, fresh, log.state.members);
      this.save(groupId, fresh);
      this.line(change);
      this.d.changed?.(this.info(fresh));
      return;
    }
    const log = GroupLog.restore(record.log);
    const before = log.state.members;
    if (log.offer(change, verify).result !== 'applied') return;
    this.reissueLost(record, log);
    record.log = log.data();
    this.afterApplied(record, before, log.state.members);
    this.save(groupId, record);
    this.line(change);
    this.d.changed?.(this.info(record));
  }

  /**
   * A membership change as a line in the group's history ("alice removed carol"), stored once
   * per change (its id comes from the change's hash), on every member's side that applied it.
   */
  private line(change: SignedChange): void {
    const { author, op, groupId } = change.body;
    const text =
      op.type === 'create' ? `${author} created the group "${op.name}"`
      : op.type === 'add' ? `${author} added ${op.handle}`
      : op.type === 'remove' ? `${author} removed ${op.handle}`
      : op.type === 'promote' ? `${author} made ${op.handle} an admin`
      : op.type === 'rename' ? `${author} renamed the group to "${op.name}"`
      : `${author} left the group`;
    const conv = groupConversationId(groupId);
    const id = this.d.withIdKey((k) => incomingMessageId(k, `${conv}:change`, changeHash(change)));
    const now = Date.now();
    this.d.vault().appendMessages([{ id, conversationId: conv, direction: 'in', sender: `${LINE_PREFIX}${author}`, sentAt: now, receivedAt: now, text, state: 'received' }]);
  }

  /**
   * The convergence rule's other half: a change of ours that lost to a crossing one (same
   * revision, larger hash) is issued again, once, on the new head, if it still applies there.
   */
  private reissueLost(record: GroupRecord, log: GroupLog): void {
    const self = this.d.self();
    const done = new Set(record.reissued ?? []);
    for (const c of log.data().changes) {
      const hash = changeHash(c);
      if (c.body.author !== self || done.has(hash) || log.onChain(hash)) continue;
      done.add(hash);
      const before = log.state;
      const again = this.sign({ ...c.body, revision: before.revision, parent: before.head });
      if (log.offer(again, this.verifier()).result !== 'applied') continue;
      const to = [...new Set([...before.members, ...log.state.members])].filter((h) => h !== self);
      const joiner = again.body.op.type === 'add' ? again.body.op.handle : undefined;
      const snapshot = GroupLog.restore(log.data());
      setImmediate(() => {
        void this.d.activity(() => this.sendChange(snapshot, again, to, joiner)).catch(() => undefined);
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
      record.chains[h] = Buffer.from(raw).toString('utf8');
      vault.kvDelete(INBOX, key);
    }
  }

  // ---------------------------------------------------------------- helpers

  private async ensureSession(handle: string): Promise<void> {
    const e2e = this.d.e2e();
    if (await e2e.hasSession(handle)) return;
    const conn = await this.d.connection();
    let bundle: Uint8Array;
    try {
      bundle = await conn.keys.fetch(handle);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'NOT_FOUND' || code === 'BAD_REQUEST') throw new ApiError('UNKNOWN_HANDLE', `No one is registered as ${handle} on this relay.`);
      throw e;
    }
    await this.d.activity(() => e2e.startSession(handle, bundle));
  }

  private sign(body: SignedChange['body']): SignedChange {
    const groups = this.d.e2e().groups;
    return sign(body, (m) => groups.sign(m));
  }

  private verifier(): Verify {
    const groups = this.d.e2e().groups;
    return (author, message, sig) => groups.verify(author, message, sig);
  }

  /** Idempotency keys: keyed hashes, 32 hex characters like every other send's (messenger/ids.ts). */
  private idem(reqId: string, part: string): string {
    return this.d.withIdKey((k) => createHmac('sha256', k).update(JSON.stringify(['send', 'group', reqId, part])).digest().subarray(0, 16).toString('hex'));
  }

  private load(groupId: string): GroupRecord | undefined {
    if (!/^[0-9a-f]{32}$/.test(groupId)) return undefined;
    const raw = this.d.vault().kvGet(GROUPS, groupId);
    return raw ? (json(raw) as GroupRecord) : undefined;
  }

  private require(groupId: string): GroupRecord {
    const r = this.load(groupId);
    if (!r) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such group.');
    return r;
  }

  private save(groupId: string, record: GroupRecord): void {
    this.d.vault().kvSet(GROUPS, groupId, utf8(JSON.stringify(record)));
  }

  private info(record: GroupRecord): GroupInfo {
    const s = GroupLog.restore(record.log).state;
    return {
      groupId: s.groupId,
      conversationId: groupConversationId(s.groupId),
      name: s.name,
      creator: s.creator,
      members: s.members,
      admins: s.admins,
      revision: s.revision,
      isMember: s.members.includes(this.d.self()),
    };
  }

  private view(groupId: string, m: StoredMessage): GroupMessage {
    if (m.sender.startsWith(LINE_PREFIX)) {
      return { id: m.id, groupId, direction: m.direction, sender: m.sender.slice(LINE_PREFIX.length), sentAt: m.sentAt, receivedAt: m.receivedAt, text: m.text, state: m.state, system: true };
    }
    const sender = m.direction === 'out' ? this.d.self() : m.sender.slice(MEMBER_PREFIX.length);
    return { id: m.id, groupId, direction: m.direction, sender, sentAt: m.sentAt, receivedAt: m.receivedAt, text: m.text, state: m.state };
  }
}
