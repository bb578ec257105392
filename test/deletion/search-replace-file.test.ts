// A file without a caption, deleted for everyone (1:1, through the Messenger on a real relay
// process): the message stays as a tombstone under the same id, re-indexed blank, and its file
// name, indexed as the message's extra text, leaves the search index. After the lock, the sealed
// snapshot (opened with a key from the profile, the data key's subkeys in hand) and every file of
// the profile hold no trace of the name.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { messagingScene, PASSWORD, peersOn, waitFor } from '../messaging/helpers.ts';
import { observeSubkeys, profileFiles, snapshotImage, WORDS, wordsIn } from '../vault/deletion-scan.ts';

const scene = messagingScene('search-replace-file', ['alice', 'bob', 'files']);
observeSubkeys();

describe('a 1:1 file without a caption, deleted for everyone', () => {
  it('is no longer found by its name, and the name is in no file after the lock', { timeout: 180_000 }, async () => {
    // Bob first: the key observer keeps the last subkeys derived under each name, alice's.
    const { bob, alice } = await peersOn(scene, ['bob', 'alice'], 'srf_');
    const conv = (await alice.m.contactAdd({ handle: 'srf_bob' })).conversationId;
    await alice.m.sendText({ conversationId: conv, text: `the ${WORDS[2]} stays` });
    await waitFor(async () => (await bob.m.contactsList()).length === 1, 60_000, 'bob sees alice');
    const path = join(scene.dirs.files, `${WORDS[0]}-plan.bin`);
    writeFileSync(path, Buffer.from('some bytes of the plan'));
    const sent = await alice.m.sendFile({ conversationId: conv, path });
    expect(sent.text).toBe('');
    const find = async (word: string): Promise<string[]> => (await alice.m.search({ query: word, order: 'newest', limit: 10 })).hits.map((h) => h.messageId);
    expect(await find(WORDS[0])).toEqual([sent.id]);
    await alice.m.lock();
    expect(wordsIn(await snapshotImage(alice.dir))).toEqual([WORDS[0], WORDS[2]]); // the name was in the snapshot

    await alice.m.unlock({ password: PASSWORD });
    expect(await alice.m.deleteMessage({ conversationId: conv, messageId: sent.id, forEveryone: true })).toEqual({ deleted: 1 });
    expect(await alice.m.attachmentsOf({ messageIds: [sent.id] })).toEqual([]);
    expect(await find(WORDS[0])).toEqual([]);
    expect(await find(WORDS[2])).toHaveLength(1);
    await alice.m.lock();
    expect(wordsIn(await snapshotImage(alice.dir))).toEqual([WORDS[2]]);
    const holding = [...(await profileFiles(alice.dir))].filter(([, bytes]) => wordsIn(bytes).length > 0).map(([name]) => name);
    expect(holding).toEqual([]);
  });
});
