// Image metadata stripping (main/messenger/strip-metadata.ts) on crafted JPEG and PNG bytes:
// the EXIF/GPS, text and comment bytes are gone, every image data byte is kept in order, and
// input that does not parse is returned unchanged.
import { describe, expect, it } from 'vitest';
import { stripImageMetadata } from '../../main/messenger/strip-metadata.ts';

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
});
