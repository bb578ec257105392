// Groups in a backup (format version 4, docs/backup-format.md "Groups"): after the conversation
// section, one `group` line per group the profile holds: its id, its name (for a reader of
// `age -d` output) and its signed membership log as the messenger keeps it. Version 5 adds, after
// the attachment section, one `group-receipt` line per own group text with receipts. The backup layer
// knows no messenger: the log is opaque here, and the profile side comes in as a source (export)
// and a sink (import) that main/messenger/group-backup.ts implements and checks.
import { z } from 'zod';
import { GROUP_ID_RE, MAX_GROUP_MEMBERS } from '../../shared/api.ts';
import { HANDLE_RE } from '../../shared/protocol/schema.ts';

/** The version of a file holding group lines (it may hold attachments too). */
export const BACKUP_VERSION_WITH_GROUPS = 4;
/** The version of a file holding group receipt lines (it may hold groups and attachments too); the newest read. */
export const BACKUP_VERSION_WITH_GROUP_RECEIPTS = 5;

export const groupLine = z.strictObject({
  type: z.literal('group'),
  /** The group id (32 hex); its messages are those of conversation `g<id>`. */
  id: z.string().regex(GROUP_ID_RE, 'not a group id'),
  name: z.string().min(1).max(100),
  /** The signed membership log (main/messenger/group-state.ts GroupLogData), checked by the importing messenger. */
  log: z.record(z.string(), z.unknown()),
});

export type GroupLine = z.infer<typeof groupLine>;

const handle = z.string().regex(HANDLE_RE, 'not a handle');
const epochMs = z.number().int().min(0).max(8_640_000_000_000_000);
/** At most a group's members (docs/protocol.md §9b). */
const MAX_RECEIPT_MEMBERS = MAX_GROUP_MEMBERS;
const times = z.record(handle, epochMs).refine((r) => Object.keys(r).length <= MAX_RECEIPT_MEMBERS, 'too many members');

/**
 * Version 5, after the attachment section: who one of our own group texts was handed to and
 * when each member's delivered and read receipts came (main/messenger/group-receipts.ts).
 */
export const groupReceiptLine = z
  .strictObject({
    type: z.literal('group-receipt'),
    /** An own message of conversation `g<groupId>`, earlier in the file. */
    messageId: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'not an id'),
    groupId: z.string().regex(GROUP_ID_RE, 'not a group id'),
    to: z.array(handle).max(MAX_RECEIPT_MEMBERS),
    delivered: times,
    read: times,
  })
  .refine((l) => [...Object.keys(l.delivered), ...Object.keys(l.read)].every((h) => l.to.includes(h)), { message: 'a receipt from someone the message was not sent to' });

export type GroupReceiptLine = z.infer<typeof groupReceiptLine>;

/** One own group text's receipts, as the profile keeps them. */
export interface BackupGroupReceipts {
  messageId: string;
  groupId: string;
  to: string[];
  delivered: Record<string, number>;
  read: Record<string, number>;
}

export function groupReceiptsToLine(r: BackupGroupReceipts): GroupReceiptLine {
  return { type: 'group-receipt', messageId: r.messageId, groupId: r.groupId, to: r.to, delivered: r.delivered, read: r.read };
}

export function lineToGroupReceipts(l: GroupReceiptLine): BackupGroupReceipts {
  return { messageId: l.messageId, groupId: l.groupId, to: l.to, delivered: l.delivered, read: l.read };
}

export interface BackupGroup {
  id: string;
  name: string;
  log: Record<string, unknown>;
}

/** The profile's groups, for export. */
export interface GroupSource {
  groups(): BackupGroup[];
  /** Whether the profile keeps receipts of any own group text (the file is then version 5). */
  hasReceipts?(): boolean;
  /** The receipts the profile keeps for an own group text (exported with a message the file holds). */
  receiptsOf?(messageId: string): BackupGroupReceipts | undefined;
}

/** What became of a group line at import: put back, or left out and why (shown to the user, so in words). */
export type GroupPutResult = { restored: true } | { restored: false; reason: string };

/** Where import puts a group (inside its transaction): left out, with the reason, when known already or its log does not check. */
export interface GroupSink {
  put(group: BackupGroup): GroupPutResult;
  /** A message's receipts (inside the transaction): false when left out (no such own group text, or the profile keeps its own). */
  putReceipts?(receipts: BackupGroupReceipts): boolean;
}

export function groupToLine(g: BackupGroup): GroupLine {
  return { type: 'group', id: g.id, name: g.name, log: g.log };
}

export function lineToGroup(l: GroupLine): BackupGroup {
  return { id: l.id, name: l.name, log: l.log };
}
