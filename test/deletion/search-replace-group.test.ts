// A group file without a caption, deleted for everyone: its name must leave the search index
// (the 1:1 path redacts such a message with evenIfBlank, delete-for-everyone.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { messagingScene, peersOn, waitFor } from '../messaging/helpers.ts';

const scene = messagingScene('search-replace-group', ['alice', 'bob', 'files']);
const NAME_WORD = 'zanzibarquokka';

describe('a group file without a caption, deleted for everyone', () => {
  it('is no longer found by its name', { timeout: 180_000 }, async () => {
    const { alice, bob } = await peersOn(scene, ['alice', 'bob'], 'srg_');
    const created = await alice.m.groupCreate({ name: 'Files', members: ['srg_bob'] });
    await waitFor(async () => (await bob.m.groupsList()).some((g) => g.groupId === created.groupId), 30_000, 'the group at bob');
    const path = join(scene.dirs.files, `${NAME_WORD}-plan.bin`);
    writeFileSync(path, Buffer.from('some bytes of the plan'));
    const sent = await alice.m.sendFile({ conversationId: created.conversationId, path });
    expect(sent.text).toBe('');
    expect((await alice.m.search({ query: NAME_WORD, order: 'newest', limit: 10 })).hits.map((h) => h.messageId)).toEqual([sent.id]);
    expect(await alice.m.deleteMessage({ conversationId: created.conversationId, messageId: sent.id, forEveryone: true })).toEqual({ deleted: 1 });
    expect(await alice.m.attachmentsOf({ messageIds: [sent.id] })).toEqual([]);
    expect((await alice.m.search({ query: NAME_WORD, order: 'newest', limit: 10 })).hits).toEqual([]);
  });
});
