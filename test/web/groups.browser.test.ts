// Group chats in the real UI (Chromium, browser mode, three profiles, real relay; issue #16): the
// New group dialog is used by keyboard; all three chat and see each other's messages with the
// sender's name; the info panel shows members, admins and the "unverified" mark; the admin
// removes a member, who then sees the system line and nothing sent after. Screenshots in light
// and dark of the dialog, the group chat and the info panel; every control named, axe clean, no
// console error. (What a removed member can decrypt is tested in test/groups/group-chat.test.ts.)
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { addContact, browserScene, expectAccessible, expectAllNamed, onboardedPages, shotBothThemes } from './browser-harness.ts';

const scene = browserScene('groups', 'groups');
let alice: Page;
let bob: Page;
let carol: Page;
const NAME = 'Weekend hikers';
const T = 60_000;

async function check(page: Page, name: string): Promise<void> {
  await shotBothThemes(page, scene.shotsDir, name);
  await expectAllNamed(page, name);
  await expectAccessible(page, name);
}

/** The contract methods alice's page called, in order (its WebSocket's call frames). */
const aliceCalls: string[] = [];

/** The message bubble with this text in the open group's log. */
const bubble = (page: Page, text: string) => page.getByRole('log', { name: `Messages in ${NAME}` }).locator('.bubble', { hasText: text });

describe('Group chats in Chromium', () => {
  beforeAll(async () => {
    ({ alice, bob, carol } = await onboardedPages(scene, ['alice', 'bob', 'carol'], (page, handle) => {
      if (handle !== 'alice') return;
      page.on('websocket', (ws) =>
        ws.on('framesent', (f) => {
          const frame = JSON.parse(String(f.payload)) as { t?: string; method?: string };
          if (frame.t === 'call' && frame.method) aliceCalls.push(frame.method);
        }),
      );
    }));
  });

  afterEach(() => {
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(() => scene.close());

  it('creates a group by keyboard; all three chat and see who wrote what', async () => {
    await addContact(alice, 'bob');
    await addContact(alice, 'carol');

    // Keyboard only: the sidebar button, the name, the two members, Enter.
    await alice.getByRole('button', { name: 'New group' }).focus();
    await alice.keyboard.press('Enter');
    const dialog = alice.getByRole('dialog', { name: 'New group' });
    await dialog.waitFor();
    await expect.poll(() => alice.evaluate('document.activeElement?.id')).toBe('group-name');
    await alice.keyboard.type(NAME);
    await alice.keyboard.press('Tab');
    await alice.keyboard.press('Space');
    await alice.keyboard.press('Tab');
    await alice.keyboard.press('Space');
    expect(await dialog.getByRole('checkbox', { name: '@bob' }).isChecked()).toBe(true);
    expect(await dialog.getByRole('checkbox', { name: '@carol' }).isChecked()).toBe(true);
    await check(alice, 'new-group-dialog');
    await alice.keyboard.press('Enter');
    await expect.poll(() => dialog.count(), { timeout: T }).toBe(0); // creating the group waits on the relay: not within poll's 1 s default under load

    // The group chat: name and member count in the header, the creation as a system line.
    await alice.getByRole('heading', { name: `${NAME} 3 members`, level: 2 }).waitFor();
    await alice.getByRole('note').getByText(`alice created the group "${NAME}"`).waitFor();
    const composer = alice.getByLabel(`Message to ${NAME}`);
    await composer.fill('hello hikers');
    await composer.press('Enter');
    await bubble(alice, 'hello hikers').getByText(/Sent|Delivered|Read/).waitFor({ timeout: T });

    // bob and carol get the group in their lists, with alice's message under her name.
    for (const p of [bob, carol]) {
      await p.getByRole('button', { name: `${NAME}, group of 3` }).click({ timeout: T });
      await p.getByRole('note').getByText(`alice created the group "${NAME}"`).waitFor({ timeout: T });
      await bubble(p, 'hello hikers').waitFor({ timeout: T });
      expect(await bubble(p, 'hello hikers').locator('.sender').textContent()).toBe('@alice');
    }
    await bob.getByLabel(`Message to ${NAME}`).fill('bob is in');
    await bob.getByLabel(`Message to ${NAME}`).press('Enter');
    await carol.getByLabel(`Message to ${NAME}`).fill('carol too');
    await carol.getByLabel(`Message to ${NAME}`).press('Enter');
    for (const [p, text, sender] of [
      [alice, 'bob is in', '@bob'],
      [alice, 'carol too', '@carol'],
      [bob, 'carol too', '@carol'],
      [carol, 'bob is in', '@bob'],
    ] as const) {
      await bubble(p, text).waitFor({ timeout: T }).catch(async (e: unknown) => {
        for (const [n, q] of [['a', alice], ['b', bob], ['c', carol]] as const) await q.screenshot({ path: `${scene.shotsDir}/debug-${n}.png` });
        throw e;
      });
      expect(await bubble(p, text).locator('.sender').textContent()).toBe(sender);
    }
    await check(alice, 'group-chat-admin');
    await check(bob, 'group-chat-member');
  });

  it('receipts: what bob and carol read shows "Read by 2 of 2", with details by keyboard; the group in the one chat list with its unread count', async () => {
    // Both opened the group and saw alice's message: their read receipts reach her.
    const state = bubble(alice, 'hello hikers').getByRole('button', { name: 'Read by 2 of 2' });
    await state.waitFor({ timeout: T });
    await state.focus();
    await alice.keyboard.press('Enter');
    const receipts = alice.getByRole('dialog', { name: 'Message receipts' });
    await receipts.waitFor();
    const list = receipts.getByRole('list', { name: 'Read by 2 of 2' });
    await list.waitFor({ timeout: T });
    expect((await list.getByRole('listitem').allTextContents()).map((t) => t.replace(/\d{1,2}:\d{2}.*$/, 'TIME'))).toEqual(['@bobRead TIME', '@carolRead TIME']);
    await check(alice, 'group-receipts');
    await alice.keyboard.press('Escape');
    await expect.poll(() => receipts.count()).toBe(0);

    // alice reads a 1:1 chat; carol writes in the group: it comes first in the one list, 1 unread.
    await alice.getByRole('button', { name: 'bob', exact: true }).click();
    await alice.getByRole('heading', { name: 'bob', level: 2 }).waitFor();
    // Nothing polls: while nothing happens in the group, alice's page calls no group method (it
    // reloaded the list every 1.5 s).
    aliceCalls.length = 0;
    // 4 s by the page's own clock: a timer of the page due meanwhile (such a poll) has run by then,
    // however slow the machine. Then a call of its own (a search) on the same socket: once the
    // test has seen that frame, it has seen every frame the page sent before it.
    await alice.evaluate(() => new Promise((resolve) => setTimeout(resolve, 4000)));
    await alice.keyboard.press('Control+K');
    await alice.getByLabel('Search for').fill('nothing polls');
    await expect.poll(() => aliceCalls.includes('search'), { timeout: T }).toBe(true);
    const search = alice.getByRole('dialog', { name: 'Search messages' });
    await search.getByRole('button', { name: 'Close' }).click();
    await expect.poll(() => search.count()).toBe(0);
    expect(aliceCalls.slice(0, aliceCalls.indexOf('search')).filter((m) => m.startsWith('group'))).toEqual([]);
    await carol.getByLabel(`Message to ${NAME}`).fill('anyone there?');
    await carol.getByLabel(`Message to ${NAME}`).press('Enter');
    const entry = alice.getByRole('button', { name: `${NAME}, group of 3, 1 unread` });
    await entry.waitFor({ timeout: T });
    // The list followed main's groupActivity event: the page asked for nothing (it used to
    // reload every group's activity, each a history read in main, on every group event).
    expect(aliceCalls.filter((m) => m.startsWith('group'))).toEqual([]);
    const names = await alice.getByRole('list', { name: 'Conversations' }).locator('button.chat-entry').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
    expect(names[0]).toBe(`${NAME}, group of 3, 1 unread`);
    expect(names).toContain('bob');
    expect(names).toContain('carol');
    await check(alice, 'chat-list-with-group');
    await entry.click();
    await bubble(alice, 'anyone there?').waitFor();
    // Opening it reads it: the count goes, and carol sees both readers (bob has the group open).
    await alice.locator(`button.chat-entry[aria-label="${NAME}, group of 3"]`).waitFor({ timeout: T });
    await bubble(carol, 'anyone there?').getByRole('button', { name: 'Read by 2 of 2' }).waitFor({ timeout: T });
  });

  it('an admin sets the disappearing timer in the info panel by keyboard; every member sees the line and the setting', async () => {
    await alice.getByRole('button', { name: 'Group info' }).click();
    const info = alice.getByRole('dialog', { name: `Group info: ${NAME}` });
    const timer = info.getByRole('combobox', { name: 'Disappearing messages' });
    expect(await timer.inputValue()).toBe('0');
    // Keyboard only: the list (arrows: 30 seconds, 5 minutes, 1 hour), Tab to the button, Enter.
    await timer.focus();
    for (let i = 0; i < 3; i++) await alice.keyboard.press('ArrowDown');
    expect(await timer.inputValue()).toBe('3600');
    await alice.keyboard.press('Tab');
    await expect.poll(() => alice.evaluate('document.activeElement?.textContent')).toBe('Set timer');
    await alice.keyboard.press('Enter');
    await info.getByRole('status').getByText('Messages now disappear after 1 hour.').waitFor({ timeout: T });
    expect(await info.getByRole('button', { name: 'Set timer' }).isDisabled()).toBe(true);
    await check(alice, 'group-info-timer-admin');
    await alice.keyboard.press('Escape');
    await alice.getByRole('note').getByText('alice set disappearing messages to 1 hour').waitFor({ timeout: T });
    await alice.locator('.chat-head').getByText('Disappearing messages: 1 hour').waitFor();

    // bob (no admin) sees the line, the header, and the setting without a control.
    await bob.getByRole('note').getByText('alice set disappearing messages to 1 hour').waitFor({ timeout: T });
    await bob.locator('.chat-head').getByText('Disappearing messages: 1 hour').waitFor({ timeout: T });
    await bob.getByRole('button', { name: 'Group info' }).click();
    const bobInfo = bob.getByRole('dialog', { name: `Group info: ${NAME}` });
    await bobInfo.getByText('Disappearing messages: 1 hour').waitFor();
    expect(await bobInfo.getByRole('combobox', { name: 'Disappearing messages' }).count()).toBe(0);
    await check(bob, 'group-info-timer-member');
    await bob.keyboard.press('Escape');

    // A text under the timer counts down on both sides (bob's from when his page showed it).
    await alice.getByLabel(`Message to ${NAME}`).fill('gone within the hour');
    await alice.getByLabel(`Message to ${NAME}`).press('Enter');
    for (const p of [alice, bob]) {
      await bubble(p, 'gone within the hour').getByRole('timer', { name: /^Disappears in (60m|59m|1h)$/ }).waitFor({ timeout: T });
    }
    await check(bob, 'group-chat-timer');
  });

  it('an admin lets every member add (a checkbox, by keyboard); bob sees the setting', async () => {
    await alice.getByRole('button', { name: 'Group info' }).click();
    const info = alice.getByRole('dialog', { name: `Group info: ${NAME}` });
    const allow = info.getByRole('checkbox', { name: 'Every member may add members' });
    expect(await allow.isChecked()).toBe(false);
    await allow.focus();
    await alice.keyboard.press('Space');
    await info.getByRole('status').getByText('Every member may add members now.').waitFor({ timeout: T });
    await expect.poll(() => allow.isChecked()).toBe(true);
    await check(alice, 'group-info-allow-add-admin');
    await alice.keyboard.press('Escape');

    await bob.getByRole('button', { name: 'Group info' }).click();
    const bobInfo = bob.getByRole('dialog', { name: `Group info: ${NAME}` });
    await bobInfo.getByText('Every member may add members.').waitFor({ timeout: T });
    expect(await bobInfo.getByRole('checkbox', { name: 'Every member may add members' }).count()).toBe(0);
    await check(bob, 'group-info-allow-add-member');
    await bob.keyboard.press('Escape');
  });

  it('the info panel shows members and admins; bob sees carol as unverified; removing carol', async () => {
    // bob is no admin: the members, with alice as admin and carol (not his contact) unverified.
    await bob.getByRole('button', { name: 'Group info' }).click();
    const bobInfo = bob.getByRole('dialog', { name: `Group info: ${NAME}` });
    await bobInfo.waitFor();
    const members = bobInfo.getByRole('list', { name: '3 members' });
    expect(await members.getByRole('listitem').allTextContents()).toEqual(['@alice admin unverified', 'You (@bob)', '@carol unverified']);
    expect(await bobInfo.getByRole('button', { name: /^Remove / }).count()).toBe(0);
    await check(bob, 'group-info-member');
    await bob.keyboard.press('Escape');

    await alice.getByRole('button', { name: 'Group info' }).click();
    const info = alice.getByRole('dialog', { name: `Group info: ${NAME}` });
    await info.waitFor();
    await info.getByRole('button', { name: 'Make bob an admin' }).waitFor();
    // bob and carol are alice's contacts, but their safety numbers are not verified.
    expect(await info.getByRole('list', { name: '3 members' }).locator('.member-name').allTextContents()).toEqual(['You (@alice) admin', '@bob unverified', '@carol unverified']);
    await check(alice, 'group-info-admin');
    await info.getByRole('button', { name: 'Remove carol' }).click();
    await info.getByRole('status').getByText('Removed carol.').waitFor({ timeout: T });
    await info.getByRole('list', { name: '2 members' }).waitFor();
    await alice.keyboard.press('Escape');
    await alice.getByRole('heading', { name: `${NAME} 2 members`, level: 2 }).waitFor();
    await alice.getByRole('note').getByText('alice removed carol').waitFor();

    // carol sees the line, and no composer any more.
    await carol.getByRole('note').getByText('alice removed carol').waitFor({ timeout: T });
    await carol.getByText('You are no longer a member of this group.').waitFor({ timeout: T });
    expect(await carol.getByLabel(`Message to ${NAME}`).count()).toBe(0);
    await check(carol, 'group-chat-removed');

    // What alice sends now reaches bob and never carol.
    await alice.getByLabel(`Message to ${NAME}`).fill('after carol left');
    await alice.getByLabel(`Message to ${NAME}`).press('Enter');
    await bubble(bob, 'after carol left').waitFor({ timeout: T });
    await bob.getByRole('note').getByText('alice removed carol').waitFor({ timeout: T });
    // Then alice writes to carol one to one: alice's requests leave her sealed outbox in order and
    // carol's mailbox hands her envelopes over one at a time in queue order (main/net/mailbox.ts),
    // so once this shows in carol's list, what alice sent her before it (the group message, were
    // it sent to her) has been handled.
    await alice.getByRole('button', { name: 'carol', exact: true }).click();
    await alice.getByRole('heading', { name: 'carol', level: 2 }).waitFor();
    await alice.getByLabel('Message to carol').fill('only for carol');
    await alice.getByLabel('Message to carol').press('Enter');
    await carol.getByRole('list', { name: 'Conversations' }).getByText('only for carol').waitFor({ timeout: T });
    expect(await bubble(carol, 'after carol left').count()).toBe(0);
    expect(await bubble(carol, 'bob is in').count()).toBe(1);
    await alice.getByRole('button', { name: `${NAME}, group of 2` }).click();
    await alice.getByRole('heading', { name: `${NAME} 2 members`, level: 2 }).waitFor();
  });

  it('an admin renames and promotes; the new admin sees the admin actions; a member leaves', async () => {
    const NEW = 'Hikers at dawn';
    await alice.getByRole('button', { name: 'Group info' }).click();
    // The dialog's title follows the name, so it is found by its start.
    const info = alice.getByRole('dialog', { name: /^Group info: / });
    await info.getByRole('textbox', { name: 'Group name' }).fill(NEW);
    await info.getByRole('button', { name: 'Rename' }).click();
    await info.getByRole('status').getByText('Renamed.').waitFor({ timeout: T });
    await alice.getByRole('dialog', { name: `Group info: ${NEW}` }).waitFor();
    await info.getByRole('button', { name: 'Make bob an admin' }).click();
    await info.getByRole('status').getByText('bob is an admin now.').waitFor({ timeout: T });
    await alice.keyboard.press('Escape');

    // bob: the new name in the header and the list, both lines, and now the admin actions.
    await bob.getByRole('heading', { name: `${NEW} 2 members`, level: 2 }).waitFor({ timeout: T });
    await bob.getByRole('button', { name: `${NEW}, group of 2` }).waitFor();
    const log = bob.getByRole('log', { name: `Messages in ${NEW}` });
    await log.getByText(`alice renamed the group to "${NEW}"`).waitFor({ timeout: T });
    await log.getByText('alice made bob an admin').waitFor({ timeout: T });
    await bob.getByRole('button', { name: 'Group info' }).click();
    const bobInfo = bob.getByRole('dialog', { name: `Group info: ${NEW}` });
    await bobInfo.getByRole('button', { name: 'Remove alice' }).waitFor({ timeout: T });
    await bobInfo.getByRole('button', { name: 'Leave group' }).click();
    await bobInfo.getByText('You are no longer a member of this group.').waitFor({ timeout: T });
    await bob.keyboard.press('Escape');
    await log.getByText('bob left the group').waitFor();
    expect(await bob.getByLabel(`Message to ${NEW}`).count()).toBe(0);

    await alice.getByRole('log', { name: `Messages in ${NEW}` }).getByText('bob left the group').waitFor({ timeout: T });
    await alice.getByRole('heading', { name: `${NEW} 1 member`, level: 2 }).waitFor({ timeout: T });
  });
});
