// Deleting group messages (the rules of 1:1 chats, whose side is delete-for-everyone.ts).
// "Delete for me" removes one message of the group's history from this profile only. "Delete for
// everyone": the author, within 24 h of sending, replaces its own text by a tombstone here and
// sends a 'group-delete' naming its content id, encrypted once with the author's chain like a
// group text and fanned out in one relay request; each member replaces that author's message by
// a tombstone (the id it is kept under derives from the author and the content id, so a delete
// can only reach its sender's own messages), within the same windows as a 1:1 delete.
import { ApiError, type ParamsOf, type ResultOf } from '../../shared/api.ts';
import type { SendManyParams } from '../../shared/protocol/methods.ts';
import { encodeContent, type GroupDeleteContent } from '../e2e/index.ts';
import type { StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { deleteAttachmentOf, recordOf } from './attachment-store.ts';
import { arrivedWithinDeleteWindow, DELETE_FOR_EVERYONE_WINDOW_MS, isTombstone, TOMBSTONES, withinDeleteWindow } from './delete-for-everyone.ts';
import { deleteFromVault } from './deletion.ts';
import { handGroupRequest } from './group-delivery.ts';
import { GroupLog } from './group-state.ts';
import { groupConversationId, groupInfo, idem, LINE_PREFIX, requireGroup, type GroupDeps } from './group-store.ts';
import { incomingMessageId, newContentId, textIdempotencyKey } from './ids.ts';
import { resendWithdrawnReceipts } from './receipt-resend.ts';
import { sendQueuedWithdrawals } from './withdraw-queue.ts';
import { randomBytes } from 'node:crypto';

/** Sealed kv: own group message id -> its content id (what a delete for everyone names). */
export const OWN_CONTENT_IDS = 'group-own-content-ids';
const GROUP_CONVERSATION = /^g[0-9a-f]{32}$/;

/** Whether a conversation id is a group's (`g<group id>`): its deletes go through this module. */
export function isGroupConversation(conversationId: string): boolean {
  return GROUP_CONVERSATION.test(conversationId);
}

/**
 * Marks first (the view shows a tombstone at once), then deletes a file's bytes and record as a
 * 1:1 delete for everyone does (the author's blob withdrawn at the relay), then blanks the text
 * (vault/messages/redact.ts). Vault writes only.
 */
function tombstone(vault: Vault, conversationId: string, ids: readonly string[]): void {
  if (ids.length === 0) return;
  // A file without a caption has blank text: it is still redacted, so search drops its name.
  const withFile = ids.filter((id) => recordOf(vault, id) !== undefined);
  vault.transaction(() => {
    for (const id of ids) vault.kvSet(TOMBSTONES, id, Buffer.from('1'));
  });
  for (const id of ids) deleteAttachmentOf(vault, id, { forEveryone: true });
  vault.redactMessages(conversationId, ids, withFile);
}

/**
 * A member's delete for everyone, inside the receive of its envelope (vault writes only), after
 * groups.ts checked that `from` is a current member sending on its chain. Each named content id
 * maps to the id of *that member's* message; refused (skipped): another group's or conversation's,
 * a tombstone already, one sent more than 24 h before the delete (author's clock), one received
 * here more than 24 h plus the allowance ago (our clock). Returns the ids now tombstones.
 */
export function applyGroupDelete(d: Pick<GroupDeps, 'vault' | 'withIdKey'>, from: string, content: GroupDeleteContent, now: number = Date.now()): string[] {
  const vault = d.vault();
  const conv = groupConversationId(content.groupId);
  const targets: string[] = [];
  for (const cid of content.ids) {
    const id = d.withIdKey((k) => incomingMessageId(k, `${conv}:${from}`, cid));
    const m = vault.getMessage(id);
    if (!m || m.conversationId !== conv || m.direction !== 'in' || m.sender.startsWith(LINE_PREFIX) || isTombstone(vault, id)) continue;
    if (!withinDeleteWindow(m.sentAt, content.sentAt) || !arrivedWithinDeleteWindow(m.receivedAt, now)) continue;
    targets.push(id);
  }
  tombstone(vault, conv, targets);
  return targets;
}

export class GroupDeletes {
  constructor(private readonly d: GroupDeps) {}

  /** The contract's deleteMessage for a group conversation. */
  delete(p: ParamsOf<'deleteMessage'>): Promise<ResultOf<'deleteMessage'>> {
    const groupId = p.conversationId.slice(1);
    return p.forEveryone === true ? this.forEveryone(groupId, p.messageId) : this.forMe(groupId, p.messageId);
  }

  private messageOf(groupId: string, messageId: string): StoredMessage {
    requireGroup(this.d, groupId);
    const m = this.d.vault().getMessage(messageId);
    if (!m || m.conversationId !== groupConversationId(groupId)) throw new ApiError('UNKNOWN_MESSAGE', 'There is no such message in this group.');
    return m;
  }

  private forMe(groupId: string, messageId: string): Promise<ResultOf<'deleteMessage'>> {
    return this.d.activity(async () => {
      const vault = this.d.vault();
      const m = this.messageOf(groupId, messageId);
      const sendIdOf = (contentId: string): string => this.d.withIdKey((k) => textIdempotencyKey(k, contentId));
      const deleted = deleteFromVault(vault, sendIdOf, m.conversationId, [m], false);
      vault.kvDelete(OWN_CONTENT_IDS, m.id);
      // Our receipts naming it that the relay still holds are withdrawn, once; their rest goes again (receipt-resend.ts).
      sendQueuedWithdrawals(vault, this.d.link());
      const resend = { current: () => ({ vault: this.d.vault(), connection: this.d.link(), registration: { e2e: this.d.e2e() } }) };
      // In the send queue, as deleting.ts: two runs at once would send the same rest twice.
      void this.d.enqueue(() => this.d.activity(() => resendWithdrawnReceipts(resend))).catch(() => undefined);
      this.after(groupId);
      return { deleted: deleted.length };
    });
  }

  /** Our own text, within 24 h: the typed refusals change nothing; a tombstone already is 0. */
  private ownContentId(groupId: string, messageId: string, now: number): { m: StoredMessage; contentId: string } | undefined {
    const vault = this.d.vault();
    const m = this.messageOf(groupId, messageId);
    if (m.direction !== 'out' || m.sender !== 'self') throw new ApiError('FORBIDDEN', 'Only your own messages can be deleted for everyone; delete it for you instead.');
    if (isTombstone(vault, m.id)) return undefined;
    if (now - m.sentAt > DELETE_FOR_EVERYONE_WINDOW_MS) {
      throw new ApiError('NOT_AVAILABLE', 'A message can be deleted for everyone only within 24 hours of sending it; delete it for you instead.');
    }
    const cid = vault.kvGet(OWN_CONTENT_IDS, m.id);
    if (!cid) throw new ApiError('NOT_AVAILABLE', 'This message cannot be deleted for everyone; delete it for you instead.');
    return { m, contentId: Buffer.from(cid).toString('utf8') };
  }

  private forEveryone(groupId: string, messageId: string): Promise<ResultOf<'deleteMessage'>> {
    return this.d.activity(async () => {
      const now = Date.now();
      const target = this.ownContentId(groupId, messageId, now);
      if (!target) return { deleted: 0 };
      const record = requireGroup(this.d, groupId);
      const state = GroupLog.restore(record.log).state;
      const self = this.d.self();
      if (!state.members.includes(self)) throw new ApiError('FORBIDDEN', 'You are no longer a member of this group.');
      const e2e = this.d.e2e();
      // Those who hold our chain (anyone else never got a text on it) and may get something new.
      const to = state.members.filter((h) => h !== self && record.holders.includes(h) && !e2e.identityStatus(h).pending);
      const content: GroupDeleteContent = { v: 1, kind: 'group-delete', groupId, id: newContentId(), sentAt: now, ids: [target.contentId] };
      // Encrypted and in the sealed outbox first (a failure changes nothing), then the tombstone here.
      if (to.length > 0) {
        const body = await e2e.groups.encrypt(record.dist, encodeContent(content));
        const reqId = randomBytes(16).toString('hex');
        const items: SendManyParams['items'] = to.map((h) => ({ to: h, idem: idem(this.d, reqId, h), b: 0 }));
        handGroupRequest(this.d, [body], items, reqId, undefined);
      }
      tombstone(this.d.vault(), target.m.conversationId, [target.m.id]);
      this.after(groupId);
      return { deleted: 1 };
    });
  }

  /** Search drops the words; the open chat reloads (the `group` event). */
  private after(groupId: string): void {
    this.d.stored();
    this.d.changed?.(groupInfo(this.d, requireGroup(this.d, groupId)));
  }
}
