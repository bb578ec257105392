// Read-only open: the whole backup decrypted into memory, to browse and search on a machine
// with no profile. Nothing is written anywhere; account secrets in the file are not kept.
import type { ContactRecord, ConversationRecord } from '../vault/api.ts';
import { fold } from '../search/tokenize.ts';
import { BackupBadParameters } from './errors.ts';
import { lineToContact, lineToConversation, type BackupCounts, type HeaderLine, type MessageLine } from './format.ts';
import { openBackupFile, scanRecords, type ReadOptions } from './read.ts';
import { lineToAttachment, type BackupAttachment } from './attachments.ts';
import type { ArchiveSource } from './attachment-read.ts';
import { keyCopy } from '../../shared/protocol/secret-bytes.ts';
import { lineToGroup, lineToGroupReceipts, type BackupGroup, type BackupGroupReceipts } from './groups.ts';
import { OpenedGroups } from './opened-groups.ts';

export type BackupMessage = Omit<MessageLine, 'type'>;

/** The sender of a group's membership line (main/messenger/group-store.ts LINE_PREFIX): never quoted. */
const MEMBERSHIP_LINE_PREFIX = 'change:';

export interface BackupHistory {
  contact: ContactRecord;
  conversation: ConversationRecord;
  /** In the order they were stored (ascending). */
  messages: BackupMessage[];
}

export interface BackupSearchHit {
  message: BackupMessage;
  /** Absent when the vault held messages without a conversation record. */
  conversation?: ConversationRecord;
  /** The group whose conversation it is, when the file has the group's line. */
  group?: BackupGroup;
}

/** Case- and diacritic-insensitive form for substring search: the search index's own folding. */
export function foldText(s: string): string {
  return fold(s);
}

export class BackupArchive {
  private readonly messagesByConversation = new Map<string, BackupMessage[]>();
  private readonly attachmentsByMessage = new Map<string, BackupAttachment>();
  private readonly attachmentsById = new Map<string, BackupAttachment>();
  /** Each reply's quoted message (null: not in the file); a link that does not resolve is left out. */
  private readonly quotes = new Map<string, BackupMessage | null>();
  /**
   * Where it was read from, to read a file's bytes again (attachment-read.ts): the age file key
   * captured at open (outside the V8 heap, zeroed at close), never the passphrase or identity.
   */
  source: ArchiveSource | undefined;
  /** One small file's plaintext kept for the window's preview reads (main/messenger/backup-attachment-read.ts); zeroed when replaced or closed. */
  private preview: { id: string; bytes: Buffer } | undefined;
  private closed = false;

  constructor(
    readonly header: HeaderLine,
    readonly counts: BackupCounts,
    /** The identity key whose signature verified, undefined when unsigned. */
    readonly signer: Uint8Array | undefined,
    /** Without verified marks: nothing here says whose profile the file came from. */
    readonly contacts: readonly ContactRecord[],
    readonly conversations: readonly ConversationRecord[],
    messages: Iterable<BackupMessage>,
    /** What the file says of each file (no bytes are kept; `downloaded`: its bytes are in the file). */
    attachments: Iterable<BackupAttachment> = [],
    /** What the file says of each group and of own group texts' receipts (version 4 and later). */
    readonly groups: OpenedGroups = new OpenedGroups(),
  ) {
    for (const a of attachments) {
      this.attachmentsByMessage.set(a.messageId, a);
      this.attachmentsById.set(a.id, a);
    }
    for (const c of conversations) this.messagesByConversation.set(c.id, []);
    const quoted = new Set<string>();
    let replies = false;
    for (const m of messages) {
      let list = this.messagesByConversation.get(m.conversationId);
      if (!list) this.messagesByConversation.set(m.conversationId, (list = []));
      list.push(m);
      if (m.replyTo === undefined) continue;
      replies = true;
      if (m.replyTo !== null) quoted.add(m.replyTo);
    }
    if (replies) this.resolveQuotes(quoted);
  }

  /**
   * As import checks a link (main/messenger/backup-records.ts replyLinkSink): the quoted message
   * must be earlier in the same conversation of the file, and not a membership line; any other
   * link is left out (the message shows as a plain text). Memory follows the number of replies.
   */
  private resolveQuotes(quoted: ReadonlySet<string>): void {
    for (const list of this.messagesByConversation.values()) {
      const seen = new Map<string, BackupMessage>();
      for (const m of list) {
        if (m.replyTo === null) this.quotes.set(m.id, null);
        else if (m.replyTo !== undefined) {
          const q = seen.get(m.replyTo);
          if (q) this.quotes.set(m.id, q);
        }
        if (quoted.has(m.id) && !m.sender.startsWith(MEMBERSHIP_LINE_PREFIX)) seen.set(m.id, m);
      }
    }
  }

  /** The message a reply quotes: undefined when it is not a reply (or its link did not resolve), null when the quoted message is not in the file. */
  quoteOf(messageId: string): BackupMessage | null | undefined {
    return this.quotes.get(messageId);
  }

  /** Each conversation with its contact (newest activity first; one without its contact is left out). */
  contactConversations(): { contact: ContactRecord; conversation: ConversationRecord }[] {
    const byContact = new Map(this.contacts.map((c) => [c.id, c]));
    return this.conversations.flatMap((conversation) => {
      const contact = byContact.get(conversation.contactId);
      return contact ? [{ contact, conversation }] : [];
    });
  }

  /** The conversation with a contact found by handle (exact, case-insensitive) or display name / title (folded). */
  findConversation(name: string): { contact: ContactRecord; conversation: ConversationRecord } {
    const pairs = this.contactConversations();
    const lower = name.toLowerCase();
    const byHandle = pairs.filter((p) => p.contact.handle.toLowerCase() === lower);
    if (byHandle.length === 1 && byHandle[0]) return byHandle[0];
    const folded = foldText(name);
    const byName = pairs.filter((p) => foldText(p.contact.displayName) === folded || foldText(p.conversation.title) === folded);
    if (byName.length === 1 && byName[0]) return byName[0];
    if (byName.length > 1) {
      throw new BackupBadParameters(`"${name}" matches several contacts: ${byName.map((p) => p.contact.handle).join(', ')}; use the handle.`);
    }
    throw new BackupBadParameters(`No contact "${name}" in this backup.`);
  }

  /** The plaintext kept for previews of file `id`, if it is the one kept. */
  previewOf(id: string): Buffer | undefined {
    return this.preview?.id === id ? this.preview.bytes : undefined;
  }

  /**
   * Keeps `bytes` (the archive's own buffer from now on) as file `id`'s preview; the one it
   * replaces is zeroed. False (and `bytes` zeroed) when the archive was closed meanwhile.
   */
  keepPreview(id: string, bytes: Buffer): boolean {
    this.dropPreview();
    if (this.closed) {
      bytes.fill(0);
      return false;
    }
    this.preview = { id, bytes };
    return true;
  }

  /** Zeroes and forgets the kept preview plaintext. */
  dropPreview(): void {
    this.preview?.bytes.fill(0);
    this.preview = undefined;
  }

  /**
   * Closed (the window closed it, or the profile locked): the preview plaintext is zeroed and
   * the file can no longer be read again. Its messages are freed with it (strings: not zeroable).
   */
  close(): void {
    this.closed = true;
    this.dropPreview();
    const keys = this.source?.options.keys;
    if (keys && 'fileKey' in keys) keys.fileKey.fill(0);
    this.source = undefined;
  }

  /** A file the backup lists, by its attachment id. */
  attachmentById(id: string): BackupAttachment | undefined {
    return this.attachmentsById.get(id);
  }

  /** The file of a message, if the backup lists one. */
  attachmentOf(messageId: string): BackupAttachment | undefined {
    return this.attachmentsByMessage.get(messageId);
  }

  /** Messages of one conversation, ascending (as stored); empty for an unknown id. For paging by the messenger. */
  messagesOf(conversationId: string): readonly BackupMessage[] {
    return this.messagesByConversation.get(conversationId) ?? [];
  }

  history(name: string, options: { limit?: number } = {}): BackupHistory {
    const found = this.findConversation(name);
    const all = this.messagesByConversation.get(found.conversation.id) ?? [];
    const messages = options.limit !== undefined ? all.slice(Math.max(0, all.length - options.limit)) : all.slice();
    return { ...found, messages };
  }

  /** Every message whose text or file name contains `query` (folded), newest conversation activity first, at most `limit`. */
  search(query: string, options: { limit?: number; conversationId?: string; from?: number; to?: number } = {}): BackupSearchHit[] {
    const needle = foldText(query.trim());
    if (needle === '') return [];
    const limit = options.limit ?? 100;
    const from = options.from ?? 0;
    const to = options.to ?? Number.MAX_SAFE_INTEGER;
    const hits: BackupSearchHit[] = [];
    const byId = new Map(this.conversations.map((c) => [c.id, c]));
    // Map order: conversations with records (newest first), then any without one.
    for (const [conversationId, messages] of this.messagesByConversation) {
      if (options.conversationId !== undefined && conversationId !== options.conversationId) continue;
      const conversation = byId.get(conversationId);
      for (const message of messages) {
        if (message.sentAt < from || message.sentAt > to) continue;
        const file = this.attachmentsByMessage.get(message.id);
        if (foldText(message.text).includes(needle) || (file !== undefined && foldText(file.name).includes(needle))) {
          const group = conversation ? undefined : this.groups.ofConversation(conversationId);
          hits.push(conversation ? { message, conversation } : group ? { message, group } : { message });
          if (hits.length >= limit) return hits;
        }
      }
    }
    return hits;
  }
}

/** Decrypts and validates the whole file (same checks as import), keeping it in memory only. */
export async function openBackup(path: string, options: ReadOptions): Promise<BackupArchive> {
  let fileKey: Buffer | undefined;
  const file = await openBackupFile(path, { ...options, keys: { ...options.keys, onFileKey: (k) => void (fileKey = keyCopy(k)) } });
  try {
    const contacts: ContactRecord[] = [];
    const conversations: ConversationRecord[] = [];
    const messages: BackupMessage[] = [];
    const attachments: BackupAttachment[] = [];
    const groups: BackupGroup[] = [];
    const receipts: BackupGroupReceipts[] = [];
    const { header, counts, signer } = await scanRecords(file, 'open', options, (r) => {
      if (r.kind === 'contact') contacts.push(lineToContact(r.line, { trusted: false }));
      else if (r.kind === 'conversation') conversations.push(lineToConversation(r.line));
      else if (r.kind === 'message') {
        const { type: _type, ...message } = r.line;
        // A tombstone shows no text, whatever the line carries.
        messages.push(message.deleted === true ? { ...message, text: '' } : message);
      } else if (r.kind === 'attachment') attachments.push(lineToAttachment(r.line));
      else if (r.kind === 'group') groups.push(lineToGroup(r.line));
      else if (r.kind === 'group-receipt') receipts.push(lineToGroupReceipts(r.line));
    });
    conversations.sort((a, b) => b.lastActivity - a.lastActivity);
    const archive = new BackupArchive(header, counts, signer, contacts, conversations, messages, attachments, new OpenedGroups(groups, receipts));
    if (!fileKey) throw new Error('the age file key was not captured');
    archive.source = { path, options: { keys: { fileKey }, ...(options.chunkCipher ? { chunkCipher: options.chunkCipher } : {}), ...(options.noFollow !== undefined ? { noFollow: options.noFollow } : {}) } };
    return archive;
  } catch (e) {
    (fileKey as Buffer | undefined)?.fill(0);
    throw e;
  } finally {
    file.close();
  }
}
