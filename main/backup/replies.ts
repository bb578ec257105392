// Reply links in a backup (format version 6, docs/backup-format.md "Replies"): a message line's
// `replyTo` names the quoted message by its id in the file (an earlier message line of the same
// conversation), or is null for a reply whose quoted message is not in the file. The backup layer
// knows no messenger: the profile side comes in as a source (export) and a sink (import) that
// main/messenger/backup-records.ts implements and checks against the vault.
import type { MessageFields } from './format.ts';

/**
 * The profile's reply links, for export: the quoted message's id when it is written earlier in the
 * same conversation of this file, null when it is not in the file, undefined for a message that
 * is not a reply. `count`: how many replies it answers for (a file with one is version 6).
 */
export type ReplyLinkSource = ((messageId: string) => string | null | undefined) & { readonly count: number };

/** One reply link of a file, as import hands it to the profile (after the messages up to it are in). */
export interface ReplyLink {
  messageId: string;
  conversationId: string;
  /** The quoted message's id; null: the quoted message was not in the file (a missing quote). */
  quotedId: string | null;
  /** This import adds the reply's message (false: the profile held a message with that id when its line was read). */
  added: boolean;
  /**
   * The file is the profile's own signed backup: it may also give a link to a message the profile
   * held before, when that is the same message (an import before version 6 left it without one).
   */
  ownBackup: boolean;
  /** The reply as the file states it, to tell whether a message held before is the same message. */
  line: Pick<MessageFields, 'direction' | 'sender' | 'sentAt' | 'text'>;
}

/** What became of a link: put back, kept (the profile's message has its own link), or dropped and why. */
export type ReplyLinkResult = { restored: boolean } | { dropped: string };

/** Where import puts reply links (inside its transaction). */
export interface ReplyLinkSink {
  link(l: ReplyLink): ReplyLinkResult;
}

/** How many dropped links an import report names one by one (the count covers all). */
export const MAX_NAMED_DROPPED_REPLIES = 20;

/** An import's report of reply links. */
export interface ReplyLinkReport {
  restored: number;
  dropped: number;
  /** The first MAX_NAMED_DROPPED_REPLIES dropped links: the reply's id and why. */
  droppedLinks: Array<{ messageId: string; reason: string }>;
}

export function newReplyLinkReport(): ReplyLinkReport {
  return { restored: 0, dropped: 0, droppedLinks: [] };
}

export function countReplyLink(report: ReplyLinkReport, messageId: string, r: ReplyLinkResult): void {
  if ('dropped' in r) {
    report.dropped++;
    if (report.droppedLinks.length < MAX_NAMED_DROPPED_REPLIES) report.droppedLinks.push({ messageId, reason: r.dropped });
  } else if (r.restored) report.restored++;
}
