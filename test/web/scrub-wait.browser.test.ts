// The wait for the scrub at lock, shown (main/vault/scrub.ts; Chromium, browser mode, real relay,
// real profile): a lock that owes a scrub runs VACUUM in a worker and holds the profile meanwhile;
// main says so ('scrub' event) and the unlock screen shows "Finishing the clean-up of deleted
// messages…" (role=status) until it ends; the unlock then goes on by itself and the app is usable.
// The real scrub of this small vault takes milliseconds: the page holds the scrub's end event
// while the status is checked (as locking.browser.test.ts holds the lock's end), so the state stays
// on screen: screenshots light and dark, axe clean, no console error.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { SCRUB_OWED_FILE } from '../../main/vault/scrub.ts';
import { browserScene, expectAccessible, expectAllNamed, onboard, PASSWORD, shotBothThemes } from './browser-harness.ts';

const scene = browserScene('scrub-wait', 'scrub-wait');
const T = 60_000;
const CLEANING = 'Finishing the clean-up of deleted messages…';
let alice: Page;
let profile: string;

/** Runs in the page before its scripts: records the 'scrub' events heard and holds the one that ends a scrub until let go. */
const SCRUB_VALVE = `(() => {
  const valve = { heard: [], held: [], hold: false };
  globalThis.__scrubValve = valve;
  const add = WebSocket.prototype.addEventListener;
  WebSocket.prototype.addEventListener = function (type, listener, options) {
    if (type !== 'message') return add.call(this, type, listener, options);
    return add.call(this, type, (event) => {
      const frame = typeof event.data === 'string' ? JSON.parse(event.data) : null;
      if (frame && frame.t === 'event' && frame.name === 'scrub') {
        valve.heard.push(frame.payload.underWay);
        if (valve.hold && frame.payload.underWay === false) return void valve.held.push(() => listener.call(this, event));
      }
      listener.call(this, event);
    }, options);
  };
  valve.release = () => {
    valve.hold = false;
    for (const go of valve.held.splice(0)) go();
  };
})()`;

type Valve = { heard: boolean[]; held: unknown[]; hold: boolean; release(): void };
const valve = (page: Page) => ({
  heard: () => page.evaluate(() => [...(globalThis as unknown as { __scrubValve: Valve }).__scrubValve.heard]),
  held: () => page.evaluate(() => (globalThis as unknown as { __scrubValve: Valve }).__scrubValve.held.length),
  hold: () => page.evaluate(() => void ((globalThis as unknown as { __scrubValve: Valve }).__scrubValve.hold = true)),
  release: () => page.evaluate(() => (globalThis as unknown as { __scrubValve: Valve }).__scrubValve.release()),
});

describe('The wait for the scrub at lock in Chromium', () => {
  beforeAll(async () => {
    const relay = await scene.startRelay();
    const url = await scene.startWeb('alice', relay.descriptor);
    profile = path.join(scene.tmp, 'alice');
    await scene.launch();
    alice = (await scene.newPage()).page;
    await alice.addInitScript(SCRUB_VALVE);
    await onboard(alice, url, 'alice_scrub');
  }, 180_000);

  afterAll(async () => {
    await scene.close();
  });

  it('the unlock screen says the clean-up is under way while the scrub holds the profile; the unlock then goes on and the app is usable', { timeout: 180_000 }, async () => {
    const v = valve(alice);
    // Owed, as after a deletion in this unlock (the marker the first deletion writes).
    writeFileSync(path.join(profile, SCRUB_OWED_FILE), '');
    await v.hold();
    await alice.getByRole('button', { name: 'Lock' }).click();
    await alice.getByRole('heading', { name: 'Unlock Ephemera' }).waitFor({ timeout: T });
    const status = alice.getByRole('status').filter({ hasText: CLEANING });
    await status.waitFor({ timeout: T });
    // The real scrub ran in main and ended (marker and profile lock gone); its end is held in the page.
    await expect.poll(() => existsSync(path.join(profile, SCRUB_OWED_FILE)) || existsSync(path.join(profile, 'vault.lock')), { timeout: T }).toBe(false);
    await expect.poll(() => v.held(), { timeout: T }).toBe(1);
    expect(await v.heard()).toEqual([true, false]);
    await shotBothThemes(alice, scene.shotsDir, 'unlock-cleaning');
    await expectAllNamed(alice, 'unlock while cleaning');
    await expectAccessible(alice, 'unlock while cleaning');

    // The scrub's end: the status text goes (its live region stays, empty); the unlock screen stays as it was.
    await v.release();
    await status.waitFor({ state: 'detached', timeout: T });
    expect(await alice.locator('p.cleaning[role="status"]').textContent()).toBe('');
    await alice.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await alice.getByRole('button', { name: 'Unlock' }).click();
    // Usable: the chat list, connected, and a dialog opens.
    await alice.getByRole('button', { name: 'New contact' }).waitFor({ timeout: T });
    await alice.locator('.connection-label', { hasText: /^Ready$/ }).waitFor({ timeout: T });
    await alice.getByRole('button', { name: 'New contact' }).click();
    await alice.getByRole('dialog').waitFor({ timeout: T });
    expect(await alice.getByRole('status').filter({ hasText: CLEANING }).count()).toBe(0);
    expect(scene.problems).toEqual([]);
  });

  // The main-side wait of an unlock for a running scrub is shown in test/vault/scrub.test.ts; here
  // the page's part: an unlock asked for while the status is on screen needs no other step.
  it('an unlock asked for while the status shows succeeds', { timeout: 180_000 }, async () => {
    const v = valve(alice);
    await alice.keyboard.press('Escape');
    writeFileSync(path.join(profile, SCRUB_OWED_FILE), '');
    await v.hold();
    await alice.getByRole('button', { name: 'Lock' }).click();
    const status = alice.getByRole('status').filter({ hasText: CLEANING });
    await status.waitFor({ timeout: T });
    // Asked for while the page still says the clean-up is under way (main waits for the scrub if
    // it still runs, then unlocks).
    await alice.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await alice.getByRole('button', { name: 'New contact' }).waitFor({ timeout: T });
    await v.release();
    await expect.poll(() => v.heard(), { timeout: T }).toEqual([true, false, true, false]);
    expect(scene.problems).toEqual([]);
  });
});
