// Group chats (docs/messaging.md "Groups"): membership as a signed change log (group-state.ts),
// group messages with sender keys (main/e2e/sender-keys.ts), fan-out in one relay request
// (sendMany). What a member keeps is sealed in the vault kv: the log, its own current chain and
// who already holds it, and the chain each member uses. Messages are stored like 1:1 ones under
// the conversation id `g<group id>`, so history, search and deletion read them the same way.
//
// Changes reach members over the 1:1 sessions (received ones: group-membership.ts); requests
// leave through the sealed outbox (group-delivery.ts); the record and helpers: group-store.ts.
import { randomBytes } from 'node:crypto';
import { ApiError, type GroupInfo, type GroupMessage, type ParamsOf, type ResultOf } from '../../shared/api.ts';
import { E2eError, encodeContent, type GroupChangeContent, type MessageContent, type SenderKeyContent, type SenderKeyRequestContent } from '../e2e/index.ts';
import { isSenderKeyEnvelope, newDistributionId } from '../e2e/sender-keys.ts';
import type { Envelope as RelayEnvelope } from '../net/mailbox.ts';
import type { StoredMessage } from '../vault/api.ts';
import { storedDraft, storeDraft } from './conversations.ts';
import { isTombstone } from './delete-for-everyone.ts';
import { applyGroupDelete, GroupDeletes, OWN_CONTENT_IDS } from './group-delete.ts';
import { groupRequestSent, sendChange, sendGroupMessage } from './group-delivery.ts';
import { decodeGroupPlaintext, GroupFiles } from './group-files.ts';
import { GroupMembership } from './group-membership.ts';
import { GroupRejoin } from './group-rejoin.ts';
import { groupQuote, keepQuotable, linkIncomingReply, linkReply, quotableAuthors, replyContentId } from './group-reply.ts';
import { creationBody, GroupLog, type GroupOp, type GroupState } from './group-state.ts';
import {
  ensureSession,
  groupConversationId,
  groupInfo,
  GROUPS,
  LINE_PREFIX,
  loadGroup,
  MEMBER_PREFIX,
  membershipLine,
  requireGroup,
  saveGroup,
  signChange,
  stateInfo,
  verifier,
  type GroupDeps,
  type GroupRecord,
} from './group-store.ts';
import { incomingMessageId, outgoingMessageId } from './ids.ts';

export { isSenderKeyEnvelope };
export { groupConversationId, type GroupDeps };

export type GroupReceipt = 'stored' | 'duplicate' | 'dropped';

export function isGroupContent(c: MessageContent): c is GroupChangeContent | SenderKeyContent | SenderKeyRequestContent | Extract<MessageContent, { kind: 'group-text' }> {
  return c.kind === 'group-change' || c.kind === 'sender-key' || c.kind === 'sender-key-request' || c.kind === 'group-text';
}

export class GroupService {
  private readonly membership: GroupMembership;
  /** Chains after a restore from a backup (group-rejoin.ts). */
  private readonly rejoin: GroupRejoin;
  /** Delete for me and for everyone (group-delete.ts). */
  private readonly deletes: GroupDeletes;
  /** Files sent to and received from the group (group-files.ts). */
  private readonly files: GroupFiles;

  constructor(private readonly d: GroupDeps) {
    this.membership = new GroupMembership(d);
    this.rejoin = new GroupRejoin(d);
    this.deletes = new GroupDeletes(d);
    this.files = new GroupFiles(d, () => this.drain());
  }

  // ---------------------------------------------------------------- reading

  /**
   * A group chat's sealed draft, as a 1:1 chat's (conversations.ts): the same kv namespace, keyed
   * by the group's conversation id ('g' + group id); UNKNOWN_CONVERSATION for no such group.
   */
  readDraft(conversationId: string): { text: string } {
    this.requireDraftGroup(conversationId);
    return storedDraft(this.d.vault(), conversationId);
  }

  /** Keeps (or with blank text removes) a group chat's draft. Run inside a vault activity (it writes). */
  writeDraft(conversationId: string, text: string): void {
    this.requireDraftGroup(conversationId);
    storeDraft(this.d.vault(), conversationId, text);
  }

  private requireDraftGroup(conversationId: string): void {
    const groupId = conversationId.slice(1);
    if (groupConversationId(groupId) !== conversationId) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such group.');
    requireGroup(this.d, groupId);
  }

  list(): GroupInfo[] {
    this.drain();
    const vault = this.d.vault();
    return vault
      .kvKeys(GROUPS)
      .map((id) => groupInfo(this.d, loadGroup(this.d, id)!))
      .sort((a, b) => a.name.localeCompare(b.name) || a.groupId.localeCompare(b.groupId));
  }

  infoOf(groupId: string): GroupInfo {
    this.drain();
    return groupInfo(this.d, requireGroup(this.d, groupId));
  }

  /** The contract's groupHistory: the page is shown, so received texts under a timer start their countdown. */
  historyShown(p: ParamsOf<'groupHistory'>): ResultOf<'groupHistory'> {
    return this.history(p, true);
  }

  /** A page of the group's history (`shown`: returned to the user; internal reads leave countdowns alone). */
  history(p: ParamsOf<'groupHistory'>, shown = false): ResultOf<'groupHistory'> {
    this.drain();
    requireGroup(this.d, p.groupId);
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
    // Received texts under a timer start their countdown now; expired ones (their deletion's slice not run yet) are left out.
    const now = Date.now();
    const timers = this.d.timers?.()?.shownStored(rows, shown, now);
    const timerOf = (id: string): { timerSeconds: number; expiresAt: number | null } | undefined => {
      const t = timers?.get(id);
      return t ? { timerSeconds: t.seconds, expiresAt: t.expiresAt } : undefined;
    };
    return {
      messages: rows.filter((m) => !((timerOf(m.id)?.expiresAt ?? Infinity) <= now)).map((m) => ({ ...this.view(p.groupId, m), ...timerOf(m.id) })),
      hasOlder: first ? vault.pageMessages(conv, { before: first.orderKey, limit: 1 }).length > 0 : false,
    };
  }

  /**
   * The group's newest message as history() would return it (the chat list's entry): one row, no
   * page, no older-check, no group record read (the entry asking exists only for a group whose
   * entry history() computed, and groups are never deleted). An expired one shows as none, as in
   * history().
   */
  newest(groupId: string): GroupMessage | undefined {
    const [m] = this.d.vault().pageMessages(groupConversationId(groupId), { limit: 1 });
    if (!m) return undefined;
    const now = Date.now();
    const t = this.d.timers?.()?.shownStored([m], false, now).get(m.id);
    if (t && (t.expiresAt ?? Infinity) <= now) return undefined;
    return { ...this.view(groupId, m), ...(t ? { timerSeconds: t.seconds, expiresAt: t.expiresAt } : {}) };
  }

  // ---------------------------------------------------------------- membership changes

  async create(p: ParamsOf<'groupCreate'>): Promise<GroupInfo> {
    const self = this.d.self();
    const members = [...new Set(p.members)].filter((h) => h !== self);
    if (members.length === 0) throw new ApiError('INVALID_ARGUMENT', 'A group needs at least one other member.');
    for (const h of members) await ensureSession(this.d, h);
    return this.d.activity(async () => {
      // The id is a hash of the creation (group-ops.ts): no one else's creation can claim it.
      const change = signChange(this.d, creationBody(self, p.name, members));
      const groupId = change.body.groupId;
      const log = GroupLog.create(change, verifier(this.d));
      const record: GroupRecord = { log: log.data(), dist: newDistributionId(), holders: [], chains: {} };
      saveGroup(this.d, groupId, record);
      membershipLine(this.d, change);
      this.d.changed?.(groupInfo(this.d, record));
      await sendChange(this.d, log, change, members, undefined);
      return groupInfo(this.d, record);
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

  /** The group's disappearing timer: an admin's signed change like a rename. */
  setTimer(p: ParamsOf<'groupSetTimer'>): Promise<GroupInfo> {
    return this.change(p.groupId, { type: 'timer', seconds: p.seconds });
  }

  /** Whether every member may add members: an admin's signed change like a rename. */
  allowAdd(p: ParamsOf<'groupAllowAdd'>): Promise<GroupInfo> {
    return this.change(p.groupId, { type: 'allow-add', on: p.on });
  }

  private async change(groupId: string, op: GroupOp, joiner?: string): Promise<GroupInfo> {
    this.drain();
    const before = GroupLog.restore(requireGroup(this.d, groupId).log).state;
    if (joiner !== undefined) await ensureSession(this.d, joiner);
    for (const h of before.members) if (h !== this.d.self()) await ensureSession(this.d, h);
    return this.d.activity(async () => {
      const record = requireGroup(this.d, groupId);
      const log = GroupLog.restore(record.log);
      const s = log.state;
      const self = this.d.self();
      const change = signChange(this.d, { v: 1, groupId, revision: s.revision, parent: s.head, author: self, op });
      const result = log.offer(change, verifier(this.d));
      if (result.result !== 'applied') {
        const reason = result.result === 'refused' ? result.reason : result.result;
        if (reason === 'not-admin' || reason === 'not-member') throw new ApiError('FORBIDDEN', 'Only an admin of the group may do that.');
        throw new ApiError('INVALID_ARGUMENT', `That change does not apply to the group (${reason}).`);
      }
      // The removed member and everyone left learn of it; a joiner gets the chain it starts from.
      const to = [...new Set([...s.members, ...log.state.members])].filter((h) => h !== self);
      record.log = log.data();
      this.membership.afterApplied(record, s.members, log.state.members);
      saveGroup(this.d, groupId, record);
      membershipLine(this.d, change);
      this.d.changed?.(groupInfo(this.d, record));
      await sendChange(this.d, log, change, to, joiner);
      // Another member's change may have been applied during the send (a drain is not held off by
      // it): the answer is the group as stored now, not as this change left it.
      return groupInfo(this.d, loadGroup(this.d, groupId) ?? record);
    });
  }

  // ---------------------------------------------------------------- sending

  async send(p: ParamsOf<'groupSend'>): Promise<GroupMessage> {
    this.drain();
    const pre = GroupLog.restore(requireGroup(this.d, p.groupId).log).state;
    const self = this.d.self();
    if (!pre.members.includes(self)) throw new ApiError('FORBIDDEN', 'You are no longer a member of this group.');
    // Checked before anything is stored or sent (UNKNOWN_MESSAGE changes nothing).
    const quotedCid = p.replyTo === undefined ? undefined : replyContentId(this.d.vault(), p.groupId, p.replyTo);
    for (const h of pre.members) if (h !== self) await ensureSession(this.d, h);
    return this.d.activity(async () => {
      const vault = this.d.vault();
      const e2e = this.d.e2e();
      const record = requireGroup(this.d, p.groupId);
      const state = GroupLog.restore(record.log).state;
      const contentId = randomBytes(16).toString('hex');
      const now = Date.now();
      const id = this.d.withIdKey((k) => outgoingMessageId(k, contentId));
      const conv = groupConversationId(p.groupId);
      const timer = state.timer > 0 ? state.timer : undefined;
      const recipients = state.members.filter((h) => h !== self && !e2e.identityStatus(h).pending);
      // The message and its records in one durable commit (each write alone is one: bench/groups).
      const stored = vault.transaction(() => {
        const [m] = vault.appendMessages([{ id, conversationId: conv, direction: 'out', sender: 'self', sentAt: now, receivedAt: now, text: p.text, state: 'queued' }]);
        if (!m) throw new Error('the vault did not store the message');
        if (p.replyTo !== undefined) linkReply(vault, id, p.replyTo);
        this.d.timers?.()?.sent(id, conv, timer, now);
        this.d.sent?.(id, p.groupId, recipients);
        vault.kvSet(OWN_CONTENT_IDS, id, Buffer.from(contentId, 'utf8')); // what a delete for everyone names
        return m;
      });
      const text = encodeContent({ v: 1, kind: 'group-text', groupId: p.groupId, id: contentId, sentAt: now, text: p.text, ...(quotedCid ? { replyTo: quotedCid } : {}), ...(timer ? { timer } : {}) });
      const handed = await sendGroupMessage(this.d, p.groupId, record, recipients, text, id);
      this.d.stored();
      if (!handed) {
        vault.updateMessageState(id, 'sent');
        return this.view(p.groupId, { ...stored, state: 'sent' });
      }
      return this.view(p.groupId, vault.getMessage(id) ?? stored);
    });
  }

  /** The contract's deleteMessage for a group conversation (group-delete.ts). */
  deleteMessage(p: ParamsOf<'deleteMessage'>): Promise<ResultOf<'deleteMessage'>> {
    this.drain();
    return this.deletes.delete(p);
  }

  /** The relay accepted a group request: its message is 'sent' (also after a restart, through onDurable). */
  onSent(outboxId: string): void {
    groupRequestSent(this.d, outboxId);
  }

  // ---------------------------------------------------------------- receiving

  /** Inside a 1:1 receive (the transaction is open): keeps the change or the sender's chain. */
  storeInbound(from: string, content: GroupChangeContent | SenderKeyContent | SenderKeyRequestContent | Extract<MessageContent, { kind: 'group-text' }>): Promise<{ kind: 'none' }> | { kind: 'none' } {
    if (content.kind === 'group-text') return { kind: 'none' }; // a group text never comes over a 1:1 session
    if (content.kind === 'sender-key-request') return this.rejoin.storeRequest(from, content);
    return this.membership.storeInbound(from, content);
  }

  /** A sender key envelope from the relay: decrypted, checked against the group, stored. */
  async receiveEnvelope(env: RelayEnvelope): Promise<GroupReceipt> {
    this.drain();
    const e2e = this.d.e2e();
    const vault = this.d.vault();
    let outcome = 'dropped' as GroupReceipt;
    // The group as read once for this message: checked against, then announced.
    let storedIn = undefined as GroupState | undefined;
    let file: string | undefined;
    try {
      await e2e.groups.receive(env.from, env.body, (plaintext) => {
        const content = decodeGroupPlaintext(plaintext);
        if (content.kind !== 'group-text' && content.kind !== 'group-delete' && content.kind !== 'group-file') return;
        const record = loadGroup(this.d, content.groupId);
        if (!record) return;
        const log = GroupLog.restore(record.log);
        const state = log.state;
        // Only from a current member, on the chain they gave us, while we are a member.
        const dist = e2e.groups.distributionIdOf(env.body);
        if (!state.members.includes(env.from) || !state.members.includes(this.d.self()) || record.chains[env.from] !== dist) return;
        if (content.kind === 'group-delete') {
          if (applyGroupDelete(this.d, env.from, content).length > 0) {
            outcome = 'stored';
            storedIn = state;
          }
          return;
        }
        if (content.kind === 'group-file') {
          file = this.files.storeInbound(env.from, content, state.members.length);
          outcome = file === undefined ? 'duplicate' : 'stored';
          storedIn = state;
          return;
        }
        const id = this.d.withIdKey((k) => incomingMessageId(k, `${groupConversationId(content.groupId)}:${env.from}`, content.id));
        if (vault.getMessage(id)) {
          outcome = 'duplicate';
          return;
        }
        vault.appendMessages([
          { id, conversationId: groupConversationId(content.groupId), direction: 'in', sender: `${MEMBER_PREFIX}${env.from}`, sentAt: content.sentAt, receivedAt: Date.now(), text: content.text, state: 'received' },
        ]);
        keepQuotable(vault, id, content.id);
        if (content.replyTo !== undefined) linkIncomingReply(this.d, vault, content.groupId, quotableAuthors(log.chainChanges(), state.members), id, content.replyTo);
        this.d.received?.({ id, groupId: content.groupId, from: env.from, contentId: content.id, members: state.members.length });
        // Under the timer it was sent with, counting down from when it is first shown (groupHistory), as in a 1:1 chat.
        this.d.timers?.()?.received(id, groupConversationId(content.groupId), content.timer);
        outcome = 'stored';
        storedIn = state;
      });
    } catch (e) {
      // Undecryptable (no chain: removed, or from before we joined), replayed or malformed: acknowledged, never shown.
      if (e instanceof E2eError) return 'dropped';
      throw e;
    }
    if (outcome === 'stored' && storedIn) {
      this.d.stored();
      this.d.changed?.(stateInfo(this.d, storedIn));
      if (file !== undefined) this.files.fetchSmall(file);
    }
    return outcome;
  }

  /** Applies received changes in arrival order (group-membership.ts). */
  drain(): void {
    this.membership.drain();
    this.rejoin.kick();
  }

  private view(groupId: string, m: StoredMessage): GroupMessage {
    if (m.sender.startsWith(LINE_PREFIX)) {
      return { id: m.id, groupId, direction: m.direction, sender: m.sender.slice(LINE_PREFIX.length), sentAt: m.sentAt, receivedAt: m.receivedAt, text: m.text, state: m.state, system: true };
    }
    const sender = m.direction === 'out' ? this.d.self() : m.sender.slice(MEMBER_PREFIX.length);
    const vault = this.d.vault();
    // A tombstone shows nothing of what it was, its quote included.
    const deleted = isTombstone(vault, m.id);
    const replyTo = deleted ? undefined : groupQuote(vault, this.d.self(), m);
    return { id: m.id, groupId, direction: m.direction, sender, sentAt: m.sentAt, receivedAt: m.receivedAt, text: m.text, state: m.state, ...(deleted ? { deleted: true as const } : {}), ...(replyTo !== undefined ? { replyTo } : {}) };
  }
}
