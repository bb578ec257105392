// Groups in a backup (format version 4, docs/backup-format.md "Groups"): after the conversation
// section, one `group` line per group the profile holds: its id, its name (for a reader of
// `age -d` output) and its signed membership log as the messenger keeps it. The backup layer
// knows no messenger: the log is opaque here, and the profile side comes in as a source (export)
// and a sink (import) that main/messenger/group-backup.ts implements and checks.
import { z } from 'zod';

/** The version of a file holding group lines (it may hold attachments too). */
export const BACKUP_VERSION_WITH_GROUPS = 4;

export const groupLine = z.strictObject({
  type: z.literal('group'),
  /** The group id (32 hex); its messages are those of conversation `g<id>`. */
  id: z.string().regex(/^[0-9a-f]{32}$/, 'not a group id'),
  name: z.string().min(1).max(100),
  /** The signed membership log (main/messenger/group-state.ts GroupLogData), checked by the importing messenger. */
  log: z.record(z.string(), z.unknown()),
});

export type GroupLine = z.infer<typeof groupLine>;

export interface BackupGroup {
  id: string;
  name: string;
  log: Record<string, unknown>;
}

/** The profile's groups, for export. */
export interface GroupSource {
  groups(): BackupGroup[];
}

/** Where import puts a group (inside its transaction): false when it was left out (known already, or its log does not check). */
export interface GroupSink {
  put(group: BackupGroup): boolean;
}

export function groupToLine(g: BackupGroup): GroupLine {
  return { type: 'group', id: g.id, name: g.name, log: g.log };
}

export function lineToGroup(l: GroupLine): BackupGroup {
  return { id: l.id, name: l.name, log: l.log };
}
