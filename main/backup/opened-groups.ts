// The groups of a backup opened read-only (docs/backup-format.md "Opening a backup"): each
// `group` line as the file states it, and the `group-receipt` lines of own group texts. The
// backup layer knows no messenger: the signed membership log stays opaque here; the messenger
// (main/messenger/backups.ts) checks it before it shows any member.
import type { BackupGroup, BackupGroupReceipts } from './groups.ts';

/** The conversation a group's messages are stored under (main/messenger/group-store.ts groupConversationId). */
export function groupConversationOf(groupId: string): string {
  return `g${groupId}`;
}

export class OpenedGroups {
  private readonly byId = new Map<string, BackupGroup>();
  private readonly byConversation = new Map<string, BackupGroup>();
  private readonly receipts = new Map<string, BackupGroupReceipts>();

  constructor(groups: Iterable<BackupGroup> = [], receipts: Iterable<BackupGroupReceipts> = []) {
    for (const g of groups) {
      this.byId.set(g.id, g);
      this.byConversation.set(groupConversationOf(g.id), g);
    }
    // The stream refused a second line for one message (main/backup/stream.ts).
    for (const r of receipts) this.receipts.set(r.messageId, r);
  }

  /** In file order. */
  list(): BackupGroup[] {
    return [...this.byId.values()];
  }

  get(groupId: string): BackupGroup | undefined {
    return this.byId.get(groupId);
  }

  /** The group whose conversation this is, if the file has its line. */
  ofConversation(conversationId: string): BackupGroup | undefined {
    return this.byConversation.get(conversationId);
  }

  /** The receipts the file holds for an own group text of this group (none for another group's message). */
  receiptsOf(messageId: string, groupId: string): BackupGroupReceipts | undefined {
    const r = this.receipts.get(messageId);
    return r?.groupId === groupId ? r : undefined;
  }
}
