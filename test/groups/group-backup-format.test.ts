// Group lines in the backup stream (main/backup/groups.ts, docs/backup-format.md "Groups"): read
// only from a version-4 file, once per group id, and counted by the end line like every section.
import { describe, expect, it } from 'vitest';
import { BackupMalformed } from '../../main/backup/errors.ts';
import { readRecords } from '../../main/backup/stream.ts';

const GROUP = 'cd'.repeat(16);
const header = (version: number, groups?: number): string =>
  JSON.stringify({ type: 'header', format: 'ephemera-backup', version, created: 1, counts: { contacts: 0, conversations: 0, messages: 0, secrets: 0, ...(groups ? { groups } : {}) }, includesIdentity: false });
const group = (id = GROUP): string => JSON.stringify({ type: 'group', id, name: 'Team', log: { root: {}, rootChange: {}, changes: [] } });
const end = (groups?: number): string => JSON.stringify({ type: 'end', counts: { contacts: 0, conversations: 0, messages: 0, secrets: 0, ...(groups ? { groups } : {}) } });
const read = (lines: string[]): unknown[] => [...readRecords(lines)];

describe('group lines in a backup', () => {
  it('a version-4 file yields its group lines', () => {
    const records = read([header(4, 1), group(), end(1)]) as { kind: string; line?: { id?: string; name?: string } }[];
    expect(records.map((r) => r.kind)).toEqual(['header', 'group', 'end']);
    expect(records[1]!.line).toMatchObject({ id: GROUP, name: 'Team' });
  });

  it('refuses a group line in an older version, twice the same group, a miscount, or one after the messages', () => {
    expect(() => read([header(3, 1), group(), end(1)])).toThrow(BackupMalformed);
    expect(() => read([header(4, 2), group(), group(), end(2)])).toThrow(BackupMalformed);
    expect(() => read([header(4, 1), group(), end()])).toThrow(BackupMalformed);
    expect(() => read([header(4), end(1)])).toThrow(BackupMalformed);
    const message = JSON.stringify({ type: 'message', id: 'm1', conversationId: `g${GROUP}`, direction: 'in', sender: 'member:bob', sentAt: 1, receivedAt: 1, text: 'x', state: 'received' });
    expect(() => read([header(4, 1), message, group(), end(1)])).toThrow(BackupMalformed);
    expect(() => read([header(4, 1), JSON.stringify({ type: 'group', id: 'nope', name: 'Team', log: {} }), end(1)])).toThrow(BackupMalformed);
  });
});
