// Group receipts in backups (docs/backup-format.md "Groups", version 5; main/backup/groups.ts,
// main/messenger/group-backup.ts): the stream's rules for `group-receipt` lines, and end to end on
// a real relay and real vaults: an own backup restores who each own group text was delivered to
// and read by, with the times; a version-4 file (groups, no receipts) still imports.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportBackup } from '../../main/backup/index.ts';
import { BackupMalformed } from '../../main/backup/errors.ts';
import { readRecords } from '../../main/backup/stream.ts';
import { groupSource } from '../../main/messenger/group-backup.ts';
import { GROUP_SENT } from '../../main/messenger/group-receipts.ts';
import type { Vault } from '../../main/vault/index.ts';
import { messagingScene, peersOn, waitFor, type Peer } from '../messaging/helpers.ts';

const GROUP = 'cd'.repeat(16);
const counts = (extra: Record<string, number> = {}) => ({ contacts: 0, conversations: 0, messages: 1, secrets: 0, ...extra });
const header = (version: number, extra?: Record<string, number>): string => JSON.stringify({ type: 'header', format: 'ephemera-backup', version, created: 1, counts: counts(extra), includesIdentity: false });
const group = JSON.stringify({ type: 'group', id: GROUP, name: 'Team', log: { root: {}, rootChange: {}, changes: [] } });
const message = JSON.stringify({ type: 'message', id: 'm1', conversationId: `g${GROUP}`, direction: 'out', sender: 'self', sentAt: 1, receivedAt: 1, text: 'x', state: 'sent' });
const receipt = (over: Record<string, unknown> = {}): string =>
  JSON.stringify({ type: 'group-receipt', messageId: 'm1', groupId: GROUP, to: ['bob', 'carol'], delivered: { bob: 5, carol: 6 }, read: { bob: 7 }, ...over });
const end = (extra?: Record<string, number>): string => JSON.stringify({ type: 'end', counts: counts(extra) });
const read = (lines: string[]): { kind: string; line?: unknown }[] => [...readRecords(lines)] as { kind: string; line?: unknown }[];

describe('group receipt lines in a backup', () => {
  it('a version-5 file yields them after the messages, counted by the end line', () => {
    const records = read([header(5, { groups: 1, groupReceipts: 1 }), group, message, receipt(), end({ groups: 1, groupReceipts: 1 })]);
    expect(records.map((r) => r.kind)).toEqual(['header', 'group', 'message', 'group-receipt', 'end']);
    expect(records[3]!.line).toMatchObject({ messageId: 'm1', to: ['bob', 'carol'], delivered: { bob: 5, carol: 6 }, read: { bob: 7 } });
  });

  it('refuses one in an older version, twice for a message, a miscount, before the messages, or from someone it was not sent to', () => {
    expect(() => read([header(4, { groups: 1 }), group, message, receipt(), end({ groups: 1, groupReceipts: 1 })])).toThrow(BackupMalformed);
    expect(() => read([header(5, { groups: 1 }), group, message, receipt(), receipt(), end({ groups: 1, groupReceipts: 2 })])).toThrow(BackupMalformed);
    expect(() => read([header(5, { groups: 1 }), group, message, receipt(), end({ groups: 1 })])).toThrow(BackupMalformed);
    expect(() => read([header(5, { groups: 1 }), group, receipt(), message, end({ groups: 1, groupReceipts: 1 })])).toThrow(BackupMalformed);
    expect(() => read([header(5, { groups: 1 }), group, message, receipt({ read: { dave: 7 } }), end({ groups: 1, groupReceipts: 1 })])).toThrow(BackupMalformed);
    expect(() => read([header(5, { groups: 1 }), group, message, receipt({ to: ['Not A Handle'], delivered: {}, read: {} }), end({ groups: 1, groupReceipts: 1 })])).toThrow(BackupMalformed);
  });
});

const scene = messagingScene('grbackup', ['alice', 'bob', 'carol']);
let alice: Peer, bob: Peer, carol: Peer;
const vaultOf = (p: Peer): Vault => (p.m as unknown as { life: { current(): { vault: Vault } } }).life.current().vault;

beforeAll(async () => {
  ({ alice, bob, carol } = await peersOn(scene, ['alice', 'bob', 'carol'], 'rb_'));
}, 120_000);

describe('group receipts through an own backup', () => {
  it('restores who each own text was delivered to and read by, with the times; a version-4 file still imports', async () => {
    const { groupId } = await alice.m.groupCreate({ name: 'Receipts kept', members: ['rb_bob', 'rb_carol'] });
    for (const p of [bob, carol]) await waitFor(async () => (await p.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'the group at every member');
    await alice.m.groupSend({ groupId, text: 'one' });
    await alice.m.groupSend({ groupId, text: 'two' });
    const own = async () => (await alice.m.groupHistory({ groupId, limit: 50 })).messages.filter((m) => m.direction === 'out');
    await waitFor(async () => (await own()).every((m) => m.receipts?.delivered === 2), 30_000, 'delivered by both');
    const atBob = (await bob.m.groupHistory({ groupId, limit: 50 })).messages.find((m) => m.text === 'two')!;
    await bob.m.groupMarkRead({ groupId, upToMessageId: atBob.id });
    await waitFor(async () => (await own()).every((m) => m.receipts?.read === 1), 30_000, 'read by bob');
    const before = await own();
    const details = await Promise.all(before.map((m) => alice.m.groupReceipts({ groupId, messageId: m.id })));

    const passphrase = 'group receipts backup passphrase 9e2b';
    const path = join(scene.dirs.alice, 'receipts.age');
    await alice.m.backupExport({ jobId: 'receipts-export', path, protection: { kind: 'passphrase', passphrase }, includeIdentity: false });
    // A version-4 file of the same profile: the groups without their receipts (as written before version 5).
    const v4 = join(scene.dirs.alice, 'v4.age');
    const vault = vaultOf(alice);
    const written = await exportBackup(vault, v4, { keys: { passphrase, workFactor: 10 }, groups: { groups: groupSource(vault).groups } });
    expect(written.counts).not.toHaveProperty('groupReceipts');
    const opened = await alice.m.backupOpen({ jobId: 'receipts-open', path, key: { kind: 'passphrase', passphrase } });
    expect(opened.messages).toBeGreaterThanOrEqual(2);
    await alice.m.backupClose({ backupId: opened.backupId });

    // The profile loses the group and its receipts (the messages stay).
    vault.kvDelete('groups', groupId);
    for (const m of before) vault.kvDelete(GROUP_SENT, m.id);
    await alice.m.backupImport({ jobId: 'receipts-import-v4', path: v4, key: { kind: 'passphrase', passphrase } });
    expect((await alice.m.groupInfo({ groupId })).name).toBe('Receipts kept');
    expect((await own()).every((m) => m.receipts === undefined)).toBe(true);

    await alice.m.backupImport({ jobId: 'receipts-import', path, key: { kind: 'passphrase', passphrase } });
    expect((await own()).map((m) => m.receipts)).toEqual(before.map((m) => m.receipts));
    expect((await own()).map((m) => m.receipts)).toEqual([{ delivered: 2, read: 1, of: 2 }, { delivered: 2, read: 1, of: 2 }]);
    expect(await Promise.all(before.map((m) => alice.m.groupReceipts({ groupId, messageId: m.id })))).toEqual(details);
    // A second import changes nothing: the profile's own receipts are kept.
    await alice.m.backupImport({ jobId: 'receipts-import-2', path, key: { kind: 'passphrase', passphrase } });
    expect(await Promise.all(before.map((m) => alice.m.groupReceipts({ groupId, messageId: m.id })))).toEqual(details);
  }, 120_000);
});
