// A file dropped on the chat (bytes over the contract, no path) whose commit a crash cut short is
// sent after the restart (issue #15): a child process committing alice's 20 MiB window upload is
// SIGKILLed mid-upload; alice, reopened, keeps the staged chunks at unlock, and once connected
// continues the upload on the same relay blob (the relay never holds a second one) and sends the
// message once. Bob saves the file byte for byte. A real relay process.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { helloPair, messagingScene, reopen, waitFor } from './helpers.ts';
import { transferUntilKilled } from './transfer-child.ts';

const scene = messagingScene('attwinresume', ['alice', 'bob', 'files'] as const);
const MiB = 1024 * 1024;
const blobs = (): string[] => readdirSync(join(scene.dirs.relay, 'blobs'));

describe('window upload after a client restart', () => {
  it('goes on from the relay blob and sends the message once', { timeout: 240_000 }, async () => {
    const { alice, bob, toBob, toAlice } = await helloPair(scene);
    const content = randomBytes(20 * MiB);
    const path = join(scene.dirs.files, 'dropped.bin');
    writeFileSync(path, content);
    await alice.m.close();

    await transferUntilKilled('attachment-window-resume-child.ts', [scene.dirs.alice, toBob, path], 8 * MiB);
    expect(blobs()).toHaveLength(1);

    const again = await reopen(scene.dirs.alice);
    scene.peers.push(again);
    let id: string | undefined;
    await waitFor(async () => {
      const page = await bob.m.historyPage({ conversationId: toAlice, anchor: { kind: 'newest' }, limit: 10 });
      id = page.messages.find((m) => m.text === 'dropped on the chat')?.id;
      return id !== undefined;
    }, 120_000, 'bob gets the dropped file');
    // The same blob went on: a fresh upload would have left the partial one beside it.
    expect(blobs()).toHaveLength(1);
    const [att] = await bob.m.attachmentsOf({ messageIds: [id!] });
    const out = join(scene.dirs.files, 'dropped.out');
    await bob.m.saveAttachment({ attachmentId: att!.id, path: out });
    expect(readFileSync(out).equals(content)).toBe(true);

    // Alice's chat holds the message once, with her own copy of the file.
    const mine = (await again.m.historyPage({ conversationId: toBob, anchor: { kind: 'newest' }, limit: 20 })).messages.filter((m) => m.text === 'dropped on the chat');
    expect(mine).toHaveLength(1);
    const [own] = await again.m.attachmentsOf({ messageIds: [mine[0]!.id] });
    const read = await again.m.attachmentRead({ attachmentId: own!.id, offset: 5 * MiB, length: 64 * 1024 });
    expect(Buffer.from(read.bytes, 'base64').equals(content.subarray(5 * MiB, 5 * MiB + 64 * 1024))).toBe(true);
  });
});
