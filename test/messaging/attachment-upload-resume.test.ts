// An upload cut short by the client's own death resumes after a restart (issue #15): a child
// process sending alice's 20 MiB file is SIGKILLed mid-way; alice, reopened, sends the same file
// again and the upload goes on from what the relay has (its first progress is megabytes in);
// the relay keeps one blob, and bob saves the file byte for byte. Then a file rewritten in place
// with the same size and modification time after such a kill: its content no longer seals to the
// digest kept with the resume, so the upload starts over (from 0, under a new key, the stale blob
// withdrawn) and bob gets the new bytes, not ATTACHMENT_CORRUPT. A real relay process.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { helloPair, messagingScene, reopen, waitFor } from './helpers.ts';
import { transferUntilKilled } from './transfer-child.ts';

const scene = messagingScene('attupresume', ['alice', 'bob', 'files'] as const);
const MiB = 1024 * 1024;

describe('attachment upload after a client restart', () => {
  it('continues from the length the relay acknowledged', { timeout: 240_000 }, async () => {
    const { alice, bob, toBob, toAlice } = await helloPair(scene);
    const content = randomBytes(20 * MiB);
    const path = join(scene.dirs.files, 'twenty.bin');
    writeFileSync(path, content);
    await alice.m.close();

    await transferUntilKilled('attachment-upload-resume-child.ts', [scene.dirs.alice, toBob, path], 8 * MiB);
    expect(readdirSync(join(scene.dirs.relay, 'blobs'))).toHaveLength(1);

    const again = await reopen(scene.dirs.alice);
    scene.peers.push(again);
    const progress: number[] = [];
    again.m.subscribe((e) => {
      if (e.name === 'attachmentProgress' && e.payload.jobId === 'resume') progress.push(e.payload.done);
    });
    await again.m.sendFile({ conversationId: toBob, path, caption: 'resumed upload', jobId: 'resume' });
    // What the relay had acknowledged before the kill was not sent again.
    expect(progress[0]).toBeGreaterThanOrEqual(6 * MiB);
    expect(readdirSync(join(scene.dirs.relay, 'blobs'))).toHaveLength(1);

    let id: string | undefined;
    await waitFor(async () => {
      const page = await bob.m.historyPage({ conversationId: toAlice, anchor: { kind: 'newest' }, limit: 10 });
      id = page.messages.find((m) => m.text === 'resumed upload')?.id;
      return id !== undefined;
    }, 60_000, 'bob gets the file');
    const [att] = await bob.m.attachmentsOf({ messageIds: [id!] });
    const out = join(scene.dirs.files, 'twenty.out');
    await bob.m.saveAttachment({ attachmentId: att!.id, path: out });
    expect(readFileSync(out).equals(content)).toBe(true);

    // The same path, size and time, other bytes: no resume onto the old chunks.
    const path2 = join(scene.dirs.files, 'rewritten.bin');
    writeFileSync(path2, randomBytes(20 * MiB));
    // Whole seconds, so setting the time again after the rewrite gives the very same mtimeMs.
    const when = Math.floor(Date.now() / 1000) - 60;
    utimesSync(path2, when, when);
    await again.m.close();
    await transferUntilKilled('attachment-upload-resume-child.ts', [scene.dirs.alice, toBob, path2], 8 * MiB);
    await waitFor(() => readdirSync(join(scene.dirs.relay, 'blobs')).length === 1, 30_000, 'the first blob fetched and gone');
    const st = statSync(path2);
    const rewritten = randomBytes(20 * MiB);
    writeFileSync(path2, rewritten);
    utimesSync(path2, when, when);
    expect(statSync(path2).mtimeMs).toBe(st.mtimeMs);
    const third = await reopen(scene.dirs.alice);
    scene.peers.push(third);
    const progress2: number[] = [];
    third.m.subscribe((e) => {
      if (e.name === 'attachmentProgress' && e.payload.jobId === 'rewritten') progress2.push(e.payload.done);
    });
    await third.m.sendFile({ conversationId: toBob, path: path2, caption: 'rewritten', jobId: 'rewritten' });
    expect(progress2[0]).toBe(0);
    let id2: string | undefined;
    await waitFor(async () => {
      const page = await bob.m.historyPage({ conversationId: toAlice, anchor: { kind: 'newest' }, limit: 10 });
      id2 = page.messages.find((m) => m.text === 'rewritten')?.id;
      return id2 !== undefined;
    }, 60_000, 'bob gets the rewritten file');
    const [att2] = await bob.m.attachmentsOf({ messageIds: [id2!] });
    const out2 = join(scene.dirs.files, 'rewritten.out');
    await bob.m.saveAttachment({ attachmentId: att2!.id, path: out2 });
    expect(readFileSync(out2).equals(rewritten)).toBe(true);
    // The stale partial blob was withdrawn, and bob's fetch ended the new one.
    await waitFor(() => readdirSync(join(scene.dirs.relay, 'blobs')).length === 0, 30_000, 'no blob left at the relay');
  });
});
