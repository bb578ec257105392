// "Delete for everyone" in the real UI (Chromium, browser mode, real relay; issue #14): the action
// is on one's own messages only; it asks first (Cancel keeps the message); then both sides show
// "This message was deleted" in the message's place, without its text, also after a reload.
// Screenshots of the dialog and of both tombstones in light and dark; every control named, axe clean.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { addContact, browserScene, expectAccessible, expectAllNamed, send, shotBothThemes, twoOnboarded } from './browser-harness.ts';

const scene = browserScene('delete-everyone', 'delete-everyone');
let alice: Page;
let bob: Page;
const WORD = 'capybaraquince by mistake';

describe('Delete for everyone in Chromium', () => {
  beforeAll(async () => {
    ({ alice, bob } = await twoOnboarded(scene));
  });

  afterEach(() => {
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(() => scene.close());

  it('asks, then both sides show the tombstone in place, without the text, also after a reload', async () => {
    await addContact(alice, 'bob');
    await send(alice, 'bob', 'before it');
    await send(alice, 'bob', WORD);
    await send(alice, 'bob', 'after it');
    await bob.getByRole('button', { name: /^alice/ }).click();
    await bob.getByRole('log').getByText('after it').waitFor({ timeout: 60_000 });
    // Bob cannot delete alice's message for everyone: only "for me".
    const bobsCopy = bob.getByRole('log').locator('.bubble', { hasText: WORD });
    expect(await bobsCopy.getByRole('button', { name: 'Delete for me' }).count()).toBe(1);
    expect(await bobsCopy.getByRole('button', { name: 'Delete for everyone' }).count()).toBe(0);

    const log = alice.getByRole('log');
    const bubble = log.locator('.bubble', { hasText: WORD });
    await bubble.getByRole('button', { name: 'Delete for everyone' }).click();
    const dialog = alice.getByRole('dialog', { name: 'Delete this message for everyone?' });
    await dialog.waitFor();
    await dialog.getByText('for bob too').waitFor();
    await shotBothThemes(alice, scene.shotsDir, 'delete-everyone-confirm');
    await expectAllNamed(alice, 'delete-everyone-confirm');
    await expectAccessible(alice, 'delete-everyone-confirm');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => alice.getByRole('dialog').count()).toBe(0);
    expect(await bubble.count()).toBe(1);

    await bubble.getByRole('button', { name: 'Delete for everyone' }).focus();
    await alice.keyboard.press('Enter');
    await dialog.getByRole('button', { name: 'Delete for everyone' }).click();
    // Both sides: the tombstone where the message was, its text gone.
    for (const page of [alice, bob]) {
      const texts = page.getByRole('log').locator('.bubble .text');
      await expect.poll(() => texts.allTextContents(), { timeout: 60_000 }).toEqual(['before it', 'This message was deleted', 'after it']);
      expect(await page.getByRole('log').getByText(WORD).count()).toBe(0);
    }
    await shotBothThemes(alice, scene.shotsDir, 'delete-everyone-sender');
    await shotBothThemes(bob, scene.shotsDir, 'delete-everyone-recipient');
    await expectAllNamed(bob, 'delete-everyone-recipient');

    await bob.reload();
    await bob.getByRole('button', { name: /^alice/ }).click();
    await bob.getByRole('log').getByText('after it').waitFor({ timeout: 60_000 });
    expect(await bob.getByRole('log').locator('.bubble .text').allTextContents()).toEqual(['before it', 'This message was deleted', 'after it']);
  });
});
