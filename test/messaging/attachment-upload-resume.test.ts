// An upload cut short by the client's own death resumes after a restart (issue #15): a child
// process sending alice's 20 MiB file is SIGKILLed mid-way; alice, reopened, sends the same file
// again and the upload goes on from what the relay has (its first progress is megabytes in);
// the relay keeps one blob, and bob saves the file byte for byte. A real relay process.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
  });
});
