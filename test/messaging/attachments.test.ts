// Attachments between two Messengers through a real relay process (issue #15): alice sends a
// file with a caption; bob sees the message with its attachment (name, size, type, not yet
// downloaded), saves it byte-exact (checked against the digest), the relay then deletes the
// blob; a blob damaged at the relay is refused and nothing is written; no profile or relay
// file holds the file's bytes, its name or the caption; deleting the message deletes the
// attachment's sealed chunks.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeOf, filesContaining, helloPair, kvRows, messagingScene, PASSWORD, waitFor } from './helpers.ts';

const scene = messagingScene('attach', ['alice', 'bob', 'files'] as const);
const NAME = 'quarterly-plans-zqx7.bin';
const CAPTION = 'caption-marker-vw4k';

describe('attachments end to end', () => {
  it('sends, lists, saves byte-exact, refuses damage, leaves no plaintext, and deletes with the message', async () => {
    const { alice, bob, toBob, toAlice } = await helloPair(scene);

    // A transfer cancelled mid-way: CANCELLED, no message, the partial blob withdrawn at the relay.
    const large = join(scene.dirs.files, 'large.bin');
    writeFileSync(large, randomBytes(12 * 1024 * 1024));
    const cancelling = alice.m.subscribe((e) => {
      if (e.name === 'attachmentProgress' && e.payload.jobId === 'job-cancel-1' && e.payload.done > 0) void alice.m.attachmentCancel({ jobId: 'job-cancel-1' });
    });
    expect(await codeOf(alice.m.sendFile({ conversationId: toBob, path: large, jobId: 'job-cancel-1' }))).toBe('CANCELLED');
    cancelling();
    expect(await alice.m.attachmentCancel({ jobId: 'job-cancel-1' })).toEqual({ cancelled: false });
    expect((await alice.m.historyPage({ conversationId: toBob, anchor: { kind: 'newest' }, limit: 10 })).messages.map((m) => m.text)).toEqual(['hello']);
    await waitFor(() => readdirSync(join(scene.dirs.relay, 'blobs')).length === 0, 30_000, 'the cancelled blob withdrawn');

    // Distinctive bytes: a marker repeated through the file, so any plaintext chunk would show.
    // Over 2 MiB, so it waits for a save (smaller ones are fetched on arrival, checked below).
    const marker = Buffer.from('PLAINTEXT-MARKER-3k9d');
    const content = Buffer.concat([randomBytes(1000), ...Array.from({ length: 110_000 }, () => marker), randomBytes(333)]);
    const path = join(scene.dirs.files, 'source.bin');
    writeFileSync(path, content);
    const progress: number[] = [];
    alice.m.subscribe((e) => {
      if (e.name === 'attachmentProgress' && e.payload.jobId === 'job-upload-1') progress.push(e.payload.done);
    });
    const sent = await alice.m.sendFile({ conversationId: toBob, path, caption: CAPTION, name: NAME, jobId: 'job-upload-1' });
    expect(sent.text).toBe(CAPTION);
    expect(progress.length).toBeGreaterThan(2);
    const [mine] = await alice.m.attachmentsOf({ messageIds: [sent.id] });
    expect(mine).toMatchObject({ name: NAME, size: content.length, downloaded: true, messageId: sent.id });

    let received: string | undefined;
    await waitFor(async () => {
      const page = await bob.m.historyPage({ conversationId: toAlice, anchor: { kind: 'newest' }, limit: 10 });
      received = page.messages.find((m) => m.text === CAPTION)?.id;
      return received !== undefined;
    }, 60_000, 'bob gets the attachment message');
    const [theirs] = await bob.m.attachmentsOf({ messageIds: [received!] });
    expect(theirs).toMatchObject({ name: NAME, size: content.length, downloaded: false, type: 'application/octet-stream' });

    const out = join(scene.dirs.files, 'saved.bin');
    expect(await bob.m.saveAttachment({ attachmentId: theirs!.id, path: out })).toEqual({ bytes: content.length });
    expect(readFileSync(out).equals(content)).toBe(true);
    expect((await bob.m.attachmentsOf({ messageIds: [received!] }))[0]!.downloaded).toBe(true);
    // Bob is done: the relay deletes the blob.
    await waitFor(() => readdirSync(join(scene.dirs.relay, 'blobs')).length === 0, 30_000, 'blob deleted at the relay');
    // Alice saves her own copy from the vault.
    const out2 = join(scene.dirs.files, 'saved-by-alice.bin');
    await alice.m.saveAttachment({ attachmentId: mine!.id, path: out2 });
    expect(readFileSync(out2).equals(content)).toBe(true);

    // A second file, damaged at the relay before bob fetches it.
    const second = join(scene.dirs.files, 'second.bin');
    writeFileSync(second, randomBytes(2_500_000));
    const sent2 = await alice.m.sendFile({ conversationId: toBob, path: second, caption: 'second' });
    expect(sent2.text).toBe('second');
    let received2: string | undefined;
    await waitFor(async () => {
      const page = await bob.m.historyPage({ conversationId: toAlice, anchor: { kind: 'newest' }, limit: 10 });
      received2 = page.messages.find((m) => m.text === 'second')?.id;
      return received2 !== undefined;
    }, 60_000, 'bob gets the second');
    const [blobName] = readdirSync(join(scene.dirs.relay, 'blobs'));
    const blobPath = join(scene.dirs.relay, 'blobs', blobName!);
    const bytes = readFileSync(blobPath);
    bytes[2_000_000] = (bytes[2_000_000] as number) ^ 1;
    writeFileSync(blobPath, bytes);
    const [att2] = await bob.m.attachmentsOf({ messageIds: [received2!] });
    const out3 = join(scene.dirs.files, 'damaged.bin');
    expect(await codeOf(bob.m.saveAttachment({ attachmentId: att2!.id, path: out3 }))).toBe('PROTOCOL_ERROR');
    expect(existsSync(out3)).toBe(false);
    expect(readdirSync(scene.dirs.files).filter((f) => f.includes('.part'))).toEqual([]);
    expect((await bob.m.attachmentsOf({ messageIds: [received2!] }))[0]!.downloaded).toBe(false);

    // A small file is fetched on arrival: downloaded without a save, and the relay's blob is gone.
    const small = join(scene.dirs.files, 'small.bin');
    const smallContent = randomBytes(10_000);
    writeFileSync(small, smallContent);
    // Sent under a disappearing timer: the file carries it like a text (and expires with the message).
    await alice.m.setDisappearingTimer({ conversationId: toBob, seconds: 3600 });
    expect((await alice.m.sendFile({ conversationId: toBob, path: small, caption: 'small one' })).timerSeconds).toBe(3600);
    await alice.m.setDisappearingTimer({ conversationId: toBob, seconds: 0 });
    let received3: string | undefined;
    await waitFor(async () => {
      const page = await bob.m.historyPage({ conversationId: toAlice, anchor: { kind: 'newest' }, limit: 10 });
      received3 = page.messages.find((m) => m.text === 'small one')?.id;
      return received3 !== undefined && (await bob.m.attachmentsOf({ messageIds: [received3] }))[0]?.downloaded === true;
    }, 60_000, 'the small attachment is downloaded on arrival');
    await waitFor(() => readdirSync(join(scene.dirs.relay, 'blobs')).length === 1, 30_000, 'only the damaged blob left');
    const [att3] = await bob.m.attachmentsOf({ messageIds: [received3!] });
    expect((await bob.m.historyPage({ conversationId: toAlice, anchor: { kind: 'newest' }, limit: 10 })).messages.find((m) => m.id === received3)?.timerSeconds).toBe(3600);
    const out4 = join(scene.dirs.files, 'small-saved.bin');
    await bob.m.saveAttachment({ attachmentId: att3!.id, path: out4 });
    expect(readFileSync(out4).equals(smallContent)).toBe(true);

    // Deleted for everyone by alice: bob's copy of the file goes with the text.
    const small2 = (await alice.m.historyPage({ conversationId: toBob, anchor: { kind: 'newest' }, limit: 10 })).messages.find((m) => m.text === 'small one');
    await alice.m.deleteMessage({ conversationId: toBob, messageId: small2!.id, forEveryone: true });
    expect(await alice.m.attachmentsOf({ messageIds: [small2!.id] })).toEqual([]);
    await waitFor(async () => (await bob.m.attachmentsOf({ messageIds: [received3!] })).length === 0, 60_000, 'bob drops the file deleted for everyone');
    expect(await codeOf(bob.m.saveAttachment({ attachmentId: att3!.id, path: join(scene.dirs.files, 'x.bin') }))).toBe('UNKNOWN_MESSAGE');

    // Nothing of the file, its name or the caption in any profile or relay file.
    for (const dir of [scene.dirs.alice, scene.dirs.bob, scene.dirs.relay]) {
      expect(await filesContaining(dir, marker.toString())).toEqual([]);
      expect(await filesContaining(dir, NAME)).toEqual([]);
      expect(await filesContaining(dir, CAPTION)).toEqual([]);
    }

    // Deleting the message deletes its sealed chunks (5 of 64 KiB) and its record.
    // (Counted with the vault locked: it holds the database exclusively while unlocked.)
    await bob.m.lock();
    const before = await kvRows(scene.dirs.bob);
    await bob.m.unlock({ password: PASSWORD });
    await bob.m.deleteMessage({ conversationId: toAlice, messageId: received! });
    expect(await bob.m.attachmentsOf({ messageIds: [received!] })).toEqual([]);
    expect(await codeOf(bob.m.saveAttachment({ attachmentId: theirs!.id, path: join(scene.dirs.files, 'gone.bin') }))).toBe('UNKNOWN_MESSAGE');
    await bob.m.lock();
    expect(before - (await kvRows(scene.dirs.bob))).toBeGreaterThanOrEqual(Math.ceil(content.length / 65536) + 2);
  }, 240_000);
});
