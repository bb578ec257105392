// Attachments in the real UI (Chromium, browser mode, two profiles on a real relay; issue #15
// "Display"): an image dropped onto alice's chat arrives at bob's as an inline preview decoded in
// the page (a blob: URL the CSP allows for images only), opens in the viewer and Escape closes
// it; a text file picked with the attach button shows at bob's as a card, and Save downloads
// exactly its bytes. A PNG carrying a location text chunk arrives without it, and with it once
// the sender turns on "keep image metadata" in Settings. A backup exported with the files and
// opened read-only shows them as in the live chat: the image previewed (decoded in the page from
// the backup's bytes), the viewer, and Save of a file byte-exact, before any import.
// Screenshots light and dark; every control named; axe clean; no console error.
import { readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { browserScene, expectAccessible, expectAllNamed, onboard, send, shotBothThemes } from './browser-harness.ts';

const scene = browserScene('attachments', 'attachments');
const NOTES = Buffer.from('Meeting notes, line one\nline two: ünïcödé ✓\n'.repeat(50), 'utf8');
let alice: Page;
let bob: Page;

/** Drops a PNG drawn in the page onto the chat, as a file dragged from the desktop would arrive. */
async function dropImage(page: Page, name: string): Promise<void> {
  // A string, evaluated in the page (the test's own compile has no DOM types).
  await page.evaluate(`(async () => {
    const canvas = document.createElement('canvas');
    canvas.width = 160;
    canvas.height = 100;
    const g = canvas.getContext('2d');
    g.fillStyle = '#e07a1f';
    g.fillRect(0, 0, 160, 100);
    g.fillStyle = '#2050c0';
    g.fillRect(40, 25, 80, 50);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
    const data = new DataTransfer();
    data.items.add(new File([blob], ${JSON.stringify(name)}, { type: 'image/png' }));
    const target = document.querySelector('.chat');
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
  })()`);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  let c = 0xffffffff;
  for (const b of body) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return Buffer.concat([len, body, crc]);
}
const GPS = 'GPS 48.8584N 2.2945E';
/** A valid 4x4 PNG with a tEXt chunk naming where it was taken. */
function pngWithLocation(): Buffer {
  const ihdr = Buffer.from([0, 0, 0, 4, 0, 0, 0, 4, 8, 2, 0, 0, 0]);
  const rows = Buffer.concat(Array.from({ length: 4 }, () => Buffer.concat([Buffer.from([0]), Buffer.alloc(12, 0x90)])));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('tEXt', Buffer.from(`Location\0${GPS}`, 'latin1')), pngChunk('IDAT', deflateSync(rows)), pngChunk('IEND', Buffer.alloc(0))]);
}

/** Drops a file of these bytes onto the chat. */
async function dropBytes(page: Page, name: string, type: string, bytes: Buffer): Promise<void> {
  await page.evaluate(`(() => {
    const bytes = Uint8Array.from(atob(${JSON.stringify(bytes.toString('base64'))}), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], ${JSON.stringify(name)}, { type: ${JSON.stringify(type)} }));
    const target = document.querySelector('.chat');
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
  })()`);
}

/**
 * Counts the object URLs the page makes for images (an init script, before the app's code): a
 * card makes exactly one per shown image. A second one, made by a load the card no longer wanted
 * (its mount effect cleaned up, as StrictMode does in the development build the tests run),
 * switched the <img> mid-load and aborted the first load (a failed blob: request).
 */
const COUNT_IMAGE_URLS = `(() => {
  const made = URL.createObjectURL.bind(URL);
  globalThis.__imageUrls = 0;
  URL.createObjectURL = (obj) => {
    if (obj instanceof Blob && obj.type.startsWith('image/')) globalThis.__imageUrls++;
    return made(obj);
  };
})()`;
const imageUrlsMade = (page: Page) => page.evaluate('globalThis.__imageUrls');

/** The bytes of a received image as the receiver saves it (the card's Save: a download in browser mode). */
async function savedText(page: Page, name: string): Promise<string> {
  const card = page.getByRole('log').locator('.attachment-card', { has: page.getByRole('img', { name }) });
  await card.waitFor({ timeout: 60_000 });
  const [download] = await Promise.all([page.waitForEvent('download'), card.getByRole('button', { name: `Save ${name}` }).click()]);
  return readFileSync((await download.path())!).toString('latin1');
}

describe('Attachments in Chromium', () => {
  beforeAll(async () => {
    const relay = await scene.startRelay();
    const [a, b] = await Promise.all(['alice', 'bob'].map((n) => scene.startWeb(n, relay.descriptor)));
    await scene.launch();
    alice = (await scene.newPage({ acceptDownloads: true })).page;
    bob = (await scene.newPage({ acceptDownloads: true })).page;
    await Promise.all([alice.addInitScript(COUNT_IMAGE_URLS), bob.addInitScript(COUNT_IMAGE_URLS)]);
    await Promise.all([onboard(alice, a!, 'alice'), onboard(bob, b!, 'bob')]);
  });

  afterEach(() => {
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(() => scene.close());

  it('a dropped image previews on the other side and opens in the viewer; a picked file saves byte-exact', async () => {
    await alice.keyboard.press('Control+n');
    await alice.getByLabel('Their handle').fill('bob');
    await alice.getByRole('button', { name: 'Add contact' }).click();
    await alice.getByRole('heading', { name: 'bob', level: 2 }).waitFor();
    await send(alice, 'bob', 'a picture for you');
    await bob.getByRole('button', { name: /^alice/ }).click();
    await bob.getByRole('log').getByText('a picture for you').waitFor({ timeout: 60_000 });

    // The attach button is reachable and named.
    await alice.getByRole('button', { name: 'Attach a file' }).waitFor();
    await dropImage(alice, 'sunset.png');
    // The sender's own copy shows too.
    await alice.getByRole('log').getByRole('img', { name: 'sunset.png' }).waitFor({ timeout: 60_000 });

    const preview = bob.getByRole('log').getByRole('img', { name: 'sunset.png' });
    await preview.waitFor({ timeout: 60_000 });
    // Decoded in the page: the image has its real size.
    await expect.poll(() => preview.evaluate((img) => {
      const i = img as unknown as { naturalWidth: number; naturalHeight: number };
      return `${i.naturalWidth}x${i.naturalHeight}`;
    }), { timeout: 30_000 }).toBe('160x100');
    expect(await preview.getAttribute('src')).toMatch(/^blob:/);
    await shotBothThemes(bob, scene.shotsDir, 'attachments-preview');
    await expectAllNamed(bob, 'attachments-preview');
    await expectAccessible(bob, 'attachments-preview');

    await bob.getByRole('button', { name: 'Enlarge image sunset.png' }).click();
    const viewer = bob.getByRole('dialog', { name: 'sunset.png' });
    await viewer.waitFor();
    await expect.poll(() => viewer.getByRole('img', { name: 'sunset.png' }).evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(160);
    await shotBothThemes(bob, scene.shotsDir, 'attachments-viewer');
    await expectAllNamed(bob, 'attachments-viewer');
    await expectAccessible(bob, 'attachments-viewer');
    await bob.keyboard.press('Escape');
    await expect.poll(() => bob.getByRole('dialog').count()).toBe(0);

    // A file through the picker (the attach button's input), with its exact bytes.
    const notes = NOTES;
    await alice.locator('[data-testid="attach-input"]').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: notes });
    const card = bob.getByRole('log').locator('.attachment-card', { hasText: 'notes.txt' });
    await card.waitFor({ timeout: 60_000 });
    expect(await card.getByRole('img').count()).toBe(0);
    // The chat list shows a file without a caption by its name, on both sides (in the screenshot).
    const listLine = (page: Page, chat: string) => page.locator('.chat-item', { has: page.getByRole('button', { name: new RegExp(`^${chat}`) }) }).locator('.chat-preview');
    await expect.poll(() => listLine(alice, 'bob').textContent(), { timeout: 30_000 }).toBe('You: File: notes.txt');
    await expect.poll(() => listLine(bob, 'alice').textContent(), { timeout: 30_000 }).toBe('File: notes.txt');
    await shotBothThemes(bob, scene.shotsDir, 'attachments-card');
    await expectAllNamed(bob, 'attachments-card');
    await expectAccessible(bob, 'attachments-card');
    const [download] = await Promise.all([bob.waitForEvent('download'), card.getByRole('button', { name: 'Save notes.txt' }).click()]);
    expect(download.suggestedFilename()).toBe('notes.txt');
    expect(readFileSync((await download.path())!).equals(notes)).toBe(true);
    // One object URL for sunset.png on each side (the sender's own card and the receiver's).
    expect(await imageUrlsMade(alice)).toBe(1);
    expect(await imageUrlsMade(bob)).toBe(1);
  });

  it('a photo goes without its location; with "keep image metadata" on, with it', async () => {
    const png = pngWithLocation();
    await dropBytes(alice, 'where-1.png', 'image/png', png);
    const stripped = await savedText(bob, 'where-1.png');
    expect(stripped.startsWith('\x89PNG')).toBe(true);
    expect(stripped).not.toContain(GPS);

    await alice.getByRole('button', { name: 'Settings' }).click();
    const keep = alice.getByLabel('Keep location and camera details in photos I send');
    expect(await keep.isChecked()).toBe(false);
    await keep.click();
    await expect.poll(() => keep.isChecked()).toBe(true);
    await alice.keyboard.press('Escape');
    await dropBytes(alice, 'where-2.png', 'image/png', png);
    const kept = await savedText(bob, 'where-2.png');
    expect(kept).toContain(GPS);
    expect(kept.length).toBe(png.length);
    // Still one per shown image: sunset.png, where-1.png and where-2.png.
    await alice.getByRole('log').getByRole('img', { name: 'where-2.png' }).waitFor();
    expect(await imageUrlsMade(alice)).toBe(3);
    expect(await imageUrlsMade(bob)).toBe(3);
  });

  it('a backup opened read-only previews its image and saves its file byte-exact, before any import', async () => {
    await alice.getByRole('button', { name: 'Settings' }).click();
    await alice.getByLabel('Action').selectOption('export');
    await alice.getByLabel('Backup file name').fill('with-files.age');
    await alice.getByLabel('Backup passphrase').fill('backup passphrase for the test');
    await alice.getByRole('button', { name: 'Export', exact: true }).click();
    await expect.poll(() => alice.getByRole('status').filter({ hasText: 'Exported' }).count(), { timeout: 120_000 }).toBe(1);
    await alice.getByLabel('Action').selectOption('open');
    await alice.getByLabel('Backup passphrase').fill('backup passphrase for the test');
    await alice.getByRole('button', { name: 'Open', exact: true }).click();
    await alice.getByText(/Viewing a backup from/).waitFor({ timeout: 120_000 });
    // Counted before the opened chat shows: its images may be made as soon as it opens.
    const urlsBefore = Number(await imageUrlsMade(alice));
    await alice.getByRole('button', { name: /^bob/ }).click();
    const log = alice.getByRole('log');
    // The image: decoded in the page from bytes main read out of the backup file.
    const preview = log.getByRole('img', { name: 'sunset.png' });
    await preview.waitFor({ timeout: 60_000 });
    await expect.poll(() => preview.evaluate((img) => {
      const i = img as unknown as { naturalWidth: number; naturalHeight: number };
      return `${i.naturalWidth}x${i.naturalHeight}`;
    }), { timeout: 30_000 }).toBe('160x100');
    expect(await preview.getAttribute('src')).toMatch(/^blob:/);
    await log.getByRole('img', { name: 'where-2.png' }).waitFor({ timeout: 60_000 });
    expect(Number(await imageUrlsMade(alice))).toBeGreaterThan(urlsBefore);
    // Read-only: no reply or delete, no composer.
    expect(await log.getByRole('button', { name: 'Delete for me' }).count()).toBe(0);
    await shotBothThemes(alice, scene.shotsDir, 'attachments-backup-open');
    await expectAllNamed(alice, 'attachments-backup-open');
    await expectAccessible(alice, 'attachments-backup-open');
    await alice.getByRole('button', { name: 'Enlarge image sunset.png' }).click();
    const viewer = alice.getByRole('dialog', { name: 'sunset.png' });
    await expect.poll(() => viewer.getByRole('img', { name: 'sunset.png' }).evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(160);
    await shotBothThemes(alice, scene.shotsDir, 'attachments-backup-viewer');
    await expectAccessible(alice, 'attachments-backup-viewer');
    await alice.keyboard.press('Escape');
    await expect.poll(() => alice.getByRole('dialog').count()).toBe(0);
    // A file of the backup saved (browser mode: the page's download) is exactly what was sent.
    const card = log.locator('.attachment-card', { hasText: 'notes.txt' });
    await card.waitFor({ timeout: 60_000 });
    const [download] = await Promise.all([alice.waitForEvent('download'), card.getByRole('button', { name: 'Save notes.txt' }).click()]);
    expect(download.suggestedFilename()).toBe('notes.txt');
    expect(readFileSync((await download.path())!).equals(NOTES)).toBe(true);
    await alice.getByRole('button', { name: 'Close backup' }).click();
    await alice.getByText(/Viewing a backup/).waitFor({ state: 'detached' });
  });

  it('a big file shows its progress with Cancel; cancelled, nothing is sent', async () => {
    await alice.getByRole('button', { name: /^bob/ }).click();
    // 100 MiB (the relay's default limit): long enough to be seen and cancelled while preparing
    // or while sending; either way nothing may arrive.
    await alice.evaluate(`(() => {
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(100 * 1024 * 1024)], 'big.bin', { type: 'application/octet-stream' }));
      const target = document.querySelector('.chat');
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    })()`);
    const list = alice.getByRole('list', { name: 'Files being sent' });
    await list.getByRole('progressbar', { name: /^(Preparing|Sending) big\.bin$/ }).waitFor({ timeout: 60_000 });
    await shotBothThemes(alice, scene.shotsDir, 'attachments-upload-progress');
    await expectAllNamed(alice, 'attachments-upload-progress');
    await list.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => list.count(), { timeout: 60_000 }).toBe(0);
    expect(await alice.getByRole('log').getByText('big.bin').count()).toBe(0);
    // What alice sends next arrives; the cancelled file never does.
    await send(alice, 'bob', 'after the cancelled file');
    await bob.getByRole('log').getByText('after the cancelled file').waitFor({ timeout: 60_000 });
    expect(await bob.getByRole('log').getByText('big.bin').count()).toBe(0);
    expect(await alice.getByRole('log').getByText('big.bin').count()).toBe(0);
  });
});
