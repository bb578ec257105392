// Image metadata is stripped before encryption (issue #15): a JPEG carrying GPS EXIF, sent by
// path (sendFile) and a PNG with a location text chunk staged by the window (chunked upload),
// reach bob — and alice's own sealed copy — without it, every image byte kept; a JPEG that does
// not parse is refused (METADATA_NOT_REMOVED), never sent unstripped; with the setting
// keepImageMetadata on, the same JPEGs arrive byte for byte, GPS included. Two
// Messengers and a real relay process.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { helloPair, messagingScene, waitFor, type Peer } from './helpers.ts';

const scene = messagingScene('strip', ['alice', 'bob', 'files'] as const);

const GPS = Buffer.from('GPSLatitude=51.5074N;GPSLongitude=0.1278W');
const SERIAL = Buffer.from('BodySerialNumber=CAM-99812');
const seg = (marker: number, payload: Buffer): Buffer => Buffer.concat([Buffer.from([0xff, marker, (payload.length + 2) >> 8, (payload.length + 2) & 0xff]), payload]);
const pngChunk = (type: string, data: Buffer): Buffer => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, Buffer.from(type, 'latin1'), data, Buffer.from([9, 9, 9, 9])]);
};

/**
 * A JPEG as a camera writes it: SOI, JFIF, an EXIF APP1 (big-endian TIFF with a GPS IFD pointer,
 * tag 0x8825, and the position), tables, then a scan of 300 KiB (several 64 KiB chunks).
 */
function cameraJpeg(): { file: Buffer; withoutMetadata: Buffer } {
  const tiff = Buffer.concat([Buffer.from('MM\0*\0\0\0\x08\0\x01\x88\x25\0\x04\0\0\0\x01\0\0\0\x1a\0\0\0\0', 'latin1'), GPS, SERIAL]);
  const jfif = seg(0xe0, Buffer.from('JFIF\0\x01\x02\0\0\x01\0\x01\0\0', 'latin1'));
  const exif = seg(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]));
  const dqt = seg(0xdb, Buffer.alloc(65, 3));
  const sof = seg(0xc0, Buffer.from([8, 0, 16, 0, 16, 1, 1, 0x11, 0]));
  const scan = Buffer.concat([seg(0xda, Buffer.from([1, 1, 0, 0, 63, 0])), randomBytes(300 * 1024).map((b) => (b === 0xff ? 0x00 : b)), Buffer.from([0xff, 0xd9])]);
  return {
    file: Buffer.concat([Buffer.from([0xff, 0xd8]), jfif, exif, dqt, sof, scan]),
    withoutMetadata: Buffer.concat([Buffer.from([0xff, 0xd8]), jfif, dqt, sof, scan]),
  };
}

async function receivedBytes(bob: Peer, toAlice: string, caption: string, out: string): Promise<Buffer> {
  let id: string | undefined;
  await waitFor(async () => {
    const page = await bob.m.historyPage({ conversationId: toAlice, anchor: { kind: 'newest' }, limit: 20 });
    id = page.messages.find((m) => m.text === caption)?.id;
    return id !== undefined;
  }, 60_000, `bob gets "${caption}"`);
  const [a] = await bob.m.attachmentsOf({ messageIds: [id!] });
  await bob.m.saveAttachment({ attachmentId: a!.id, path: out });
  return readFileSync(out);
}

describe('image metadata on send', () => {
  it('is stripped by default (file path and window upload), kept with the setting on', async () => {
    const { alice, bob, toBob, toAlice } = await helloPair(scene);
    expect((await alice.m.settingsGet()).keepImageMetadata).toBe(false);

    // 1. By path: the JPEG's EXIF (GPS, serial) is gone, everything else byte for byte.
    const jpeg = cameraJpeg();
    const path = join(scene.dirs.files, 'IMG_0001.jpg');
    writeFileSync(path, jpeg.file);
    const sent = await alice.m.sendFile({ conversationId: toBob, path, caption: 'by path' });
    const got = await receivedBytes(bob, toAlice, 'by path', join(scene.dirs.files, 'bob-1.jpg'));
    expect(got.includes(GPS)).toBe(false);
    expect(got.includes(SERIAL)).toBe(false);
    expect(got.includes(Buffer.from('Exif'))).toBe(false);
    expect(got.equals(jpeg.withoutMetadata)).toBe(true);
    // Alice's own sealed copy is what she sent, not the original.
    const [mine] = await alice.m.attachmentsOf({ messageIds: [sent.id] });
    expect(mine!.size).toBe(jpeg.withoutMetadata.length);
    await alice.m.saveAttachment({ attachmentId: mine!.id, path: join(scene.dirs.files, 'alice-1.jpg') });
    expect(readFileSync(join(scene.dirs.files, 'alice-1.jpg')).equals(jpeg.withoutMetadata)).toBe(true);

    // 2. From the window (bytes staged in the vault): a PNG's location text chunk is gone.
    const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const ihdr = pngChunk('IHDR', Buffer.alloc(13, 1));
    const idat = pngChunk('IDAT', randomBytes(200 * 1024));
    const iend = pngChunk('IEND', Buffer.alloc(0));
    const png = Buffer.concat([sig, ihdr, pngChunk('tEXt', Buffer.concat([Buffer.from('Location\0'), GPS])), idat, iend]);
    const { uploadId } = await alice.m.attachmentUploadBegin({ conversationId: toBob, name: 'screen.png', type: 'image/png', size: png.length, caption: 'from the window' });
    for (let at = 0; at < png.length; at += 128 * 1024) {
      await alice.m.attachmentUploadChunk({ uploadId, offset: at, bytes: png.subarray(at, at + 128 * 1024).toString('base64') });
    }
    const staged = await alice.m.attachmentUploadCommit({ uploadId });
    const gotPng = await receivedBytes(bob, toAlice, 'from the window', join(scene.dirs.files, 'bob-2.png'));
    expect(gotPng.includes(GPS)).toBe(false);
    expect(gotPng.equals(Buffer.concat([sig, ihdr, idat, iend]))).toBe(true);
    const [minePng] = await alice.m.attachmentsOf({ messageIds: [staged.id] });
    const read = await alice.m.attachmentRead({ attachmentId: minePng!.id, offset: 0, length: 256 * 1024 });
    expect(Buffer.from(read.bytes, 'base64').equals(gotPng)).toBe(true);

    // 2b. A JPEG whose structure does not parse (a stray byte where a marker must be) is refused,
    // by path and from the window: its EXIF cannot be told apart, so nothing of it is sent.
    const bad = Buffer.concat([jpeg.file.subarray(0, 20), Buffer.from([0x00]), jpeg.file.subarray(20)]);
    const badPath = join(scene.dirs.files, 'IMG_0002.jpg');
    writeFileSync(badPath, bad);
    const before = (await alice.m.historyPage({ conversationId: toBob, anchor: { kind: 'newest' }, limit: 50 })).messages.length;
    await expect(alice.m.sendFile({ conversationId: toBob, path: badPath, caption: 'bad' })).rejects.toMatchObject({ code: 'METADATA_NOT_REMOVED' });
    const badUp = await alice.m.attachmentUploadBegin({ conversationId: toBob, name: 'bad.jpg', type: 'image/jpeg', size: bad.length, caption: 'bad window' });
    for (let at = 0; at < bad.length; at += 128 * 1024) {
      await alice.m.attachmentUploadChunk({ uploadId: badUp.uploadId, offset: at, bytes: bad.subarray(at, at + 128 * 1024).toString('base64') });
    }
    await expect(alice.m.attachmentUploadCommit({ uploadId: badUp.uploadId })).rejects.toMatchObject({ code: 'METADATA_NOT_REMOVED' });
    expect((await alice.m.historyPage({ conversationId: toBob, anchor: { kind: 'newest' }, limit: 50 })).messages.length).toBe(before);

    // 3. The setting on: the same JPEG arrives as it is, GPS included.
    expect((await alice.m.settingsUpdate({ keepImageMetadata: true })).keepImageMetadata).toBe(true);
    await alice.m.sendFile({ conversationId: toBob, path, caption: 'kept' });
    const kept = await receivedBytes(bob, toAlice, 'kept', join(scene.dirs.files, 'bob-3.jpg'));
    expect(kept.equals(jpeg.file)).toBe(true);
    expect(kept.includes(GPS)).toBe(true);
    // And the one that does not parse goes as it is too, as the refusal said.
    await alice.m.sendFile({ conversationId: toBob, path: badPath, caption: 'bad kept' });
    expect((await receivedBytes(bob, toAlice, 'bad kept', join(scene.dirs.files, 'bob-4.jpg'))).equals(bad)).toBe(true);
  });
});
