// Replying in a group chat in the real UI (Chromium, browser mode, real relay): a group bubble's
// Reply is reached by Tab and Enter as in a 1:1 chat; the composer then shows the quote with a
// Cancel reply button (reached by Shift+Tab, it drops the quote); Enter sends the reply, which
// shows the quoted author and text in alice's bubble and arrives at bob (a real messenger on a
// real vault in this process) with the quote. Screenshots light and dark; every control named;
// axe clean; no console error.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { GroupInfo } from '../../shared/api.ts';
import type { Messenger } from '../../main/messenger.ts';
import { browserScene, expectAccessible, expectAllNamed, onboard, openRegisteredMessenger, shotBothThemes } from './browser-harness.ts';

const scene = browserScene('group-reply', 'group-reply');
const NAME = 'Reply check';
const T = 60_000;
let alice: Page;
let bob: Messenger | undefined;
let group: GroupInfo;

async function check(page: Page, name: string): Promise<void> {
  await shotBothThemes(page, scene.shotsDir, name);
  await expectAllNamed(page, name);
  await expectAccessible(page, name);
}

const isFocused = (l: ReturnType<Page['locator']>): Promise<boolean> => l.evaluate((el) => el === (el.ownerDocument as unknown as { activeElement: unknown }).activeElement);

/** Presses `key` from `from` until `target` has focus (at most `max` presses), as a keyboard user would. */
async function keyTo(page: Page, from: ReturnType<Page['locator']>, target: ReturnType<Page['locator']>, key = 'Tab', max = 6): Promise<void> {
  await from.focus();
  for (let i = 0; i < max; i++) {
    if (await isFocused(target)) return;
    await page.keyboard.press(key);
  }
  throw new Error(`${key} never reached the button`);
}

describe('Replying in a group chat in Chromium', () => {
  beforeAll(async () => {
    const relay = await scene.startRelay();
    const url = await scene.startWeb('alice', relay.descriptor);
    await scene.launch();
    alice = (await scene.newPage()).page;
    bob = await openRegisteredMessenger(scene, 'bob', relay.descriptor);
    await onboard(alice, url, 'alice');
  });

  afterEach(() => {
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await bob?.close().catch(() => undefined);
    await scene.close();
  });

  it('Reply by keyboard: the quote in the composer (cancel drops it), then in the bubble and at the other member', async () => {
    await alice.keyboard.press('Control+n');
    await alice.getByLabel('Their handle').fill('bob');
    await alice.getByRole('button', { name: 'Add contact' }).click();
    await alice.getByRole('heading', { name: 'bob', level: 2 }).waitFor();
    await alice.getByRole('button', { name: 'New group' }).click();
    const create = alice.getByRole('dialog', { name: 'New group' });
    await create.getByLabel('Group name').fill(NAME);
    await create.getByRole('checkbox', { name: '@bob' }).check();
    await create.getByRole('button', { name: 'Create group' }).click();
    await alice.getByRole('heading', { name: `${NAME} 2 members`, level: 2 }).waitFor({ timeout: T });
    await expect.poll(async () => (await bob!.groupsList()).some((g) => g.name === NAME), { timeout: T }).toBe(true);
    group = (await bob!.groupsList()).find((g) => g.name === NAME)!;

    const asked = await bob!.groupSend({ groupId: group.groupId, text: 'who brings the cake?' });
    const log = alice.getByRole('log', { name: `Messages in ${NAME}` });
    const bobs = log.locator('.bubble', { hasText: 'who brings the cake?' });
    await bobs.waitFor({ timeout: T });
    const composer = alice.getByLabel(`Message to ${NAME}`);
    const bar = alice.locator('.reply-bar');

    // Reply: Tab from the log to the bubble's Reply, Enter; the composer has the focus and the quote.
    const reply = bobs.getByRole('button', { name: 'Reply' });
    await keyTo(alice, log, reply);
    await alice.keyboard.press('Enter');
    await bar.waitFor();
    expect(await bar.textContent()).toContain('who brings the cake?');
    expect(await isFocused(composer)).toBe(true);
    await check(alice, 'group-reply-composer');

    // Cancel reply, by keyboard (Shift+Tab from the composer): the quote is gone.
    const cancel = alice.getByRole('button', { name: 'Cancel reply' });
    await keyTo(alice, composer, cancel, 'Shift+Tab');
    await alice.keyboard.press('Enter');
    await expect.poll(() => bar.count()).toBe(0);

    // Again, and send it with Enter.
    await keyTo(alice, log, reply);
    await alice.keyboard.press('Enter');
    await bar.waitFor();
    await composer.fill('I do');
    await composer.press('Enter');
    const mine = log.locator('.bubble.out', { hasText: 'I do' });
    await mine.waitFor({ timeout: T });
    await expect.poll(() => bar.count()).toBe(0);
    const quote = mine.getByRole('button', { name: /^Quoted message from .*bob: who brings the cake\?\. Show it$/ });
    await quote.waitFor();
    await check(alice, 'group-reply-sent');

    // bob has it with the quote of his own text.
    await expect
      .poll(async () => (await bob!.groupHistory({ groupId: group.groupId, limit: 50 })).messages.find((m) => m.text === 'I do')?.replyTo, { timeout: T })
      .toEqual({ id: asked.id, direction: 'out', sender: 'bob', text: 'who brings the cake?' });
  });
});
