// Browser mode's Web Notifications follow deletion (issue #14; renderer/src/shown-notifications.ts):
// a notification showing a message closes when that message is deleted for everyone by its
// sender, or deleted for me by the recipient, as the Electron shell's do (main/app/attention.ts).
// Bob's page records the notifications it makes (they are real ones too) and whether the page
// closed them (a close by the system, which times them out, does not count).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { addContact, browserScene, onboard, send } from './browser-harness.ts';
import { NOTIFICATION_SPY, recordedNotes, setUnfocused } from './notification-spy.ts';

const scene = browserScene('notify-delete', 'notify-delete');
let alice: Page;
let bob: Page;

const notes = async (page: Page) => (await recordedNotes(page)).map(({ title, closed }) => ({ title, closed }));

describe('Web Notifications close when their message is deleted', () => {
  beforeAll(async () => {
    const relay = await scene.startRelay();
    const [a, b] = await Promise.all(['alice', 'bob'].map((n) => scene.startWeb(n, relay.descriptor)));
    await scene.launch();
    alice = (await scene.newPage()).page;
    const made = await scene.newPage();
    bob = made.page;
    await made.context.grantPermissions(['notifications'], { origin: new URL(b!).origin });
    await bob.addInitScript(NOTIFICATION_SPY);
    await Promise.all([onboard(alice, a!, 'alice'), onboard(bob, b!, 'bob')]);
  });

  afterEach(() => {
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(() => scene.close());

  it('deleted for everyone by alice, then deleted for me by bob: each notification closes', async () => {
    await addContact(alice, 'bob');
    await send(alice, 'bob', 'hello first');
    await bob.getByRole('button', { name: /^alice/ }).click();
    await bob.getByRole('log').getByText('hello first').waitFor({ timeout: 60_000 });

    await setUnfocused(bob, true);
    await send(alice, 'bob', 'taken back soon');
    await expect.poll(() => notes(bob), { timeout: 60_000 }).toHaveLength(1);
    expect((await notes(bob))[0]!.closed).toBe(false);
    const bubble = alice.getByRole('log').locator('.bubble', { hasText: 'taken back soon' });
    await bubble.getByRole('button', { name: 'Delete for everyone' }).click();
    await alice.getByRole('dialog', { name: 'Delete this message for everyone?' }).getByRole('button', { name: 'Delete for everyone' }).click();
    await expect.poll(async () => (await notes(bob))[0]!.closed, { timeout: 60_000 }).toBe(true);

    await send(alice, 'bob', 'bob deletes this one');
    await expect.poll(() => notes(bob), { timeout: 60_000 }).toHaveLength(2);
    expect((await notes(bob))[1]!.closed).toBe(false);
    const mine = bob.getByRole('log').locator('.bubble', { hasText: 'bob deletes this one' });
    await mine.getByRole('button', { name: 'Delete for me' }).click();
    await bob.getByRole('dialog', { name: 'Delete this message for you?' }).getByRole('button', { name: 'Delete for me' }).click();
    await expect.poll(async () => (await notes(bob))[1]!.closed, { timeout: 60_000 }).toBe(true);
    await setUnfocused(bob, false);
  });
});
