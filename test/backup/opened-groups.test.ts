// Groups of a backup opened read-only (issue #16; docs/backup-format.md "Opening a backup"): a
// real relay, three real profiles in a real group (a reply, a text deleted for everyone, read
// receipts, a file on a group text), exported by one member and opened on a profile with no
// vault. backupGroups lists the group with the members its signed log states; backupGroupHistory
// gives its messages in order with each author, the tombstone empty, own texts' receipts; search
// finds group texts; a group log that does not verify is shown unverified (members withheld,
// messages kept); a group line changed in a signed file refuses the whole file. The real CLI:
// `open-backup FILE groups` and `open-backup FILE history --group GROUP_ID`, text and --json.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiMethods, type OpenedBackup } from '../../shared/api.ts';
import { openMessenger, type Messenger } from '../../main/messenger.ts';
import { TEST_KDF, type Vault } from '../../main/vault/index.ts';
import { ATTACHMENT_CHUNKS, chunkKey, writeRecord, linkAttachment } from '../../main/messenger/attachment-store.ts';
import { GROUPS } from '../../main/messenger/group-store.ts';
import { readKvJson, writeKvJson } from '../../main/messenger/kv-json.ts';
import { codeOf, messagingScene, peersOn, waitFor, type Peer } from '../messaging/helpers.ts';
import { ageKeygen, ageRun, type AgeKeyPair } from './helpers.ts';
import { runCli } from '../cli/run.ts';

const scene = messagingScene('opgroups', ['alice', 'bob', 'carol', 'reader']);
let alice: Peer, bob: Peer, carol: Peer;
let reader: Messenger;
let groupId = '';
let age: AgeKeyPair;
let backupPath = '';
const FILE = randomBytes(70_000);
/** A member's text holding terminal control sequences (clear screen, set the window title). */
const BOB_TEXT = 'noon works\u001b[2J for me\u001b]0;owned\u0007';
const vaultOf = (p: Peer): Vault => (p.m as unknown as { life: { current(): { vault: Vault } } }).life.current().vault;
const texts = async (p: Peer) => (await p.m.groupHistory({ groupId, limit: 100 })).messages.filter((m) => !m.system);

async function exportAlice(name: string): Promise<string> {
  const path = join(scene.dirs.alice, name);
  await alice.m.backupExport({ jobId: `export-${name}`, path, protection: { kind: 'recipients', recipients: [age.recipient] }, includeIdentity: false });
  return path;
}

async function open(path: string): Promise<OpenedBackup> {
  return reader.backupOpen({ jobId: `open-${Math.random().toString(36).slice(2)}`, path, key: { kind: 'identityFile', path: age.identityFile } });
}

beforeAll(async () => {
  ({ alice, bob, carol } = await peersOn(scene, ['alice', 'bob', 'carol'], 'og_'));
  age = ageKeygen(scene.dirs.alice);
  groupId = (await alice.m.groupCreate({ name: 'Trip planning', members: ['og_bob', 'og_carol'] })).groupId;
  for (const p of [bob, carol]) await waitFor(async () => (await p.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'the group at every member');
  await alice.m.groupSend({ groupId, text: 'meet at noon?' });
  await waitFor(async () => (await texts(bob)).length === 1, 30_000, 'the first text at bob');
  const atBob = (await texts(bob))[0]!;
  await bob.m.groupSend({ groupId, text: BOB_TEXT, replyTo: atBob.id });
  await waitFor(async () => (await texts(carol)).length === 2, 30_000, 'both texts at carol');
  const wrong = await carol.m.groupSend({ groupId, text: 'oops, wrong chat' });
  await carol.m.deleteMessage({ conversationId: `g${groupId}`, messageId: wrong.id, forEveryone: true });
  await waitFor(async () => (await texts(alice)).map((m) => m.deleted === true).join() === 'false,false,true', 30_000, 'the reply and the tombstone at alice');
  const last = await alice.m.groupSend({ groupId, text: 'the map for noon' });
  await waitFor(async () => (await texts(bob)).length === 4, 30_000, 'every text at bob');
  await bob.m.groupMarkRead({ groupId, upToMessageId: (await texts(bob)).at(-1)!.id });
  await waitFor(async () => (await texts(alice)).filter((m) => m.direction === 'out').every((m) => m.receipts?.read === 1 && m.receipts.delivered === 2), 30_000, 'read by bob, delivered to both');
  // Groups carry no files in the app yet (sendFile takes a 1:1 conversation): one is put on the
  // last group text the way a received file is stored, so the backup lists it as it would.
  const vault = vaultOf(alice);
  vault.transaction(() => {
    writeRecord(vault, { id: 'att_map', messageId: last.id, name: 'map.png', type: 'image/png', size: FILE.length, blob: randomBytes(16).toString('base64url'), key: randomBytes(32).toString('base64url'), digest: randomBytes(32).toString('base64url'), downloaded: true });
    linkAttachment(vault, last.id, 'att_map');
    for (let i = 0; i * 65_536 < FILE.length; i++) vault.kvSet(ATTACHMENT_CHUNKS, chunkKey('att_map', i), FILE.subarray(i * 65_536, (i + 1) * 65_536));
  });
  backupPath = await exportAlice('groups.age');
  // A machine with no account: a profile without a vault opens it.
  reader = await openMessenger({ profileDir: scene.dirs.reader, kdf: TEST_KDF });
}, 240_000);

describe('an opened backup shows its groups', () => {
  it('lists the group with the members its signed log states, and its messages in order with authors, tombstone, receipts and file', async () => {
    const opened = await open(backupPath);
    const groups = apiMethods.backupGroups.result.parse(await reader.backupGroups({ backupId: opened.backupId }));
    expect(groups).toHaveLength(1);
    expect(groups[0]).toMatchObject({ groupId, conversationId: `g${groupId}`, name: 'Trip planning', logVerified: true, creator: 'og_alice', members: ['og_alice', 'og_bob', 'og_carol'], admins: ['og_alice'] });
    expect(groups[0]!.lastMessage).toMatchObject({ text: 'the map for noon', direction: 'out', sender: null });

    const page = apiMethods.backupGroupHistory.result.parse(await reader.backupGroupHistory({ backupId: opened.backupId, groupId, anchor: { kind: 'newest' }, limit: 100 }));
    const own = await texts(alice);
    const shown = page.messages.filter((m) => m.system !== true);
    expect(shown.map((m) => [m.sender, m.text, m.deleted ?? false])).toEqual([
      [null, 'meet at noon?', false],
      ['og_bob', BOB_TEXT, false],
      ['og_carol', '', true],
      [null, 'the map for noon', false],
    ]);
    expect(shown.map((m) => m.id)).toEqual(own.map((m) => m.id));
    // The reply's quote, as alice's live chat shows it (the own author null, as on the messages).
    expect(shown[1]!.replyTo).toEqual({ id: shown[0]!.id, direction: 'out', sender: null, text: 'meet at noon?' });
    expect(shown.filter((m) => m.replyTo !== undefined)).toHaveLength(1);
    // "read by 1 of 2" on each own text, as the profile showed it.
    expect(shown.filter((m) => m.direction === 'out').map((m) => m.receipts)).toEqual([{ delivered: 2, read: 1, of: 2 }, { delivered: 2, read: 1, of: 2 }]);
    expect(page.messages.some((m) => m.system === true && m.sender === 'og_alice')).toBe(true);
    expect(page.hasOlder || page.hasNewer).toBe(false);
    // Paging from a message, as from a search hit.
    const around = await reader.backupGroupHistory({ backupId: opened.backupId, groupId, anchor: { kind: 'before', messageId: shown[1]!.id }, limit: 1 });
    expect(around.messages.map((m) => m.id)).toEqual([page.messages[page.messages.indexOf(shown[1]!) - 1]!.id]);
    expect(around.hasNewer).toBe(true);

    const files = await reader.attachmentsOf({ backupId: opened.backupId, messageIds: [shown[3]!.id] });
    expect(files).toEqual([{ id: 'att_map', messageId: shown[3]!.id, name: 'map.png', size: FILE.length, type: 'image/png', downloaded: true }]);
    const saved = join(scene.dirs.reader, 'map.png');
    await reader.saveAttachment({ backupId: opened.backupId, attachmentId: 'att_map', path: saved });
    expect(readFileSync(saved).equals(FILE)).toBe(true);

    const hits = (await reader.search({ backupId: opened.backupId, query: 'noon', order: 'newest', limit: 10 })).hits;
    expect(hits.map((h) => [h.messageId, h.conversationId, h.conversationTitle]).sort()).toEqual(
      [shown[0]!, shown[1]!, shown[3]!].map((m) => [m.id, `g${groupId}`, 'Trip planning']).sort(),
    );
    // A tombstone's text is gone here as in the profile.
    expect((await reader.search({ backupId: opened.backupId, query: 'oops', order: 'newest', limit: 10 })).hits).toEqual([]);

    expect(await codeOf(reader.backupGroupHistory({ backupId: opened.backupId, groupId: 'ab'.repeat(16), anchor: { kind: 'newest' }, limit: 10 }))).toBe('UNKNOWN_CONVERSATION');
    expect(await codeOf(reader.backupGroupHistory({ backupId: opened.backupId, groupId, anchor: { kind: 'after', messageId: 'no-such' }, limit: 10 }))).toBe('UNKNOWN_MESSAGE');
    await reader.backupClose({ backupId: opened.backupId });
    expect(await codeOf(reader.backupGroups({ backupId: opened.backupId }))).toBe('UNKNOWN_BACKUP');
  }, 120_000);

  it('a group log that does not verify: the group is shown unverified, its messages kept, no member taken from it', async () => {
    const vault = vaultOf(alice);
    const record = readKvJson(vault, GROUPS, groupId, { strict: true }) as { log: { root: { members: string[] } } };
    const forged = structuredClone(record);
    forged.log.root.members = [...forged.log.root.members, 'og_mallory'].sort();
    writeKvJson(vault, GROUPS, groupId, forged);
    let path: string;
    try {
      path = await exportAlice('forged-log.age');
    } finally {
      writeKvJson(vault, GROUPS, groupId, record);
    }
    const opened = await open(path);
    const [group] = await reader.backupGroups({ backupId: opened.backupId });
    expect(group).toMatchObject({ groupId, name: 'Trip planning', logVerified: false, creator: null, members: [], admins: [] });
    const page = await reader.backupGroupHistory({ backupId: opened.backupId, groupId, anchor: { kind: 'newest' }, limit: 100 });
    expect(page.messages.filter((m) => m.system !== true).map((m) => m.text)).toEqual(['meet at noon?', BOB_TEXT, '', 'the map for noon']);
    await reader.backupClose({ backupId: opened.backupId });
  }, 120_000);

  it('a group line changed in a signed file: the whole file is refused', async () => {
    const plain = ageRun(['-d', '-i', age.identityFile, backupPath]);
    expect(plain.status).toBe(0);
    const lines = plain.stdout.toString('utf8').split('\n');
    const at = lines.findIndex((l) => l.startsWith('{"type":"group"'));
    expect(at).toBeGreaterThan(0);
    lines[at] = lines[at]!.replace('"name":"Trip planning"', '"name":"Trip plannin"');
    const changed = join(scene.dirs.alice, 'changed.age');
    const sealed = ageRun(['-r', age.recipient], Buffer.from(lines.join('\n'), 'utf8'));
    expect(sealed.status).toBe(0);
    writeFileSync(changed, sealed.stdout);
    expect(await codeOf(open(changed))).toBe('BACKUP_CORRUPT');
  }, 60_000);
});

describe('the CLI reads an opened backup\'s groups', () => {
  const env = (): Record<string, string> => ({ EPHEMERA_KDF: 'test' });

  it('lists the groups and prints a group\'s history with authors, tombstone, file and receipts; control characters made visible', async () => {
    const listed = await runCli(['open-backup', backupPath, 'groups', '--identity', age.identityFile], env());
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(`Trip planning (${groupId}) — 3 members: og_alice, og_bob, og_carol — `);

    const asJson = await runCli(['--json', 'open-backup', backupPath, 'groups', '--identity', age.identityFile], env());
    expect(asJson.code, asJson.stderr).toBe(0);
    const { groups } = JSON.parse(asJson.stdout.trim()) as { groups: { groupId: string; logVerified: boolean; members: string[] }[] };
    expect(groups).toMatchObject([{ groupId, logVerified: true, members: ['og_alice', 'og_bob', 'og_carol'] }]);

    const history = await runCli(['open-backup', backupPath, 'history', '--group', groupId, '--identity', age.identityFile], env());
    expect(history.code, history.stderr).toBe(0);
    const lines = history.stdout.split('\n').filter((l) => /^\[\d{4}-\d\d-\d\d \d\d:\d\d\] [^—]/.test(l));
    expect(lines.map((l) => l.slice(19))).toEqual([
      'me: meet at noon? (read by 1 of 2)',
      // Bob's text replies to alice's first: its quote is printed as the live `history --group` does.
      expect.stringMatching(/^og_bob: \(reply to me: "meet at noon\?"\) noon works.* for me.*$/),
      'og_carol: (deleted for everyone)',
      `me: the map for noon [file map.png, ${FILE.length} bytes] (read by 1 of 2)`,
    ]);
    expect(history.stdout.includes('\u001b') || history.stdout.includes('\u0007')).toBe(false);

    const full = await runCli(['--json', 'open-backup', backupPath, 'history', '--group', groupId, '--identity', age.identityFile], env());
    expect(full.code, full.stderr).toBe(0);
    const out = JSON.parse(full.stdout.trim()) as { group: { name: string }; messages: { sender: string | null; text: string; system?: true; attachments: { id: string }[] }[] };
    expect(out.group.name).toBe('Trip planning');
    // --json gives the file's text as it is: a program reading it does its own escaping.
    expect(out.messages.filter((m) => m.system !== true).map((m) => [m.sender, m.text, m.attachments.map((a) => a.id)])).toEqual([
      [null, 'meet at noon?', []],
      ['og_bob', BOB_TEXT, []],
      ['og_carol', '', []],
      [null, 'the map for noon', ['att_map']],
    ]);

    const unknown = await runCli(['open-backup', backupPath, 'history', '--group', 'ab'.repeat(16), '--identity', age.identityFile], env());
    expect(unknown.code).toBe(9);
    const bad = await runCli(['open-backup', backupPath, 'history', '--group', 'not-a-group', '--identity', age.identityFile], env());
    expect(bad.code).toBe(2);
  }, 120_000);
});
