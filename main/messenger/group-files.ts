// Files in group chats (docs/protocol.md §9a "Files in groups"): the file is sealed and
// uploaded once as a relay blob naming every current member but us as its recipients (a member
// added later is not named, so the relay refuses it the blob; a removed one is not named either),
// then announced in ONE group message encrypted with our sender-key chain and fanned out like a
// group text (group-delivery.ts sendGroupMessage). The announcement carries the 1:1 attachment
// descriptor (key, digest, size, type, name, caption); members store it as a 1:1 attachment is
// stored (attachment-store.ts), fetch it as one is (attachments.ts download: checked against the
// digest, sealed in chunks), and delete it with the message.
//
// The 'group-file' content lives here, not in main/e2e/content.ts: it is only ever carried inside
// a sender-key message, which this side encodes and decodes (same JSON and padding as every content).
import { z } from 'zod';
import { ApiError, GROUP_ID_RE, type Message } from '../../shared/api.ts';
import { BadContent, UnsupportedContent } from '../../shared/protocol/e2e-errors.ts';
import { attachmentContentSchema, decodeContent, padJson, unpadJson, type MessageContent } from '../e2e/content.ts';
import type { Vault } from '../vault/index.ts';
import { linkAttachment, STAGING, writeRecord, type AttachmentRecord } from './attachment-store.ts';
import { autoDownload, newAttachmentId, storeSenderCopy, type UploadedAttachment } from './attachments.ts';
import { OWN_CONTENT_IDS } from './group-delete.ts';
import { sendGroupMessage } from './group-delivery.ts';
import { keepQuotable } from './group-reply.ts';
import { GroupLog, type GroupState } from './group-state.ts';
import { ensureSession, groupConversationId, groupInfo, MEMBER_PREFIX, requireGroup, type GroupDeps } from './group-store.ts';
import { incomingMessageId, newContentId, outgoingMessageId } from './ids.ts';
import { storedView } from './stored-view.ts';

export const groupFileContentSchema = attachmentContentSchema.extend({
  kind: z.literal('group-file'),
  groupId: z.string().regex(GROUP_ID_RE),
});
export type GroupFileContent = z.infer<typeof groupFileContentSchema>;

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

/** JSON then ISO/IEC 7816-4 padding to PAD_BLOCK, as main/e2e/content.ts encodeContent. */
export function encodeGroupFile(content: z.input<typeof groupFileContentSchema>): Uint8Array {
  return padJson(groupFileContentSchema.parse(content));
}

function decodeGroupFile(bytes: Uint8Array): GroupFileContent {
  const result = groupFileContentSchema.safeParse(unpadJson(bytes));
  if (!result.success) throw new BadContent(z.prettifyError(result.error));
  return result.data;
}

/** A sender-key message's plaintext: a content of main/e2e/content.ts, or a group file's announcement. */
export function decodeGroupPlaintext(bytes: Uint8Array): MessageContent | GroupFileContent {
  try {
    return decodeContent(bytes);
  } catch (e) {
    // The one kind content.ts does not know: parsed once more, by its own schema.
    if (e instanceof UnsupportedContent && e.kind === 'group-file') return decodeGroupFile(bytes);
    throw e;
  }
}

/**
 * Every GroupFiles of this process (one per messenger), found by the unlocked vault: the
 * contract's sendFile and the window's upload (attachments-api.ts, attachment-ui.ts) reach a
 * group through it, since the facade (main/messenger.ts) lends them no group service.
 */
const instances = new Set<WeakRef<GroupFiles>>();

/** The group files of the messenger whose unlocked vault this is. */
export function groupFilesOf(vault: Vault): GroupFiles {
  for (const ref of instances) {
    const files = ref.deref();
    if (!files) instances.delete(ref);
    else if (files.holds(vault)) return files;
  }
  throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such group.');
}

export class GroupFiles {
  /** `drain`: applies received membership changes first (groups.ts), so a file goes to the members as they are now. */
  constructor(
    private readonly d: GroupDeps,
    private readonly drain: () => void,
  ) {
    instances.add(new WeakRef(this));
  }

  /** Whether this is the unlocked profile's vault. */
  holds(vault: Vault): boolean {
    try {
      return this.d.vault() === vault;
    } catch {
      return false;
    }
  }

  /** The group's state while we are a member (UNKNOWN_CONVERSATION: no such group; FORBIDDEN: we are not a member). */
  private memberState(groupId: string): GroupState {
    this.drain();
    const state = GroupLog.restore(requireGroup(this.d, groupId).log).state;
    if (!state.members.includes(this.d.self())) throw new ApiError('FORBIDDEN', 'You are no longer a member of this group.');
    return state;
  }

  /**
   * Who a file for the group goes to now: every member but us whose identity is accepted, the
   * blob's recipients at the relay and the announcement's (at most 255: MAX_GROUP_MEMBERS - 1,
   * under the relay's MAX_BLOB_RECIPIENTS of 1,000). INVALID_ARGUMENT when no one is left.
   */
  recipients(groupId: string): string[] {
    const self = this.d.self();
    const e2e = this.d.e2e();
    const to = this.memberState(groupId).members.filter((h) => h !== self && !e2e.identityStatus(h).pending).sort();
    if (to.length === 0) throw new ApiError('INVALID_ARGUMENT', 'No other member of this group can receive a file now.');
    return to;
  }

  /**
   * Stores our copy and the message (its text is the caption), then announces the uploaded file
   * to the members, in the send queue like a group text. Only the members named at upload can
   * fetch the blob: one added in between gets the message and is refused the file by the relay.
   */
  announce(groupId: string, up: UploadedAttachment, caption: string | undefined): Promise<Message> {
    return this.d.enqueue(async () => {
      const self = this.d.self();
      for (const h of this.memberState(groupId).members) if (h !== self) await ensureSession(this.d, h);
      return this.d.activity(() => this.announceNow(groupId, up, caption));
    });
  }

  private async announceNow(groupId: string, up: UploadedAttachment, caption: string | undefined): Promise<Message> {
    const vault = this.d.vault();
    const e2e = this.d.e2e();
    const self = this.d.self();
    const record = requireGroup(this.d, groupId);
    const state = this.memberState(groupId);
    const recipients = state.members.filter((h) => h !== self && !e2e.identityStatus(h).pending);
    const contentId = newContentId();
    const now = Date.now();
    const id = this.d.withIdKey((k) => outgoingMessageId(k, contentId));
    const conv = groupConversationId(groupId);
    const timer = state.timer > 0 ? state.timer : undefined;
    const attachment: AttachmentRecord = {
      id: up.stagedId ?? newAttachmentId(), messageId: id, name: up.name, type: up.type, size: up.ref.size,
      blob: b64(up.ref.blobId), key: b64(up.ref.key), digest: b64(up.ref.digest), downloaded: false,
    };
    if (up.stagedId === undefined) await storeSenderCopy(vault, attachment, up.path, up.ranges);
    // The record, the message and what receipts and a delete for everyone need: one commit.
    const stored = vault.transaction(() => {
      writeRecord(vault, { ...attachment, downloaded: true });
      vault.kvDelete(STAGING, attachment.id);
      linkAttachment(vault, id, attachment.id);
      const [m] = vault.appendMessages([{ id, conversationId: conv, direction: 'out', sender: 'self', sentAt: now, receivedAt: now, text: caption ?? '', state: 'queued' }]);
      if (!m) throw new Error('the vault did not store the message');
      this.d.timers?.()?.sent(id, conv, timer, now);
      this.d.sent?.(id, groupId, recipients);
      vault.kvSet(OWN_CONTENT_IDS, id, Buffer.from(contentId, 'utf8'));
      return m;
    });
    try {
      const plaintext = encodeGroupFile({
        v: 1, kind: 'group-file', groupId, id: contentId, sentAt: now, blob: attachment.blob, key: attachment.key, digest: attachment.digest,
        size: attachment.size, type: attachment.type, name: attachment.name, ...(caption !== undefined ? { caption } : {}), ...(timer !== undefined ? { timer } : {}),
      });
      if (!(await sendGroupMessage(this.d, groupId, record, recipients, plaintext, id))) vault.updateMessageState(id, 'sent');
    } catch (e) {
      vault.updateMessageState(id, 'failed');
      throw e;
    }
    this.d.stored();
    this.d.changed?.(groupInfo(this.d, requireGroup(this.d, groupId)));
    const now2 = vault.getMessage(id) ?? stored;
    return storedView(now2, timer !== undefined ? { timer: { seconds: timer, expiresAt: now + timer * 1000 } } : {});
  }

  /**
   * Inside the receive of a member's sender-key message (its transaction is open), after
   * groups.ts checked the sender is a current member on its chain: the message (text: the
   * caption) and the file's record, not yet downloaded. Returns its id, or undefined for a duplicate.
   */
  storeInbound(from: string, content: GroupFileContent, members: number): string | undefined {
    const vault = this.d.vault();
    const conv = groupConversationId(content.groupId);
    const id = this.d.withIdKey((k) => incomingMessageId(k, `${conv}:${from}`, content.id));
    if (vault.getMessage(id)) return undefined;
    vault.appendMessages([{ id, conversationId: conv, direction: 'in', sender: `${MEMBER_PREFIX}${from}`, sentAt: content.sentAt, receivedAt: Date.now(), text: content.caption ?? '', state: 'received' }]);
    keepQuotable(vault, id, content.id);
    const attachmentId = newAttachmentId();
    writeRecord(vault, {
      id: attachmentId, messageId: id, name: content.name, type: content.type, size: content.size,
      blob: content.blob, key: content.key, digest: content.digest, downloaded: false,
    });
    linkAttachment(vault, id, attachmentId);
    this.d.received?.({ id, groupId: content.groupId, from, contentId: content.id, members });
    this.d.timers?.()?.received(id, conv, content.timer);
    return id;
  }

  /** After the receive committed: a small file is fetched at once, as a 1:1 one (attachments.ts autoDownload). */
  fetchSmall(messageId: string): void {
    autoDownload(this.d.vault(), this.d.link()?.calls, messageId);
  }
}
