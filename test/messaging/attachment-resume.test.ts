// A download cut short by the client's own death resumes after a restart (issue #15): a child
// process downloading bob's 20 MiB attachment is SIGKILLed mid-way; bob, reopened, continues
// from the chunks it had stored (its first progress is already megabytes in), and the file
// checks out against the sender's digest byte for byte. A real relay process.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { helloPair, messagingScene, reopen, waitFor } from './helpers.ts';
import { transferUntilKilled } from './transfer-child.ts';

const scene = messagingScene('attresume', ['alice', 'bob', 'files'] as const);
const MiB = 1024 * 1024;

describe('attachment download after a client restart', () => {
  it('resumes from the chunks stored before the SIGKILL', { timeout: 240_000 }, async () => {
    const { alice, bob, toBob, toAlice } = await helloPair(scene);
    const content = randomBytes(20 * MiB);
    const path = join(scene.dirs.files, 'twenty.bin');
    writeFileSync(path, content);
    await alice.m.sendFile({ conversationId: toBob, path, caption: 'twenty' });
    let id: string | undefined;
    await waitFor(async () => {
      const page = await bob.m.historyPage({ conversationId: toAlice, anchor: { kind: 'newest' }, limit: 10 });
      id = page.messages.find((m) => m.text === 'twenty')?.id;
      return id !== undefined;
    }, 60_000, 'bob gets the file message');
    const [att] = await bob.m.attachmentsOf({ messageIds: [id!] });
    expect(att!.downloaded).toBe(false);
    await bob.m.close();

    await transferUntilKilled('attachment-resume-child.ts', [scene.dirs.bob, att!.id], 8 * MiB);

    const again = await reopen(scene.dirs.bob);
    scene.peers.push(again);
    const progress: number[] = [];
    again.m.subscribe((e) => {
      if (e.name === 'attachmentProgress' && e.payload.jobId === 'resume') progress.push(e.payload.done);
    });
    expect(await again.m.attachmentDownload({ attachmentId: att!.id, jobId: 'resume' })).toMatchObject({ downloaded: true, size: content.length });
    // Everything the child had stored (whole 1 MiB batches before the kill) was not fetched again.
    expect(progress[0]).toBeGreaterThanOrEqual(6 * MiB);
    const out = join(scene.dirs.files, 'twenty.out');
    await again.m.saveAttachment({ attachmentId: att!.id, path: out });
    expect(readFileSync(out).equals(content)).toBe(true);
  });
});
