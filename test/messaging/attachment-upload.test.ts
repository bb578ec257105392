// The renderer's way to send a file (issue #15, docs/ui.md "Attachments"): begin / chunk /
// commit / cancel over the contract, and attachmentRead to get a downloaded file's bytes back.
// Between two Messengers through a real relay process: refused calls (over the relay's limit,
// a wrong offset, a chunk not cut at 64 KiB, more bytes than stated, an unknown upload, a frame
// over 256 KiB through the contract's own dispatch) answer typed errors and store nothing (the
// vault's kv rows are counted); a cancelled upload, and one left open at lock, leave no row; a
// committed one arrives byte-exact and reads back in chunks on both sides.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { dispatchCall } from '../../shared/api/rpc.ts';
import type { Messenger } from '../../main/messenger.ts';
import { codeOf, helloPair, kvRows, messagingScene, PASSWORD, waitFor } from './helpers.ts';

const scene = messagingScene('attach-up', ['alice', 'bob'] as const);
const KIB = 1024;
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

/** kv rows with the vault locked (it holds the database exclusively while unlocked). */
async function rowsLocked(m: Messenger, dir: string): Promise<number> {
  await m.lock();
  const n = await kvRows(dir);
  await m.unlock({ password: PASSWORD });
  return n;
}

async function readAll(m: Messenger, attachmentId: string, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = 0; at < size; at += 100 * KIB) {
    const r = await m.attachmentRead({ attachmentId, offset: at, length: 100 * KIB });
    expect(r.size).toBe(size);
    parts.push(Buffer.from(r.bytes, 'base64'));
  }
  return Buffer.concat(parts);
}

describe('chunked attachment upload through the contract', () => {
  it('refuses bad uploads with typed errors storing nothing, cancels cleanly, and delivers a committed one byte-exact', async () => {
    const { alice, bob, toBob, toAlice } = await helloPair(scene);
    // Bob's delivery receipt writes a row at alice's: let it land before rows are counted.
    await waitFor(async () => (await alice.m.historyPage({ conversationId: toBob, anchor: { kind: 'newest' }, limit: 5 })).messages[0]?.state === 'delivered', 60_000, 'hello delivered');

    const { maxBytes } = await alice.m.attachmentLimits();
    expect(maxBytes).toBe(100 * 1024 * 1024);
    const content = randomBytes(3 * 64 * KIB + 1234);
    // A first lock settles what unlocking writes (counters, state); from then on the count is steady.
    await rowsLocked(alice.m, scene.dirs.alice);
    const before = await rowsLocked(alice.m, scene.dirs.alice);
    expect(await rowsLocked(alice.m, scene.dirs.alice)).toBe(before);

    // Refused before anything is received.
    expect(await codeOf(alice.m.attachmentUploadBegin({ conversationId: toBob, name: 'big.bin', type: '', size: maxBytes + 1 }))).toBe('ATTACHMENT_TOO_LARGE');
    expect(await codeOf(alice.m.attachmentUploadBegin({ conversationId: toBob, name: '../evil.bin', type: '', size: 10 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(alice.m.attachmentUploadBegin({ conversationId: 'conv_nope', name: 'a.bin', type: '', size: 10 }))).toBe('UNKNOWN_CONVERSATION');
    const unknown = 'up_AAAAAAAAAAAAAAAAAAAAAA';
    expect(await codeOf(alice.m.attachmentUploadChunk({ uploadId: unknown, offset: 0, bytes: b64(content.subarray(0, 64 * KIB)) }))).toBe('UNKNOWN_UPLOAD');
    expect(await codeOf(alice.m.attachmentUploadCommit({ uploadId: unknown }))).toBe('UNKNOWN_UPLOAD');

    const { uploadId } = await alice.m.attachmentUploadBegin({ conversationId: toBob, name: 'photo-upload.png', type: 'image/png', size: content.length, caption: 'from the renderer', jobId: 'job-renderer-1' });
    expect(await codeOf(alice.m.attachmentUploadChunk({ uploadId, offset: 64 * KIB, bytes: b64(content.subarray(64 * KIB, 128 * KIB)) }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(alice.m.attachmentUploadChunk({ uploadId, offset: 0, bytes: b64(content.subarray(0, 1000)) }))).toBe('INVALID_ARGUMENT');
    const small = await alice.m.attachmentUploadBegin({ conversationId: toBob, name: 'small.bin', type: '', size: 1000 });
    expect(await codeOf(alice.m.attachmentUploadChunk({ uploadId: small.uploadId, offset: 0, bytes: b64(content.subarray(0, 1001)) }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(alice.m.attachmentUploadCommit({ uploadId }))).toBe('INVALID_ARGUMENT');
    // Over 256 KiB in one call: the contract's schema refuses it before the service sees it.
    const tooBig = await dispatchCall(alice.m, 'attachmentUploadChunk', { uploadId, offset: 0, bytes: b64(randomBytes(256 * KIB + 3)) });
    expect(tooBig).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    // Nothing was kept by any refusal (the open upload had received nothing, so lock drops nothing either).
    expect(await rowsLocked(alice.m, scene.dirs.alice)).toBe(before);

    // A cancelled upload leaves nothing behind, and its id is gone.
    const c = await alice.m.attachmentUploadBegin({ conversationId: toBob, name: 'cancel.bin', type: '', size: content.length });
    expect(await alice.m.attachmentUploadChunk({ uploadId: c.uploadId, offset: 0, bytes: b64(content.subarray(0, 128 * KIB)) })).toEqual({ received: 128 * KIB });
    expect(await alice.m.attachmentUploadCancel({ uploadId: c.uploadId })).toEqual({ cancelled: true });
    expect(await codeOf(alice.m.attachmentUploadChunk({ uploadId: c.uploadId, offset: 128 * KIB, bytes: b64(content.subarray(128 * KIB)) }))).toBe('UNKNOWN_UPLOAD');
    // One left open is dropped at lock with what it received.
    const open = await alice.m.attachmentUploadBegin({ conversationId: toBob, name: 'open.bin', type: '', size: content.length });
    await alice.m.attachmentUploadChunk({ uploadId: open.uploadId, offset: 0, bytes: b64(content.subarray(0, 64 * KIB)) });
    expect(await rowsLocked(alice.m, scene.dirs.alice)).toBe(before);
    expect(await codeOf(alice.m.attachmentUploadChunk({ uploadId: open.uploadId, offset: 64 * KIB, bytes: b64(content.subarray(64 * KIB, 128 * KIB)) }))).toBe('UNKNOWN_UPLOAD');

    // A full upload in order: 128 KiB, then 64 KiB, then the short last chunk.
    const up = await alice.m.attachmentUploadBegin({ conversationId: toBob, name: 'photo-upload.png', type: 'image/png', size: content.length, caption: 'from the renderer', jobId: 'job-renderer-2' });
    const progress: number[] = [];
    alice.m.subscribe((e) => {
      if (e.name === 'attachmentProgress' && e.payload.jobId === 'job-renderer-2') progress.push(e.payload.done);
    });
    expect(await alice.m.attachmentUploadChunk({ uploadId: up.uploadId, offset: 0, bytes: b64(content.subarray(0, 128 * KIB)) })).toEqual({ received: 128 * KIB });
    // A repeat of stored bytes is a wrong offset, not a second copy.
    expect(await codeOf(alice.m.attachmentUploadChunk({ uploadId: up.uploadId, offset: 0, bytes: b64(content.subarray(0, 64 * KIB)) }))).toBe('INVALID_ARGUMENT');
    await alice.m.attachmentUploadChunk({ uploadId: up.uploadId, offset: 128 * KIB, bytes: b64(content.subarray(128 * KIB, 192 * KIB)) });
    await alice.m.attachmentUploadChunk({ uploadId: up.uploadId, offset: 192 * KIB, bytes: b64(content.subarray(192 * KIB)) });
    const sent = await alice.m.attachmentUploadCommit({ uploadId: up.uploadId });
    expect(sent.text).toBe('from the renderer');
    expect(progress.length).toBeGreaterThan(0);
    expect(await codeOf(alice.m.attachmentUploadCommit({ uploadId: up.uploadId }))).toBe('UNKNOWN_UPLOAD');
    const [mine] = await alice.m.attachmentsOf({ messageIds: [sent.id] });
    expect(mine).toMatchObject({ name: 'photo-upload.png', type: 'image/png', size: content.length, downloaded: true });
    expect((await readAll(alice.m, mine!.id, content.length)).equals(content)).toBe(true);

    let received: string | undefined;
    await waitFor(async () => {
      const page = await bob.m.historyPage({ conversationId: toAlice, anchor: { kind: 'newest' }, limit: 10 });
      received = page.messages.find((m) => m.text === 'from the renderer')?.id;
      return received !== undefined;
    }, 60_000, 'bob gets the attachment');
    const [theirs] = await bob.m.attachmentsOf({ messageIds: [received!] });
    expect(theirs).toMatchObject({ name: 'photo-upload.png', type: 'image/png', size: content.length });
    expect(await bob.m.attachmentDownload({ attachmentId: theirs!.id })).toMatchObject({ downloaded: true });
    expect((await readAll(bob.m, theirs!.id, content.length)).equals(content)).toBe(true);
    expect(await codeOf(bob.m.attachmentRead({ attachmentId: theirs!.id, offset: content.length + 1, length: 10 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(bob.m.attachmentRead({ attachmentId: 'att_nope', offset: 0, length: 10 }))).toBe('UNKNOWN_MESSAGE');
  }, 180_000);
});
