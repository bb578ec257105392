// What a backup needs from the messenger's sealed records: a message under a disappearing timer
// (counting down, expired, or not shown yet) is never exported, since a backup written before
// it expires would keep it for good; a message deleted for everyone is exported as a tombstone
// line, and imported as one; a reply keeps its link to the message it quotes (docs/backup-format.md).
import type { ReplyLinkSink, ReplyLinkSource } from '../backup/replies.ts';
import type { Vault } from '../vault/index.ts';
import { TOMBSTONES } from './delete-for-everyone.ts';
import { LINE_PREFIX } from './group-store.ts';
import { MESSAGE_TIMERS, REPLY_TO } from './ids.ts';

/**
 * ExportOptions.messageStatus: sets built once (one lookup per exported message); `tombstones`
 * tells the export, before its header, that the file may hold a tombstone line (version 3 then).
 */
export function backupMessageStatus(vault: Vault): ((messageId: string) => 'gone' | 'deleted' | undefined) & { tombstones: number } {
  const gone = new Set(vault.kvKeys(MESSAGE_TIMERS));
  const deleted = new Set(vault.kvKeys(TOMBSTONES));
  const status = (id: string): 'gone' | 'deleted' | undefined => (gone.has(id) ? 'gone' : deleted.has(id) ? 'deleted' : undefined);
  return Object.assign(status, { tombstones: [...deleted].filter((id) => !gone.has(id)).length });
}

/** ImportOptions.markTombstones: the imported messages are tombstones here too (shown as deleted, never quoted). */
export function markImportedTombstones(vault: Vault): (messageIds: readonly string[]) => void {
  return (ids) => {
    for (const id of ids) vault.kvSet(TOMBSTONES, id, Buffer.from('1'));
  };
}

/**
 * The stored target of a reply whose quoted message was not in the backup: a vault-valid id that
 * no message can have (`#` is outside the contract's Id syntax, which every backup line and every
 * message id follows), so the app shows the reply with a missing quote.
 */
export const QUOTE_NOT_IN_BACKUP = '#quote-not-in-backup';

/**
 * ExportOptions.replyLinks (docs/backup-format.md "Replies"): each reply the file will hold (not
 * left out, not a tombstone) with the quoted message's id when that message is written earlier in
 * the same conversation (the file's order is each conversation's stored order), else null (the
 * app shows a missing quote, as it does for a reply whose quoted message was deleted). Built once
 * before the header: memory follows the number of replies, not of messages.
 */
export function backupReplyLinks(vault: Vault, status: (messageId: string) => 'gone' | 'deleted' | undefined): ReplyLinkSource {
  const links = new Map<string, string | null>();
  for (const id of vault.kvKeys(REPLY_TO)) {
    if (status(id) !== undefined) continue;
    const reply = vault.getMessage(id);
    const raw = vault.kvGet(REPLY_TO, id);
    if (!reply || !raw) continue;
    const quotedId = Buffer.from(raw).toString('utf8');
    const quoted = quotedId === QUOTE_NOT_IN_BACKUP ? undefined : vault.getMessage(quotedId);
    const inFile = quoted !== undefined && quoted.conversationId === reply.conversationId && quoted.orderKey < reply.orderKey && status(quoted.id) !== 'gone';
    links.set(id, inFile ? quoted.id : null);
  }
  return Object.assign((messageId: string) => links.get(messageId), { count: links.size });
}

/** Why a link for a message the profile held before the import is not put on it. */
export const HELD_BEFORE_IMPORT = 'the message was here before the import';

/**
 * ImportOptions.replyLinks: a file's link is put back only onto a message this import added, or,
 * from the profile's own signed backup only, onto the same message held before (same direction,
 * sender, sent time and text: an import before version 6 left it without its link). Any other
 * file could otherwise make a message the profile held show a quote it never had (ids are no
 * secret). The message must be in the link's conversation, not a tombstone and without a link of
 * its own (those are kept as they are: a second import changes nothing), and the quoted message
 * one the profile holds by then (earlier in the file, or here already) in the same conversation
 * that is not a membership line. Anything else is dropped with the reason, and changes nothing.
 * A null link (the quoted message was not in the file) is stored with the target
 * QUOTE_NOT_IN_BACKUP, which no message has: shown as a missing quote.
 */
export function replyLinkSink(vault: Vault): ReplyLinkSink {
  return {
    link: ({ messageId, conversationId, quotedId, added, ownBackup, line }) => {
      const reply = vault.getMessage(messageId);
      if (!reply || reply.conversationId !== conversationId) return { dropped: 'this profile holds that message id in another conversation' };
      // Kept as the profile holds it: a tombstone here quotes nothing, a link here stays.
      if (vault.kvGet(TOMBSTONES, messageId) || vault.kvGet(REPLY_TO, messageId)) return { restored: false };
      if (!added) {
        const same = reply.direction === line.direction && reply.sender === line.sender && reply.sentAt === line.sentAt && reply.text === line.text;
        if (!ownBackup || !same) return { dropped: HELD_BEFORE_IMPORT };
      }
      if (quotedId !== null) {
        const quoted = vault.getMessage(quotedId);
        if (!quoted) return { dropped: 'the quoted message is neither earlier in the backup nor in this profile' };
        if (quoted.conversationId !== conversationId) return { dropped: "the quoted message is in another conversation" };
        if (quoted.sender.startsWith(LINE_PREFIX)) return { dropped: 'the quoted message is a membership line, not a text' };
      }
      vault.kvSet(REPLY_TO, messageId, Buffer.from(quotedId ?? QUOTE_NOT_IN_BACKUP, 'utf8'));
      return { restored: true };
    },
  };
}
