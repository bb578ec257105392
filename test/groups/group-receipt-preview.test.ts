// The chat list's line of a group whose newest message is a file without a caption
// (main/messenger/group-receipts.ts withFileName / newestFields): it names the file, as a 1:1
// chat's line does ("@alice: File: name"), both when the list asks (groupsActivity) and when an
// arrival is pushed (groupActivity event). Before, it read "@alice: " with nothing after the name.
// Real relay process, real libsignal, real vaults on disk.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GroupActivity } from '../../shared/api.ts';
import { chatEntries } from '../../renderer/src/chat/group-list.ts';
import { chatPreview } from '../../renderer/src/chat/preview.ts';
import { messagingScene, peersOn, waitFor, type Peer } from '../messaging/helpers.ts';

const scene = messagingScene('group-preview', ['alice', 'bob', 'files']);
let alice: Peer, bob: Peer;
let groupId = '';

const FILE_NAME = 'trail-map-k3v9.pdf';
const asked = async (p: Peer): Promise<GroupActivity | undefined> => (await p.m.groupsActivity()).find((a) => a.groupId === groupId);
const pushed = (p: Peer): GroupActivity | undefined => p.events.flatMap((e) => (e.name === 'groupActivity' && e.payload.groupId === groupId ? [e.payload] : [])).at(-1);
/** The line the chat list shows for the group, as the renderer makes it. */
async function line(p: Peer, activity: GroupActivity): Promise<string> {
  const groups = (await p.m.groupsList()).filter((g) => g.groupId === groupId);
  return chatPreview(chatEntries([], groups, [activity])[0]!, (h) => `@${h}`);
}

beforeAll(async () => {
  ({ alice, bob } = await peersOn(scene, ['alice', 'bob'], 'gp_'));
  groupId = (await alice.m.groupCreate({ name: 'Preview', members: ['gp_bob'] })).groupId;
  await waitFor(async () => (await bob.m.groupsList()).some((g) => g.groupId === groupId), 30_000, 'the group at bob');
}, 120_000);

describe('group chat list line', () => {
  it('a file without a caption reads "File: name" at the member and at the author', async () => {
    await alice.m.groupSend({ groupId, text: 'before the file' });
    await waitFor(async () => (await asked(bob))?.lastMessage?.text === 'before the file', 30_000, 'the text at bob');
    const path = join(scene.dirs.files, FILE_NAME);
    writeFileSync(path, Buffer.alloc(3000, 7));
    bob.events.length = 0;
    await alice.m.sendFile({ conversationId: `g${groupId}`, path });

    // Pushed to bob as it arrives (group-activity.ts keeps the entry between changes).
    await waitFor(() => pushed(bob)?.lastMessage?.file !== undefined, 30_000, 'the pushed entry with the file');
    expect(pushed(bob)!.lastMessage).toMatchObject({ text: '', file: FILE_NAME, sender: 'gp_alice', direction: 'in' });
    expect(await line(bob, pushed(bob)!)).toBe(`@gp_alice: File: ${FILE_NAME}`);
    // Asked for (the same entry), and at the author's side computed from the history.
    expect((await asked(bob))!.lastMessage).toMatchObject({ file: FILE_NAME });
    const own = await asked(alice);
    expect(own?.lastMessage).toMatchObject({ text: '', file: FILE_NAME, direction: 'out' });
    expect(await line(alice, own!)).toBe(`You: File: ${FILE_NAME}`);

    // A text after it: no file mark any more.
    await alice.m.groupSend({ groupId, text: 'after the file' });
    await waitFor(async () => (await asked(bob))?.lastMessage?.text === 'after the file', 30_000, 'the next text at bob');
    expect((await asked(bob))!.lastMessage!.file).toBeUndefined();
  });
});
