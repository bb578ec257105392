// "Delete for me" in the real UI (Chromium, browser mode, real relay; issue #14): the message
// action asks first (Cancel keeps the message), then the message leaves the chat, and stays gone
// after a reload; the other side keeps its copy. The dialog: screenshots in light and dark, every
// control named, axe clean.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { addContact, browserScene, expectAccessible, expectAllNamed, send, shotBothThemes, twoOnboarded } from './browser-harness.ts';

const scene = browserScene('delete', 'delete');
let alice: Page;
let bob: Page;

describe('Delete for me in Chromium', () => {
  beforeAll(async () => {
    ({ alice, bob } = await twoOnboarded(scene));
  });

  afterEach(() => {
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(() => scene.close());

  it('asks, deletes the message from the chat only on this side, and it stays gone after a reload', async () => {
    await addContact(alice, 'bob');
    await send(alice, 'bob', 'keep this one');
    await send(alice, 'bob', 'zebrafinch goes away');
    await bob.getByRole('button', { name: /^alice/ }).click();
    await bob.getByRole('log').getByText('zebrafinch goes away').waitFor({ timeout: 60_000 });

    const log = alice.getByRole('log');
    const bubble = log.locator('.bubble', { hasText: 'zebrafinch goes away' });
    // Cancel changes nothing.
    await bubble.getByRole('button', { name: 'Delete for me' }).click();
    const dialog = alice.getByRole('dialog', { name: 'Delete this message for you?' });
    await dialog.waitFor();
    await dialog.getByText('bob keeps their copy').waitFor();
    await shotBothThemes(alice, scene.shotsDir, 'delete-confirm');
    await expectAllNamed(alice, 'delete-confirm');
    await expectAccessible(alice, 'delete-confirm');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => alice.getByRole('dialog').count()).toBe(0);
    expect(await bubble.count()).toBe(1);

    await bubble.getByRole('button', { name: 'Delete for me' }).click();
    await dialog.getByRole('button', { name: 'Delete for me' }).click();
    await expect.poll(() => bubble.count()).toBe(0);
    await log.getByText('keep this one').waitFor();

    await alice.reload();
    await alice.getByRole('button', { name: /^bob/ }).click();
    await alice.getByRole('log').getByText('keep this one').waitFor({ timeout: 60_000 });
    expect(await alice.getByRole('log').getByText('zebrafinch goes away').count()).toBe(0);
    // Bob's copy is his.
    expect(await bob.getByRole('log').getByText('zebrafinch goes away').count()).toBe(1);
  });
});
