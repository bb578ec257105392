// Files in group chats end to end (docs/protocol.md §9a "Files in groups"): real relay process,
// real libsignal, real vaults. One upload names the members of the moment; one sender-key message
// announces it. Members get it byte-exact (small ones on arrival, larger on save); a member removed
// before the send and one added after are refused the blob by the relay and never see the message;
// a damaged blob is refused; nothing of the files, their names or captions is on disk in plaintext.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GroupMessage } from '../../shared/api.ts';
import { RpcError } from '../../shared/protocol/errors.ts';
import type { Messenger } from '../../main/messenger.ts';
import type { UnlockedSession } from '../../main/messenger/session.ts';
import { recordOf } from '../../main/messenger/attachment-store.ts';
import { codeOf, filesContaining, messagingScene, peersOn, waitFor, type Peer } from '../messaging/helpers.ts';

const scene = messagingScene('group-files', ['alice', 'bob', 'carol', 'dave', 'erin', 'files']);
let alice: Peer, bob: Peer, carol: Peer, dave: Peer, erin: Peer;
let groupId = '';
let conv = '';

const sessionOf = (p: Peer): UnlockedSession => (p.m as unknown as { life: { require(): UnlockedSession } }).life.require();
const nameOf = (p: Peer): string => (p === alice ? 'alice' : p === bob ? 'bob' : p === carol ? 'carol' : p === dave ? 'dave' : 'erin');
const blobs = (): string[] => readdirSync(join(scene.dirs.relay, 'blobs'));

const MARKER = 'GROUP-FILE-MARKER-q8z3';
const SMALL_NAME = 'group-small-name-h2k7.bin';
const SMALL_CAPTION = 'group-caption-small-w5n1';
const LARGE_NAME = 'group-large-name-p4m6.bin';
const LARGE_CAPTION = 'group-caption-large-t9c2';
const WINDOW_NAME = 'group-window-name-r3v8.png';

/** Distinctive bytes: the marker repeated through random bytes, so any plaintext chunk on disk would show. */
function markedFile(name: string, repeats: number): { path: string; bytes: Buffer } {
  const bytes = Buffer.concat([randomBytes(777), ...Array.from({ length: repeats }, () => Buffer.from(MARKER)), randomBytes(333)]);
  const path = join(scene.dirs.files, name);
  writeFileSync(path, bytes);
  return { path, bytes };
}

async function groupMessages(m: Messenger): Promise<GroupMessage[]> {
  return (await m.groupHistory({ groupId, limit: 500 })).messages.filter((x) => !x.system);
}

async function received(p: Peer, caption: string): Promise<GroupMessage> {
  let found: GroupMessage | undefined;
  await waitFor(async () => (found = (await groupMessages(p.m)).find((x) => x.text === caption)) !== undefined, 60_000, `${caption} at ${nameOf(p)}`);
  return found!;
}

/** What the relay answers a member asking for the blob's first bytes: 'ok' or the error code. */
async function fetchFirstBytes(p: Peer, blobId: string): Promise<string> {
  try {
    await sessionOf(p).connection!.client.call('blob.get', { id: new Uint8Array(Buffer.from(blobId, 'base64url')), offset: 0, length: 1024 });
    return 'ok';
  } catch (e) {
    return e instanceof RpcError ? e.code : String(e);
  }
}

beforeAll(async () => {
  ({ alice, bob, carol, dave, erin } = await peersOn(scene, ['alice', 'bob', 'carol', 'dave', 'erin'], 'gf_'));
  const created = await alice.m.groupCreate({ name: 'Files', members: ['gf_bob', 'gf_carol', 'gf_dave'] });
  groupId = created.groupId;
  conv = created.conversationId;
  for (const p of [bob, carol, dave]) await waitFor(async () => (await p.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'the group at every member');
  // Dave is removed before any file is sent.
  await alice.m.groupRemove({ groupId, handle: 'gf_dave' });
  await waitFor(async () => !(await dave.m.groupInfo({ groupId })).isMember, 30_000, 'dave removed');
  for (const p of [bob, carol]) await waitFor(async () => (await p.m.groupInfo({ groupId })).members.length === 3, 30_000, 'the removal at every member');
}, 180_000);

describe('files in a group', () => {
  it('a small file: one upload, one message, byte-exact at both members on arrival; the removed member gets nothing', async () => {
    expect(conv).toBe(`g${groupId}`);
    const small = markedFile(SMALL_NAME, 5_000);
    const sent = await alice.m.sendFile({ conversationId: conv, path: small.path, caption: SMALL_CAPTION });
    expect(sent).toMatchObject({ conversationId: conv, direction: 'out', text: SMALL_CAPTION });
    expect(await alice.m.attachmentsOf({ messageIds: [sent.id] })).toMatchObject([{ name: SMALL_NAME, size: small.bytes.length, downloaded: true }]);
    // It shows in alice's group history as her message, sent once the relay took the one request.
    await waitFor(async () => (await groupMessages(alice.m)).find((x) => x.id === sent.id)?.state === 'sent', 30_000, 'sent');

    for (const p of [bob, carol]) {
      const m = await received(p, SMALL_CAPTION);
      expect(m.sender).toBe('gf_alice');
      // Under the 2 MiB limit: fetched on arrival, checked against the digest.
      await waitFor(async () => (await p.m.attachmentsOf({ messageIds: [m.id] }))[0]?.downloaded === true, 60_000, `auto-download at ${nameOf(p)}`);
      const [att] = await p.m.attachmentsOf({ messageIds: [m.id] });
      expect(att).toMatchObject({ name: SMALL_NAME, size: small.bytes.length, type: 'application/octet-stream' });
      const out = join(scene.dirs.files, `small-at-${nameOf(p)}.bin`);
      await p.m.saveAttachment({ attachmentId: att!.id, path: out });
      expect(readFileSync(out).equals(small.bytes)).toBe(true);
    }
    // Both named recipients fetched it: the relay deleted the blob (dave was never named, so he does not hold it up).
    await waitFor(() => blobs().length === 0, 30_000, 'the blob deleted once both members fetched it');
    expect((await groupMessages(dave.m)).map((x) => x.text)).not.toContain(SMALL_CAPTION);
  });

  it('a removed member and a later joiner are refused the blob; a damaged blob is refused; typed errors', { timeout: 240_000 }, async () => {
    const large = markedFile(LARGE_NAME, 120_000); // about 2.5 MiB: waits for a save
    const sent = await alice.m.sendFile({ conversationId: conv, path: large.path, caption: LARGE_CAPTION });
    const blob = recordOf(sessionOf(alice).vault, sent.id)!.blob;
    const atBob = await received(bob, LARGE_CAPTION);
    const atCarol = await received(carol, LARGE_CAPTION);
    expect(blobs()).toHaveLength(1);

    // Erin joins after the send: she gets the group, not the file, and the relay refuses her the blob.
    await alice.m.groupAdd({ groupId, handle: 'gf_erin' });
    await waitFor(async () => (await erin.m.groupsList()).some((g) => g.groupId === groupId && g.isMember), 30_000, 'erin joined');
    expect(await fetchFirstBytes(bob, blob)).toBe('ok');
    expect(await fetchFirstBytes(dave, blob)).toBe('NOT_FOUND');
    expect(await fetchFirstBytes(erin, blob)).toBe('NOT_FOUND');
    expect((await groupMessages(dave.m)).map((x) => x.text)).not.toContain(LARGE_CAPTION);
    expect((await groupMessages(erin.m)).map((x) => x.text)).not.toContain(LARGE_CAPTION);

    // Bob saves it byte-exact.
    const [bobAtt] = await bob.m.attachmentsOf({ messageIds: [atBob.id] });
    expect(bobAtt).toMatchObject({ name: LARGE_NAME, size: large.bytes.length, downloaded: false });
    const out = join(scene.dirs.files, 'large-at-bob.bin');
    expect(await bob.m.saveAttachment({ attachmentId: bobAtt!.id, path: out })).toEqual({ bytes: large.bytes.length });
    expect(readFileSync(out).equals(large.bytes)).toBe(true);

    // One sealed byte flipped at the relay: carol's download is refused and keeps nothing.
    const blobPath = join(scene.dirs.relay, 'blobs', blobs()[0]!);
    const bytes = readFileSync(blobPath);
    bytes[1_500_000] = (bytes[1_500_000] as number) ^ 1;
    writeFileSync(blobPath, bytes);
    const [carolAtt] = await carol.m.attachmentsOf({ messageIds: [atCarol.id] });
    expect(await codeOf(carol.m.saveAttachment({ attachmentId: carolAtt!.id, path: join(scene.dirs.files, 'damaged.bin') }))).toBe('PROTOCOL_ERROR');
    expect((await carol.m.attachmentsOf({ messageIds: [atCarol.id] }))[0]!.downloaded).toBe(false);

    // The group send's typed errors: no such group, and no longer a member.
    expect(await codeOf(alice.m.sendFile({ conversationId: `g${'0'.repeat(32)}`, path: large.path }))).toBe('UNKNOWN_CONVERSATION');
    expect(await codeOf(dave.m.sendFile({ conversationId: conv, path: large.path }))).toBe('FORBIDDEN');
    expect(await codeOf(dave.m.attachmentUploadBegin({ conversationId: conv, name: 'x.bin', type: '', size: 10 }))).toBe('FORBIDDEN');
  });

  it("the window's upload path sends to the group; a backup carries a group file; a delete for everyone removes it at every member", { timeout: 240_000 }, async () => {
    // A file the renderer holds, in chunks (attachmentUploadBegin/Chunk/Commit), from bob to the group.
    const content = Buffer.concat([Buffer.from(MARKER), randomBytes(70_000)]);
    const begun = await bob.m.attachmentUploadBegin({ conversationId: conv, name: WINDOW_NAME, type: 'application/octet-stream', size: content.length, caption: 'from the window' });
    await bob.m.attachmentUploadChunk({ uploadId: begun.uploadId, offset: 0, bytes: content.subarray(0, 65_536).toString('base64') });
    await bob.m.attachmentUploadChunk({ uploadId: begun.uploadId, offset: 65_536, bytes: content.subarray(65_536).toString('base64') });
    const sent = await bob.m.attachmentUploadCommit({ uploadId: begun.uploadId });
    expect(sent.conversationId).toBe(conv);
    for (const p of [alice, carol, erin]) {
      const m = await received(p, 'from the window');
      expect(m.sender).toBe('gf_bob');
      await waitFor(async () => (await p.m.attachmentsOf({ messageIds: [m.id] }))[0]?.downloaded === true, 60_000, `window file at ${nameOf(p)}`);
      const [att] = await p.m.attachmentsOf({ messageIds: [m.id] });
      const r = await p.m.attachmentRead({ attachmentId: att!.id, offset: 0, length: 200_000 });
      expect(Buffer.from(r.bytes, 'base64').equals(content)).toBe(true);
    }
    expect((await groupMessages(dave.m)).map((x) => x.text)).not.toContain('from the window');

    // Bob's backup carries the group's file with its bytes: an opened backup lists and reads it.
    const atBob = await received(bob, SMALL_CAPTION);
    const passphrase = 'group files backup passphrase, long enough 3c9e';
    const backupPath = join(scene.dirs.files, 'bob-group-files.age');
    await bob.m.backupExport({ jobId: 'group-files-export', path: backupPath, protection: { kind: 'passphrase', passphrase }, includeIdentity: false });
    const opened = await bob.m.backupOpen({ jobId: 'group-files-open', path: backupPath, key: { kind: 'passphrase', passphrase } });
    const [backedUp] = await bob.m.attachmentsOf({ messageIds: [atBob.id], backupId: opened.backupId });
    expect(backedUp).toMatchObject({ name: SMALL_NAME, downloaded: true });
    const fromBackup = await bob.m.attachmentRead({ attachmentId: backedUp!.id, offset: 0, length: 200_000, backupId: opened.backupId });
    expect(Buffer.from(fromBackup.bytes, 'base64').includes(Buffer.from(MARKER))).toBe(true);
    await bob.m.backupClose({ backupId: opened.backupId });

    // Alice deletes her small file for everyone: its bytes and record go at bob and carol too.
    const mine = (await groupMessages(alice.m)).find((x) => x.text === SMALL_CAPTION)!;
    const atCarol = await received(carol, SMALL_CAPTION);
    await alice.m.deleteMessage({ conversationId: conv, messageId: mine.id, forEveryone: true });
    expect(await alice.m.attachmentsOf({ messageIds: [mine.id] })).toEqual([]);
    await waitFor(async () => (await bob.m.attachmentsOf({ messageIds: [atBob.id] })).length === 0, 60_000, 'bob drops the deleted file');
    await waitFor(async () => (await carol.m.attachmentsOf({ messageIds: [atCarol.id] })).length === 0, 60_000, 'carol drops the deleted file');
    // Delete for me of a received file removes it there.
    const [bobLarge] = await bob.m.attachmentsOf({ messageIds: [(await received(bob, LARGE_CAPTION)).id] });
    expect(bobLarge).toBeDefined();
    await bob.m.deleteMessage({ conversationId: conv, messageId: bobLarge!.messageId });
    expect(await bob.m.attachmentsOf({ messageIds: [bobLarge!.messageId] })).toEqual([]);
    expect(await codeOf(bob.m.saveAttachment({ attachmentId: bobLarge!.id, path: join(scene.dirs.files, 'gone.bin') }))).toBe('UNKNOWN_MESSAGE');
  });

  it("a file sent under the group's disappearing timer goes with its message at every member", { timeout: 240_000 }, async () => {
    expect((await alice.m.groupSetTimer({ groupId, seconds: 30 })).timerSeconds).toBe(30);
    for (const p of [bob, carol, erin]) await waitFor(async () => (await p.m.groupInfo({ groupId })).timerSeconds === 30, 30_000, 'the timer everywhere');
    const brief = markedFile('brief.bin', 100);
    const sent = await alice.m.sendFile({ conversationId: conv, path: brief.path, caption: 'brief file' });
    expect(sent.timerSeconds).toBe(30);
    const ids = new Map<Peer, string>([[alice, sent.id]]);
    for (const p of [bob, carol, erin]) {
      const m = await received(p, 'brief file');
      expect(m.timerSeconds).toBe(30);
      await waitFor(async () => (await p.m.attachmentsOf({ messageIds: [m.id] }))[0]?.downloaded === true, 60_000, `the brief file at ${nameOf(p)}`);
      ids.set(p, m.id);
    }
    // Gone with the message: no record, no chunks to read, at the sender and every member.
    for (const [p, id] of ids) {
      await waitFor(async () => (await p.m.attachmentsOf({ messageIds: [id] })).length === 0, 90_000, `the brief file to disappear at ${nameOf(p)}`);
      expect((await groupMessages(p.m)).map((x) => x.text)).not.toContain('brief file');
    }
    await alice.m.groupSetTimer({ groupId, seconds: 0 });
  });

  it('leaves nothing of the files, their names or captions in plaintext in any profile or relay file', async () => {
    for (const p of [alice, bob, carol, dave, erin]) await p.m.lock();
    for (const dir of [scene.dirs.alice, scene.dirs.bob, scene.dirs.carol, scene.dirs.dave, scene.dirs.erin, scene.dirs.relay]) {
      for (const needle of [MARKER, SMALL_NAME, LARGE_NAME, WINDOW_NAME, SMALL_CAPTION, LARGE_CAPTION]) expect(await filesContaining(dir, needle), `${needle} in ${dir}`).toEqual([]);
    }
  });
});
