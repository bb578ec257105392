// Search finds an attachment by its file name (issue #15), on both sides of a real relay: the
// name is indexed with the message (in RAM, snapshot sealed), survives a lock and unlock (the
// sealed snapshot), is in no profile file in plaintext, and leaves the index when the message is
// deleted for everyone.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SearchHit } from '../../shared/api.ts';
import { filesContaining, helloPair, messagingScene, PASSWORD, waitFor } from './helpers.ts';

const scene = messagingScene('attach-search', ['alice', 'bob', 'files'] as const);
const NAME = 'quarterly-zebra-report.pdf';

/** The hit's snippet as text, with the matched parts. */
function shown(hit: SearchHit | undefined): { text: string; matched: string[] } {
  const parts = hit?.snippet ?? [];
  return { text: parts.map((p) => p.text).join(''), matched: parts.filter((p) => p.match).map((p) => p.text) };
}

describe('attachment search', () => {
  it('finds a sent and a received attachment by a word of its file name', async () => {
    const { alice, bob, toBob, toAlice } = await helloPair(scene);
    const path = join(scene.dirs.files, 'upload.tmp');
    writeFileSync(path, Buffer.from('%PDF-1.4 not really a pdf\n'));
    const sent = await alice.m.sendFile({ conversationId: toBob, path, name: NAME, jobId: 'job-search-1' });
    expect(sent.text).toBe('');

    const mine = await alice.m.search({ query: 'zebra', order: 'newest', limit: 10 });
    expect(mine.hits.map((h) => [h.messageId, h.conversationId])).toEqual([[sent.id, toBob]]);
    expect(shown(mine.hits[0])).toEqual({ text: NAME, matched: ['zebra'] });

    let theirs: Awaited<ReturnType<typeof bob.m.search>> | undefined;
    await waitFor(async () => {
      theirs = await bob.m.search({ query: 'zebra', order: 'newest', limit: 10 });
      return theirs.hits.length > 0;
    }, 60_000, 'bob finds the file by name');
    expect(theirs!.hits.map((h) => h.conversationId)).toEqual([toAlice]);
    expect(shown(theirs!.hits[0])).toEqual({ text: NAME, matched: ['zebra'] });
    // Other words of the name too; a word that is not in it finds nothing.
    expect((await bob.m.search({ query: 'quarterly report', order: 'newest', limit: 10 })).hits).toHaveLength(1);
    expect((await bob.m.search({ query: 'giraffe', order: 'newest', limit: 10 })).hits).toEqual([]);

    // Through the sealed snapshot: lock writes it, unlock reads it.
    await bob.m.lock();
    await bob.m.unlock({ password: PASSWORD });
    expect((await bob.m.search({ query: 'zebra', order: 'newest', limit: 10 })).hits).toHaveLength(1);
    for (const dir of [scene.dirs.alice, scene.dirs.bob, scene.dirs.relay]) expect(await filesContaining(dir, 'zebra')).toEqual([]);

    // Deleted for everyone: the name no longer finds it on either side.
    await alice.m.deleteMessage({ conversationId: toBob, messageId: sent.id, forEveryone: true });
    expect((await alice.m.search({ query: 'zebra', order: 'newest', limit: 10 })).hits).toEqual([]);
    await waitFor(async () => (await bob.m.search({ query: 'zebra', order: 'newest', limit: 10 })).hits.length === 0, 60_000, 'bob no longer finds it');
  }, 180_000);
});
