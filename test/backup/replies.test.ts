// Replies in backups (format version 6, docs/backup-format.md "Replies") and the import report's
// skipped groups: a real relay and two real profiles exchange 1:1 and group replies (one quoting a
// message deleted since, shown as a missing quote); alice exports to a real age file. `age -d`
// output lays each link out as documented; a restore into a new profile and an opened backup show
// every quote as alice's live history does (API and CLI); a second import changes nothing. A
// crafted file's links to another conversation or to no message are dropped with their reason and
// change nothing, and so is its link for a message the profile held before (review s16 R2), while
// the profile's own backup fills in the links a restore before version 6 left out; a link on a
// tombstone, to itself or in an older version refuses the file. A group whose membership log passed
// 4,096 changes is named in the import report with the reason.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiMethods, type GroupMessage, type Message } from '../../shared/api.ts';
import { openMessenger, type Messenger } from '../../main/messenger.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { importBackup } from '../../main/backup/index.ts';
import { HELD_BEFORE_IMPORT, replyLinkSink } from '../../main/messenger/backup-records.ts';
import { REPLY_TO } from '../../main/messenger/ids.ts';
import { groupQuote } from '../../main/messenger/group-reply.ts';
import { GROUPS } from '../../main/messenger/group-store.ts';
import { readKvJson, writeKvJson } from '../../main/messenger/kv-json.ts';
import { changeHash, GroupLog, MAX_REPLAYED_CHANGES, sign, type ChangeBody, type GroupLogData, type SignedChange } from '../../main/messenger/group-state.ts';
import { codeOf, messagingScene, peersOn, waitFor, type Peer } from '../messaging/helpers.ts';
import { ageKeygen, ageRun, type AgeKeyPair } from './helpers.ts';
import { runCli } from '../cli/run.ts';

const scene = messagingScene('replies', ['alice', 'bob', 'restored', 'reader', 'crafted', 'longlog', 'held']);
const NEW_PASSWORD = 'a restored vault, its password 7c1f plum';
let alice: Peer, bob: Peer;
let reader: Messenger;
let age: AgeKeyPair;
let toBob = '';
let groupId = '';
let backupPath = '';
/** Alice's live views, before the export. */
let live1: Message[] = [];
let liveGroup: GroupMessage[] = [];
/** Reply id -> the quoted message's id (null: its quote is missing), as alice's profile holds them. */
const expectedLinks = new Map<string, string | null>();

const vaultOf = (p: Peer): Vault => (p.m as unknown as { life: { current(): { vault: Vault } } }).life.current().vault;
const history = async (m: Messenger, conversationId: string): Promise<Message[]> => (await m.historyPage({ conversationId, anchor: { kind: 'newest' }, limit: 100 })).messages;
const groupTexts = async (m: Messenger): Promise<GroupMessage[]> => (await m.groupHistory({ groupId, limit: 100 })).messages.filter((x) => !x.system);
const identityKey = (): { kind: 'identityFile'; path: string } => ({ kind: 'identityFile', path: age.identityFile });
/** The fields a quote is compared by: a 1:1 message's id, text and quote. */
const quotes1 = (ms: readonly Message[]): unknown[] => ms.map((m) => [m.id, m.text, m.replyTo]);

function decrypt(path: string): Record<string, unknown>[] {
  const r = ageRun(['-d', '-i', age.identityFile, path]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Lines as an unsigned stream (no signer, no signature line), encrypted to alice's age recipient. */
function unsignedFile(lines: readonly Record<string, unknown>[], name: string): string {
  const body = lines.filter((l) => l.type !== 'signature').map((l) => (l.type === 'header' ? Object.fromEntries(Object.entries(l).filter(([k]) => k !== 'signer')) : l));
  const plain = join(scene.dirs.crafted, `${name}.jsonl`);
  writeFileSync(plain, body.map((l) => `${JSON.stringify(l)}\n`).join(''));
  const out = join(scene.dirs.crafted, `${name}.age`);
  const r = ageRun(['-r', age.recipient, '-o', out, plain]);
  expect(r.status, r.stderr).toBe(0);
  return out;
}

async function restoreInto(dir: string, path: string, options: { restoreIdentity?: boolean; trustUnsigned?: boolean }) {
  const m = await openMessenger({ profileDir: dir, kdf: TEST_KDF });
  const summary = await m.backupRestore({ jobId: `restore-${Math.random().toString(36).slice(2)}`, path, key: identityKey(), password: NEW_PASSWORD, ...options });
  return { m, summary: apiMethods.backupRestore.result.parse(summary) };
}

beforeAll(async () => {
  ({ alice, bob } = await peersOn(scene, ['alice', 'bob'], 'rp_'));
  age = ageKeygen(scene.dirs.alice);
  // 1:1: bob answers alice's question, alice answers his answer, and quotes a text she then deletes.
  toBob = (await alice.m.contactAdd({ handle: 'rp_bob' })).conversationId;
  const question = await alice.m.sendText({ conversationId: toBob, text: 'lunch at one?' });
  await waitFor(async () => (await bob.m.conversationsList({})).length === 1, 30_000, 'the question at bob');
  const atBob = (await bob.m.conversationsList({}))[0]!.id;
  await waitFor(async () => (await history(bob.m, atBob)).length === 1, 30_000, 'the question at bob');
  const bobQuestion = (await history(bob.m, atBob))[0]!;
  await bob.m.sendText({ conversationId: atBob, text: 'one works', replyTo: bobQuestion.id });
  await waitFor(async () => (await history(alice.m, toBob)).length === 2, 30_000, 'the answer at alice');
  const answer = (await history(alice.m, toBob))[1]!;
  const doomed = await alice.m.sendText({ conversationId: toBob, text: 'soon gone' });
  const back = await alice.m.sendText({ conversationId: toBob, text: 'see you there', replyTo: answer.id });
  const orphan = await alice.m.sendText({ conversationId: toBob, text: 'about that one', replyTo: doomed.id });
  await alice.m.deleteMessage({ conversationId: toBob, messageId: doomed.id, forEveryone: false });
  live1 = await history(alice.m, toBob);
  expect(live1.find((m) => m.id === orphan.id)?.replyTo).toBeNull();
  expect(live1.find((m) => m.id === answer.id)?.replyTo).toMatchObject({ id: question.id });
  expectedLinks.set(answer.id, question.id).set(back.id, answer.id).set(orphan.id, null);

  // A group: alice answers bob's text, bob answers hers.
  groupId = (await alice.m.groupCreate({ name: 'Lunch crew', members: ['rp_bob'] })).groupId;
  await waitFor(async () => (await bob.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'the group at bob');
  await bob.m.groupSend({ groupId, text: 'where?' });
  await waitFor(async () => (await groupTexts(alice.m)).length === 1, 30_000, "bob's text at alice");
  const where = (await groupTexts(alice.m))[0]!;
  const place = await alice.m.groupSend({ groupId, text: 'the usual place', replyTo: where.id });
  await waitFor(async () => (await groupTexts(bob.m)).length === 2, 30_000, "alice's reply at bob");
  await bob.m.groupSend({ groupId, text: 'ok, see you', replyTo: (await groupTexts(bob.m))[1]!.id });
  await waitFor(async () => (await groupTexts(alice.m)).length === 3, 30_000, "bob's reply at alice");
  liveGroup = await groupTexts(alice.m);
  expect(liveGroup.map((m) => m.replyTo?.text)).toEqual([undefined, 'where?', 'the usual place']);
  expectedLinks.set(place.id, where.id).set(liveGroup[2]!.id, place.id);

  backupPath = join(scene.dirs.alice, 'replies.age');
  await alice.m.backupExport({ jobId: 'export-replies', path: backupPath, protection: { kind: 'recipients', recipients: [age.recipient] }, includeIdentity: true });
  reader = await openMessenger({ profileDir: scene.dirs.reader, kdf: TEST_KDF });
}, 240_000);

describe('a backup keeps replies', () => {
  it('age -d output: version 6, each link on its message line, naming an earlier message of the same conversation or null', () => {
    const lines = decrypt(backupPath);
    expect(lines[0]).toMatchObject({ type: 'header', version: 6 });
    const messages = lines.filter((l) => l.type === 'message');
    const links = new Map(messages.filter((l) => 'replyTo' in l).map((l) => [l.id as string, l.replyTo as string | null]));
    expect(links).toEqual(expectedLinks);
    for (const [i, l] of messages.entries()) {
      if (typeof l.replyTo !== 'string') continue;
      const quoted = messages.findIndex((q) => q.id === l.replyTo);
      expect(quoted).toBeGreaterThanOrEqual(0);
      expect(quoted).toBeLessThan(i);
      expect(messages[quoted]!.conversationId).toBe(l.conversationId);
    }
  });

  it('a restore shows every quote as the live chat did; a second import changes nothing', async () => {
    const { m, summary } = await restoreInto(scene.dirs.restored, backupPath, { restoreIdentity: true });
    expect(summary.replyLinks).toEqual({ restored: expectedLinks.size, dropped: 0, droppedLinks: [] });
    expect(summary.groupsSkipped).toEqual([]);
    expect(quotes1(await history(m, toBob))).toEqual(quotes1(live1));
    // groupHistory asks for a relay registration this offline profile lacks: its view of a quote (groupQuote) is read from the restored vault.
    const vault = (m as unknown as { life: { current(): { vault: Vault } } }).life.current().vault;
    const restoredGroup = [...vault.iterateMessages(`g${groupId}`)].filter((x) => !x.sender.startsWith('change:'));
    expect(restoredGroup.map((x) => [x.id, x.text, groupQuote(vault, 'rp_alice', x)])).toEqual(liveGroup.map((x) => [x.id, x.text, x.replyTo]));

    const again = await m.backupImport({ jobId: 'import-again', path: backupPath, key: identityKey() });
    expect(again.messagesAdded).toBe(0);
    expect(again.replyLinks).toEqual({ restored: 0, dropped: 0, droppedLinks: [] });
    // The group it holds is kept as it is: counted, not listed as a loss.
    expect(again.groupsSkipped).toEqual([]);
    expect([again.groupsSkippedTotal, again.groupsAlreadyHere]).toEqual([0, 1]);
    expect(quotes1(await history(m, toBob))).toEqual(quotes1(live1));
    await m.close();
  }, 120_000);

  it('an opened backup shows the quotes as the live chat does, through the API and the CLI', async () => {
    const opened = await reader.backupOpen({ jobId: 'open-replies', path: backupPath, key: identityKey() });
    const page = apiMethods.historyPage.result.parse(await reader.historyPage({ backupId: opened.backupId, conversationId: toBob, anchor: { kind: 'newest' }, limit: 100 }));
    expect(quotes1(page.messages)).toEqual(quotes1(live1));
    const group = apiMethods.backupGroupHistory.result.parse(await reader.backupGroupHistory({ backupId: opened.backupId, groupId, anchor: { kind: 'newest' }, limit: 100 }));
    const shown = group.messages.filter((x) => x.system !== true);
    // As live, but an own text's author is null (the file does not name the profile's handle).
    expect(shown.map((x) => [x.id, x.replyTo])).toEqual(liveGroup.map((x) => [x.id, x.replyTo ? { ...x.replyTo, sender: x.replyTo.direction === 'out' ? null : x.replyTo.sender } : x.replyTo]));
    await reader.backupClose({ backupId: opened.backupId });

    const env = { EPHEMERA_KDF: 'test' };
    const direct = await runCli(['open-backup', backupPath, 'history', 'rp_bob', '--identity', age.identityFile], env);
    expect(direct.code, direct.stderr).toBe(0);
    expect(direct.stdout).toMatch(/rp_bob: \(reply to "lunch at one\?"\) one works/);
    expect(direct.stdout).toMatch(/me: \(reply to "one works"\) see you there/);
    expect(direct.stdout).toMatch(/me: \(reply to a message not stored here\) about that one/);
    const inGroup = await runCli(['open-backup', backupPath, 'history', '--group', groupId, '--identity', age.identityFile], env);
    expect(inGroup.code, inGroup.stderr).toBe(0);
    expect(inGroup.stdout).toMatch(/me: \(reply to rp_bob: "where\?"\) the usual place/);
    expect(inGroup.stdout).toMatch(/rp_bob: \(reply to me: "the usual place"\) ok, see you/);
  }, 120_000);

  it('a crafted link to another conversation or to no message is dropped with its reason and changes nothing else', async () => {
    const lines = decrypt(backupPath);
    const messages = lines.filter((l) => l.type === 'message');
    const inGroup = messages.find((l) => l.conversationId === `g${groupId}`)!;
    const [answerId, backId] = [...expectedLinks.keys()];
    for (const l of messages) {
      if (l.id === answerId) l.replyTo = inGroup.id;
      if (l.id === backId) l.replyTo = 'no-such-message';
    }
    const path = unsignedFile(lines, 'crafted-links');
    const { m, summary } = await restoreInto(scene.dirs.crafted, path, { trustUnsigned: true });
    expect(summary.replyLinks.restored).toBe(expectedLinks.size - 2);
    expect(summary.replyLinks.dropped).toBe(2);
    expect(summary.replyLinks.droppedLinks).toEqual([
      { messageId: answerId, reason: 'the quoted message is in another conversation' },
      { messageId: backId, reason: 'the quoted message is neither earlier in the backup nor in this profile' },
    ]);
    // Its group is not put back (a foreign or unsigned file's never are), and the report says so.
    expect(summary.groupsSkipped).toEqual([{ groupId, name: 'Lunch crew', reason: expect.stringContaining("not signed by this profile's identity") as string }]);
    expect([summary.groupsSkippedTotal, summary.groupsAlreadyHere]).toEqual([1, 0]);
    const restored = await history(m, toBob);
    expect(restored.map((x) => x.text)).toEqual(live1.map((x) => x.text));
    expect(restored.find((x) => x.id === answerId)?.replyTo).toBeUndefined();
    expect(restored.find((x) => x.id === backId)?.replyTo).toBeUndefined();
    expect(quotes1(restored.filter((x) => x.id !== answerId && x.id !== backId))).toEqual(quotes1(live1.filter((x) => x.id !== answerId && x.id !== backId)));
    await m.close();

    // Opened, the same links show no quote.
    const opened = await reader.backupOpen({ jobId: 'open-crafted', path, key: identityKey() });
    const page = await reader.historyPage({ backupId: opened.backupId, conversationId: toBob, anchor: { kind: 'newest' }, limit: 100 });
    expect(page.messages.filter((x) => x.replyTo !== undefined).map((x) => x.id).sort()).toEqual([...expectedLinks.keys()].filter((id) => id !== answerId && id !== backId && live1.some((x) => x.id === id)).sort());
    await reader.backupClose({ backupId: opened.backupId });
  }, 120_000);

  it("a crafted file's link for a message the profile held before changes nothing; the own backup fills in links a restore before version 6 left out", async () => {
    const { m } = await restoreInto(scene.dirs.held, backupPath, { restoreIdentity: true });
    const vault = (m as unknown as { life: { current(): { vault: Vault } } }).life.current().vault;
    const [question, answer, back] = live1;
    expect(question!.replyTo).toBeUndefined();
    // An unsigned file whose line carries the id of a message the profile holds, not a reply there,
    // as a reply to another message of that conversation (ids are no secret: the CLI and JSON show them).
    const lines = decrypt(backupPath);
    Object.assign(lines.find((l) => l.id === question!.id)!, { replyTo: back!.id });
    const crafted = unsignedFile(lines, 'held-before');
    const r = await m.backupImport({ jobId: 'import-held', path: crafted, key: identityKey(), trustUnsigned: true });
    expect(r.messagesAdded).toBe(0);
    // The other links are the profile's own already (kept, not counted); the crafted one is dropped.
    expect(r.replyLinks).toEqual({ restored: 0, dropped: 1, droppedLinks: [{ messageId: question!.id, reason: HELD_BEFORE_IMPORT }] });
    expect(vault.kvGet(REPLY_TO, question!.id)).toBeUndefined();
    expect(quotes1(await history(m, toBob))).toEqual(quotes1(live1));

    // A profile restored before version 6: its replies hold no link. The own signed backup puts them back.
    for (const id of expectedLinks.keys()) vault.kvDelete(REPLY_TO, id);
    expect((await history(m, toBob)).find((x) => x.id === answer!.id)?.replyTo).toBeUndefined();
    const own = await m.backupImport({ jobId: 'import-own-again', path: backupPath, key: identityKey() });
    expect(own.replyLinks).toEqual({ restored: expectedLinks.size, dropped: 0, droppedLinks: [] });
    expect(quotes1(await history(m, toBob))).toEqual(quotes1(live1));

    // Even from the own backup, a held message under that id that is not the line's message gets no link.
    const sink = replyLinkSink(vault);
    const held = vault.getMessage(answer!.id)!;
    vault.kvDelete(REPLY_TO, held.id);
    const link = { messageId: held.id, conversationId: toBob, quotedId: question!.id, added: false, ownBackup: true };
    expect(sink.link({ ...link, line: { ...held, text: `${held.text}, or two` } })).toEqual({ dropped: HELD_BEFORE_IMPORT });
    expect(sink.link({ ...link, ownBackup: false, line: held })).toEqual({ dropped: HELD_BEFORE_IMPORT });
    expect(vault.kvGet(REPLY_TO, held.id)).toBeUndefined();
    expect(sink.link({ ...link, line: held })).toEqual({ restored: true });
    await m.close();
  }, 120_000);

  it('a link on a tombstone, to itself, or in a version-5 file refuses the whole file', async () => {
    const cases: Array<[string, (lines: Record<string, unknown>[]) => void]> = [
      ['on-tombstone', (ls) => Object.assign(ls.find((l) => l.type === 'message' && l.id === [...expectedLinks.keys()][1])!, { deleted: true, text: '' })],
      ['to-itself', (ls) => {
        const l = ls.find((x) => x.type === 'message' && typeof x.replyTo === 'string')!;
        l.replyTo = l.id;
      }],
      ['version-5', (ls) => void (ls[0]!.version = 5)],
    ];
    for (const [name, edit] of cases) {
      const lines = decrypt(backupPath);
      edit(lines);
      const path = unsignedFile(lines, name);
      expect(await codeOf(reader.backupOpen({ jobId: `open-${name}`, path, key: identityKey() })), name).toBe('BACKUP_CORRUPT');
    }
  }, 60_000);

  it('old backups without the field still open and import', async () => {
    const fixtures = join(import.meta.dirname, 'fixtures');
    const file = join(fixtures, 'v2-before-attachments.age');
    const key = { kind: 'passphrase' as const, passphrase: 'fixture passphrase, version 2' };
    const opened = await reader.backupOpen({ jobId: 'open-v2', path: file, key });
    const [conversation] = await reader.conversationsList({ backupId: opened.backupId });
    const page = await reader.historyPage({ backupId: opened.backupId, conversationId: conversation!.id, anchor: { kind: 'newest' }, limit: 100 });
    expect(page.messages.map((x) => [x.text, x.replyTo])).toEqual([['old backup, hello', undefined], [expect.any(String), undefined]]);
    await reader.backupClose({ backupId: opened.backupId });

    const identity = Buffer.from(readFileSync(join(fixtures, 'v2-before-attachments.identity.txt'), 'utf8').trim(), 'base64');
    const target = (await Vault.create(join(scene.dirs.crafted, 'old'), 'vault password 123', { kdf: TEST_KDF })).vault;
    try {
      target.setAccountSecret('e2e-identity-key-pair', new Uint8Array(identity));
      const r = await importBackup(target, file, { keys: key, replyLinks: replyLinkSink(target) });
      expect(r.header.version).toBe(2);
      expect(r.added.messages).toBe(2);
      expect(r.replyLinks).toEqual({ restored: 0, dropped: 0, droppedLinks: [] });
      expect(target.kvKeys(REPLY_TO)).toEqual([]);
    } finally {
      target.lock();
    }
  }, 60_000);
});

describe('the import report names each group it does not restore', () => {
  it('a real group whose membership log passed 4,096 changes: named, with the reason, in the result and the CLI', async () => {
    const vault = vaultOf(alice);
    const record = readKvJson(vault, GROUPS, groupId, { strict: true }) as { log: GroupLogData };
    // 4,097 renames by alice on her group's log (signatures are the file's word on this path).
    const state = GroupLog.restore(record.log).state;
    const changes: SignedChange[] = [];
    let parent = state.head;
    const total = MAX_REPLAYED_CHANGES + 1 - record.log.changes.length;
    for (let i = 0; i < total; i++) {
      const c = sign({ v: 1, groupId, revision: state.revision + i, parent, author: 'rp_alice', op: { type: 'rename', name: i === total - 1 ? 'Lunch crew' : `Lunch ${i % 5}` } } as ChangeBody, () => new Uint8Array(64).fill(7));
      changes.push(c);
      parent = changeHash(c);
    }
    writeKvJson(vault, GROUPS, groupId, { ...record, log: { ...record.log, changes: [...record.log.changes, ...changes] } });
    const path = join(scene.dirs.alice, 'long-log.age');
    try {
      await alice.m.backupExport({ jobId: 'export-long', path, protection: { kind: 'recipients', recipients: [age.recipient] }, includeIdentity: true });
    } finally {
      writeKvJson(vault, GROUPS, groupId, record);
    }
    const count = MAX_REPLAYED_CHANGES + 1;
    const reason = `its membership log holds ${count} changes, more than the ${MAX_REPLAYED_CHANGES} an import rebuilds`;
    const { m, summary } = await restoreInto(scene.dirs.longlog, path, { restoreIdentity: true });
    expect(summary.groupsSkipped).toEqual([{ groupId, name: 'Lunch crew', reason }]);
    expect((await m.groupsList()).some((g) => g.groupId === groupId)).toBe(false);
    await m.close();

    // The CLI says it too, by name and id.
    const cli = await runCli(['--profile', join(scene.dirs.longlog, 'cli'), 'import', path, '--identity', age.identityFile, '--with-identity'], { EPHEMERA_KDF: 'test', EPHEMERA_PASSWORD: NEW_PASSWORD });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain(`Group "Lunch crew" (${groupId}) not restored: ${reason}.`);
  }, 180_000);
});
