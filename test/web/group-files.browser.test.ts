// Files in a group chat in the real UI (Chromium, browser mode, three profiles, real relay):
// an image dropped onto alice's group chat shows at bob's and carol's as an inline preview under
// alice's name, and opens in the viewer; an image pasted into bob's group composer arrives at the
// other two under his name; the group composer has the attach button. Screenshots light and dark;
// every control named; axe clean; no console error. (Who may fetch a group file, byte-exactness
// and tampering: test/groups/group-files.test.ts.)
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { addContact, browserScene, expectAccessible, expectAllNamed, onboardedPages, shotBothThemes } from './browser-harness.ts';

const scene = browserScene('group-files', 'group-files');
let alice: Page;
let bob: Page;
let carol: Page;
const NAME = 'Photo club';
const T = 60_000;

async function check(page: Page, name: string): Promise<void> {
  await shotBothThemes(page, scene.shotsDir, name);
  await expectAllNamed(page, name);
  await expectAccessible(page, name);
}

const log = (page: Page) => page.getByRole('log', { name: `Messages in ${NAME}` });
const bubble = (page: Page, text: string) => log(page).locator('.bubble', { hasText: text });

/** A PNG drawn in the page, as a File (a string evaluated in the page: the test's own compile has no DOM types). */
const drawnPng = (name: string, color: string) => `(async () => {
  const canvas = document.createElement('canvas');
  canvas.width = 160;
  canvas.height = 100;
  const g = canvas.getContext('2d');
  g.fillStyle = ${JSON.stringify(color)};
  g.fillRect(0, 0, 160, 100);
  g.fillStyle = '#2050c0';
  g.fillRect(40, 25, 80, 50);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  return new File([blob], ${JSON.stringify(name)}, { type: 'image/png' });
})()`;

/** Drops the image onto the open chat, as a file dragged from the desktop would arrive. */
async function dropImage(page: Page, name: string): Promise<void> {
  await page.evaluate(`(async () => {
    const data = new DataTransfer();
    data.items.add(await ${drawnPng(name, '#e07a1f')});
    const target = document.querySelector('.chat');
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
  })()`);
}

/** Pastes the image into the group composer, as a screenshot from the clipboard would arrive. */
async function pasteImage(page: Page, name: string): Promise<void> {
  await page.evaluate(`(async () => {
    const data = new DataTransfer();
    data.items.add(await ${drawnPng(name, '#30a050')});
    const target = document.querySelector('#group-composer');
    target.focus();
    target.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  })()`);
}

describe('Files in a group chat in Chromium', () => {
  beforeAll(async () => {
    ({ alice, bob, carol } = await onboardedPages(scene, ['alice', 'bob', 'carol']));
  });

  afterEach(() => {
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(() => scene.close());

  it('a dropped image previews at the other two members under the sender name; a pasted one too', async () => {
    await addContact(alice, 'bob');
    await addContact(alice, 'carol');
    await alice.getByRole('button', { name: 'New group' }).click();
    const dialog = alice.getByRole('dialog', { name: 'New group' });
    await dialog.getByLabel('Group name').fill(NAME);
    await dialog.getByRole('checkbox', { name: '@bob' }).check();
    await dialog.getByRole('checkbox', { name: '@carol' }).check();
    await dialog.getByRole('button', { name: 'Create group' }).click();
    await alice.getByRole('heading', { name: `${NAME} 3 members`, level: 2 }).waitFor({ timeout: T });
    const composer = alice.getByLabel(`Message to ${NAME}`);
    await composer.fill('pictures here');
    await composer.press('Enter');
    for (const p of [bob, carol]) {
      await p.getByRole('button', { name: `${NAME}, group of 3` }).click({ timeout: T });
      await bubble(p, 'pictures here').waitFor({ timeout: T });
    }

    // bob's window is short: the image's bubble reaches below the view, and its preview loads
    // after the bubble showed (the bubble grows then).
    const bobsSize = bob.viewportSize()!;
    await bob.setViewportSize({ width: bobsSize.width, height: 360 });

    // The group composer has the attach button, as the 1:1 one.
    await alice.getByRole('button', { name: 'Attach a file' }).waitFor();
    await dropImage(alice, 'lake.png');
    // The sender's own copy shows at once from its vault.
    await log(alice).getByRole('img', { name: 'lake.png' }).waitFor({ timeout: T });

    for (const p of [bob, carol]) {
      const preview = log(p).getByRole('img', { name: 'lake.png' });
      await preview.waitFor({ timeout: T });
      // Decoded in the page from the bytes main checked against the digest.
      await expect.poll(() => preview.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth), { timeout: T }).toBe(160);
      const from = log(p).locator('.bubble', { has: p.getByRole('img', { name: 'lake.png' }) });
      expect(await from.locator('.sender').textContent()).toBe('@alice');
    }
    // bob's chat, following its end, keeps the grown bubble in view (before, its end was cut off
    // until the next text).
    await expect.poll(() => log(bob).evaluate((el) => el.scrollHeight > el.clientHeight), { timeout: T }).toBe(true);
    await expect.poll(() => log(bob).evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight), { timeout: T }).toBeLessThan(2);
    await bob.setViewportSize(bobsSize);
    await check(bob, 'group-file-preview');

    // The viewer opens from the preview and Escape closes it, as in a 1:1 chat.
    await carol.getByRole('button', { name: 'Enlarge image lake.png' }).click();
    const viewer = carol.getByRole('dialog', { name: 'lake.png' });
    await viewer.waitFor();
    await check(carol, 'group-file-viewer');
    await carol.keyboard.press('Escape');
    await expect.poll(() => viewer.count()).toBe(0);

    // A pasted image (a screenshot) is sent as a file from bob's group composer.
    await pasteImage(bob, 'screenshot.png');
    for (const p of [alice, carol]) {
      const preview = log(p).getByRole('img', { name: 'screenshot.png' });
      await preview.waitFor({ timeout: T });
      const from = log(p).locator('.bubble', { has: p.getByRole('img', { name: 'screenshot.png' }) });
      expect(await from.locator('.sender').textContent()).toBe('@bob');
    }
    await check(alice, 'group-file-sent-and-received');
  });
});
