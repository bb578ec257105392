// Image metadata stripping (main/messenger/strip-metadata.ts, strip-formats.ts) on crafted JPEG,
// PNG, GIF and WebP bytes: the EXIF/GPS, XMP, text and comment bytes are gone wherever they sit
// (between progressive scans, after the image's end), every image data byte is kept in order,
// and input that does not parse is reported as such (the sender refuses it, strip-source.ts).
import { describe, expect, it } from 'vitest';
import { MetadataNotRemoved, stripImageMetadata } from '../../main/messenger/strip-metadata.ts';
import { rangedSource, rangesToSend } from '../../main/messenger/strip-source.ts';
import type { ByteSource } from '../../main/net/attachments.ts';

const GPS = Buffer.from('GPS-51.5074N-0.1278W');
const seg = (marker: number, payload: Buffer): Buffer => Buffer.concat([Buffer.from([0xff, marker, (payload.length + 2) >> 8, (payload.length + 2) & 0xff]), payload]);
const chunk = (type: string, data: Buffer): Buffer => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, Buffer.from(type, 'latin1'), data, Buffer.from([1, 2, 3, 4])]);
};
const has = (hay: Uint8Array, needle: Buffer): boolean => Buffer.from(hay).includes(needle);

describe('stripImageMetadata', () => {
  const jfif = seg(0xe0, Buffer.from('JFIF\0\x01\x02\0\0\x01\0\x01\0\0', 'latin1'));
  const exif = seg(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), GPS]));
  const xmp = seg(0xe1, Buffer.from('http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>camera-serial-77</x:xmpmeta>', 'latin1'));
  const icc = seg(0xe2, Buffer.from('ICC_PROFILE\0colour', 'latin1'));
  const comment = seg(0xfe, Buffer.from('comment-secret'));
  const dqt = seg(0xdb, Buffer.alloc(65, 7));
  const scan = Buffer.concat([seg(0xda, Buffer.from([1, 1, 0, 0, 63, 0])), Buffer.from([0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56]), Buffer.from([0xff, 0xd9])]);

  it('drops EXIF, XMP and comments from a JPEG and keeps every other segment and the scan byte for byte', () => {
    const input = Buffer.concat([Buffer.from([0xff, 0xd8]), jfif, exif, xmp, icc, Buffer.from([0xff]), comment, dqt, scan]);
    const out = stripImageMetadata(input);
    expect(out).toMatchObject({ stripped: true, format: 'jpeg', removed: 3 });
    expect(has(out.bytes, GPS)).toBe(false);
    expect(has(out.bytes, Buffer.from('Exif'))).toBe(false);
    expect(has(out.bytes, Buffer.from('camera-serial-77'))).toBe(false);
    expect(has(out.bytes, Buffer.from('comment-secret'))).toBe(false);
    expect(Buffer.from(out.bytes)).toEqual(Buffer.concat([Buffer.from([0xff, 0xd8]), jfif, icc, dqt, scan]));
  });

  it('drops text, EXIF and time chunks from a PNG and keeps the image chunks byte for byte', () => {
    const ihdr = chunk('IHDR', Buffer.alloc(13, 1));
    const idat = chunk('IDAT', Buffer.from('compressed-pixels-ok'));
    const iend = chunk('IEND', Buffer.alloc(0));
    const meta = [
      chunk('tEXt', Buffer.concat([Buffer.from('Location\0'), GPS])),
      chunk('iTXt', Buffer.from('Author\0\0\0\0\0itxt-secret')),
      chunk('zTXt', Buffer.from('Comment\0\0ztxt-secret')),
      chunk('eXIf', Buffer.concat([Buffer.from('MM\0*'), GPS])),
      chunk('tIME', Buffer.from([7, 234, 12, 3, 18, 40, 0])),
    ];
    const input = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr, meta[0]!, meta[1]!, idat, meta[2]!, meta[3]!, meta[4]!, iend]);
    const out = stripImageMetadata(input);
    expect(out).toMatchObject({ stripped: true, format: 'png', removed: 5 });
    expect(has(out.bytes, GPS)).toBe(false);
    expect(has(out.bytes, Buffer.from('secret'))).toBe(false);
    expect(Buffer.from(out.bytes)).toEqual(Buffer.concat([input.subarray(0, 8), ihdr, idat, iend]));
  });

  it('returns other files and truncated images unchanged, saying why', () => {
    const text = Buffer.from('just a text file with GPS-51.5074N-0.1278W');
    expect(stripImageMetadata(text)).toEqual({ stripped: false, reason: 'not-an-image', bytes: text });
    const truncatedJpeg = Buffer.concat([Buffer.from([0xff, 0xd8]), exif]).subarray(0, 20);
    expect(stripImageMetadata(truncatedJpeg)).toEqual({ stripped: false, reason: 'malformed', bytes: truncatedJpeg });
    const truncatedPng = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', Buffer.alloc(13))]).subarray(0, 20);
    expect(stripImageMetadata(truncatedPng)).toEqual({ stripped: false, reason: 'malformed', bytes: truncatedPng });
  });

  it('walks past scans: RSTn and stuffed bytes in the data, APP1/COM between progressive scans, standalone markers, and drops what follows EOI', () => {
    const sof2 = seg(0xc2, Buffer.from([8, 0, 16, 0, 16, 1, 1, 0x11, 0]));
    const dri = seg(0xdd, Buffer.from([0, 4]));
    const scan1 = Buffer.concat([seg(0xda, Buffer.from([1, 1, 0, 0, 0, 0])), Buffer.from([0x11, 0xff, 0x00, 0x22, 0xff, 0xd3, 0x33, 0xff, 0xff])]);
    const dht = seg(0xc4, Buffer.alloc(20, 5));
    const scan2 = Buffer.concat([seg(0xda, Buffer.from([1, 1, 0, 1, 63, 0])), Buffer.from([0x44, 0xff, 0xd7, 0x55])]);
    const tem = Buffer.from([0xff, 0x01]);
    const rstOutside = Buffer.from([0xff, 0xd0]);
    // A second image (MPF) with its own EXIF and GPS, and a motion photo's video after it.
    const secondary = Buffer.concat([Buffer.from([0xff, 0xd8]), exif, dqt, scan]);
    const trailer = Buffer.from('ftypmp42-motion-photo-video');
    const mpf = seg(0xe2, Buffer.from('MPF\0MM\0*index', 'latin1'));
    const input = Buffer.concat([Buffer.from([0xff, 0xd8]), jfif, mpf, icc, sof2, dri, scan1, exif, dht, comment, tem, scan2, rstOutside, xmp, Buffer.from([0xff, 0xd9]), secondary, trailer]);
    const out = stripImageMetadata(input);
    expect(out).toMatchObject({ stripped: true, format: 'jpeg', removed: 5 });
    expect(has(out.bytes, GPS)).toBe(false);
    expect(has(out.bytes, Buffer.from('Exif'))).toBe(false);
    expect(has(out.bytes, Buffer.from('MPF'))).toBe(false);
    expect(has(out.bytes, Buffer.from('camera-serial-77'))).toBe(false);
    expect(has(out.bytes, Buffer.from('comment-secret'))).toBe(false);
    expect(has(out.bytes, trailer)).toBe(false);
    // The 0xFF fill bytes before the marker that ends scan1 go, as fill bytes do elsewhere.
    const scan1Kept = scan1.subarray(0, scan1.length - 2);
    expect(Buffer.from(out.bytes)).toEqual(Buffer.concat([Buffer.from([0xff, 0xd8]), jfif, icc, sof2, dri, scan1Kept, dht, tem, scan2, rstOutside, Buffer.from([0xff, 0xd9])]));
  });

  it('keeps a JPEG cut off inside its scan data (what there is is image data)', () => {
    const input = Buffer.concat([Buffer.from([0xff, 0xd8]), exif, dqt, seg(0xda, Buffer.from([1, 1, 0, 0, 63, 0])), Buffer.from([1, 2, 0xff, 0x00, 3])]);
    const out = stripImageMetadata(input);
    expect(out).toMatchObject({ stripped: true, removed: 1 });
    expect(Buffer.from(out.bytes)).toEqual(Buffer.concat([Buffer.from([0xff, 0xd8]), input.subarray(2 + exif.length)]));
  });

  it('drops GIF comments and application extensions (XMP) but keeps looping, graphic control, images and the trailer', () => {
    const header = Buffer.concat([Buffer.from('GIF89a', 'latin1'), Buffer.from([2, 0, 2, 0, 0x80, 0, 0]), Buffer.from([0, 0, 0, 255, 255, 255])]);
    const blocks = (label: number, ...subs: Buffer[]): Buffer => Buffer.concat([Buffer.from([0x21, label]), ...subs.map((b) => Buffer.concat([Buffer.from([b.length]), b])), Buffer.from([0])]);
    const loop = blocks(0xff, Buffer.from('NETSCAPE2.0', 'latin1'), Buffer.from([1, 0, 0]));
    const xmpApp = blocks(0xff, Buffer.from('XMP DataXMP', 'latin1'), Buffer.concat([Buffer.from('<x:xmpmeta>'), GPS]), Buffer.from('camera-serial-77'));
    const gce = blocks(0xf9, Buffer.from([4, 0, 0, 0]));
    const gifComment = blocks(0xfe, Buffer.from('comment-secret'));
    const image = Buffer.concat([Buffer.from([0x2c, 0, 0, 0, 0, 2, 0, 2, 0, 0]), Buffer.from([2]), Buffer.from([3, 0x4c, 0x01, 0x05]), Buffer.from([0])]);
    const input = Buffer.concat([header, loop, xmpApp, gce, gifComment, image, Buffer.from([0x3b]), Buffer.from('appended-zip-with-GPS'), GPS]);
    const out = stripImageMetadata(input);
    expect(out).toMatchObject({ stripped: true, format: 'gif', removed: 3 });
    expect(has(out.bytes, GPS)).toBe(false);
    expect(has(out.bytes, Buffer.from('secret'))).toBe(false);
    expect(has(out.bytes, Buffer.from('appended'))).toBe(false);
    expect(Buffer.from(out.bytes)).toEqual(Buffer.concat([header, loop, gce, image, Buffer.from([0x3b])]));
  });

  it('drops WebP EXIF and XMP chunks, clears their VP8X flags and rewrites the RIFF size', () => {
    const riffChunk = (type: string, data: Buffer): Buffer => {
      const h = Buffer.alloc(8);
      h.write(type, 0, 'latin1');
      h.writeUInt32LE(data.length, 4);
      return Buffer.concat([h, data, data.length % 2 ? Buffer.from([0]) : Buffer.alloc(0)]);
    };
    const vp8x = (flags: number): Buffer => riffChunk('VP8X', Buffer.from([flags, 0, 0, 0, 1, 0, 0, 1, 0, 0]));
    const iccp = riffChunk('ICCP', Buffer.from('colour-profile'));
    const vp8l = riffChunk('VP8L', Buffer.from('lossless-pixels'));
    const exifChunk = riffChunk('EXIF', Buffer.concat([Buffer.from('MM\0*'), GPS]));
    const xmpChunk = riffChunk('XMP ', Buffer.from('<x:xmpmeta>camera-serial-77</x:xmpmeta>'));
    const riff = (body: Buffer): Buffer => {
      const h = Buffer.from('RIFF....WEBP', 'latin1');
      h.writeUInt32LE(body.length + 4, 4);
      return Buffer.concat([h, body]);
    };
    const input = Buffer.concat([riff(Buffer.concat([vp8x(0x20 | 0x08 | 0x04), iccp, vp8l, exifChunk, xmpChunk])), Buffer.from('trailing-GPS')]);
    const out = stripImageMetadata(input);
    expect(out).toMatchObject({ stripped: true, format: 'webp', removed: 3 });
    expect(has(out.bytes, GPS)).toBe(false);
    expect(has(out.bytes, Buffer.from('camera-serial-77'))).toBe(false);
    expect(has(out.bytes, Buffer.from('trailing'))).toBe(false);
    expect(Buffer.from(out.bytes)).toEqual(riff(Buffer.concat([vp8x(0x20), iccp, vp8l])));
  });

  it('a malformed image is refused with MetadataNotRemoved, never handed on unstripped; the kept ranges read back through a source', async () => {
    const fromBytes = (b: Buffer): ByteSource => ({
      read: (buffer, offset, length, position) => Promise.resolve({ bytesRead: b.copy(buffer, offset, position, Math.min(b.length, position + length)) }),
    });
    // A byte that is no marker between segments (JPEG), a chunk past the end (PNG).
    const badJpeg = Buffer.concat([Buffer.from([0xff, 0xd8]), exif, Buffer.from([0x00, 0x01]), dqt, scan]);
    await expect(rangesToSend(fromBytes(badJpeg), badJpeg.length, false)).rejects.toBeInstanceOf(MetadataNotRemoved);
    await expect(rangesToSend(fromBytes(badJpeg), badJpeg.length, false)).rejects.toThrow(/could not be removed.*Keep location and camera details/);
    const badGif = Buffer.concat([Buffer.from('GIF89a', 'latin1'), Buffer.from([1, 0, 1, 0, 0, 0, 0]), Buffer.from([0x21, 0xfe, 40, 1, 2])]);
    await expect(rangesToSend(fromBytes(badGif), badGif.length, false)).rejects.toBeInstanceOf(MetadataNotRemoved);
    // Kept by the setting: not scanned, sent as it is.
    expect(await rangesToSend(fromBytes(badJpeg), badJpeg.length, true)).toBeUndefined();
    // Not an image: sent as it is.
    const text = Buffer.from('plain text');
    expect(await rangesToSend(fromBytes(text), text.length, false)).toBeUndefined();
    // A JPEG of several windows, read back through the ranged view in odd-sized reads.
    const big = Buffer.concat([Buffer.from([0xff, 0xd8]), exif, dqt, seg(0xda, Buffer.from([1, 1, 0, 0, 63, 0])), Buffer.alloc(200_000, 0x5a), Buffer.from([0xff, 0xd9]), Buffer.from('Exif-trailer')]);
    const strip = await rangesToSend(fromBytes(big), big.length, false);
    const view = rangedSource(fromBytes(big), strip!.ranges);
    const got = Buffer.alloc(strip!.size);
    for (let at = 0; at < got.length; at += 7_777) await view.read(got, at, Math.min(7_777, got.length - at), at);
    expect(got).toEqual(Buffer.from(stripImageMetadata(big).bytes));
    expect(got.length).toBe(big.length - exif.length - 'Exif-trailer'.length);
  });
});
