// Disappearing messages in the real UI (Chromium, browser mode, real relay; issue #14): the timer
// menu in the chat header is reached and used by keyboard; both sides show the change as a
// system line and the header says 30 seconds; a message sent then counts down on both sides (the
// recipient's from when it is on screen) and vanishes when the page clocks pass its expiry
// (fast-forwarded, no real waiting). Screenshots in light and dark; every control named, axe clean.
// (Main's own deletion at expiry, and what stays on disk, are tested in test/messaging/disappearing.test.ts.)
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { addContact, browserScene, expectAccessible, expectAllNamed, shotBothThemes, twoOnboarded } from './browser-harness.ts';

const scene = browserScene('disappear', 'disappear');
let alice: Page;
let bob: Page;
const WORD = 'ocelotparsnip vanishes';

describe('Disappearing messages in Chromium', () => {
  beforeAll(async () => {
    // Page clocks that run at real speed until the test fast-forwards them.
    ({ alice, bob } = await twoOnboarded(scene, (page) => page.clock.install()));
  });

  afterEach(() => {
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(() => scene.close());

  it('sets a 30 s timer by keyboard; both sides count down and the message vanishes on both', async () => {
    await addContact(alice, 'bob');

    // The header control: a menu button with an accessible name saying the current timer.
    const timerOff = alice.getByRole('button', { name: 'Disappearing messages: off' });
    await timerOff.focus();
    await alice.keyboard.press('Enter');
    const menu = alice.getByRole('menu', { name: 'Disappearing messages' });
    await menu.waitFor();
    expect(await menu.getByRole('menuitemradio').allTextContents()).toEqual(['Off', '30 seconds', '5 minutes', '1 hour', '8 hours', '1 day', '1 week', '4 weeks']);
    // The checked item has the focus.
    await expect.poll(() => alice.evaluate('document.activeElement?.getAttribute("aria-checked") + " " + document.activeElement?.textContent')).toBe('true Off');
    await shotBothThemes(alice, scene.shotsDir, 'timer-menu');
    await expectAllNamed(alice, 'timer-menu');
    await expectAccessible(alice, 'timer-menu');
    // Escape closes it and gives the focus back; then ArrowDown opens it, ArrowDown + Enter picks 30 seconds.
    await alice.keyboard.press('Escape');
    await expect.poll(() => menu.count()).toBe(0);
    await alice.keyboard.press('ArrowDown');
    await menu.waitFor();
    await alice.keyboard.press('ArrowDown');
    await alice.keyboard.press('Enter');
    await alice.getByRole('button', { name: 'Disappearing messages: 30 seconds' }).waitFor();
    await alice.getByRole('log').getByText('You set messages to disappear after 30 seconds').waitFor();

    // Bob applies it: the system line and the header.
    await bob.getByRole('button', { name: /^alice/ }).click();
    await bob.getByRole('log').getByText('alice set messages to disappear after 30 seconds').waitFor({ timeout: 60_000 });
    await bob.getByRole('button', { name: 'Disappearing messages: 30 seconds' }).waitFor();

    const composer = alice.getByLabel('Message to bob');
    await composer.fill(WORD);
    await composer.press('Enter');
    const aliceBubble = alice.getByRole('log').locator('.bubble', { hasText: WORD });
    const bobBubble = bob.getByRole('log').locator('.bubble', { hasText: WORD });
    await aliceBubble.waitFor();
    await bobBubble.waitFor({ timeout: 60_000 });
    // Both count down (bob's from when it is on his screen).
    for (const bubble of [aliceBubble, bobBubble]) {
      await expect.poll(() => bubble.getByRole('timer').getAttribute('aria-label'), { timeout: 30_000 }).toMatch(/^Disappears in \d+s$/);
    }
    await shotBothThemes(alice, scene.shotsDir, 'countdown-sender');
    await shotBothThemes(bob, scene.shotsDir, 'countdown-recipient');
    await expectAllNamed(bob, 'countdown');
    await expectAccessible(bob, 'countdown');

    // The page clocks pass the expiry: the message vanishes on both sides; the system lines stay.
    await alice.clock.fastForward('00:35');
    await bob.clock.fastForward('00:35');
    await expect.poll(() => aliceBubble.count()).toBe(0);
    await expect.poll(() => bobBubble.count()).toBe(0);
    await alice.getByRole('log').getByText('You set messages to disappear after 30 seconds').waitFor();
    await bob.getByRole('log').getByText('alice set messages to disappear after 30 seconds').waitFor();
    await shotBothThemes(bob, scene.shotsDir, 'vanished-recipient');
  });
});
