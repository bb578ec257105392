// Deleting group messages in the real UI (Chromium, browser mode, real relay): a group bubble has
// the actions of a 1:1 bubble, reached by Tab and Enter: links behind a confirmation, Copy, Delete for me (asks first, Cancel
// keeps it; the message leaves alice's page and stays gone after a reload; bob keeps his copy)
// and, on alice's own text only, Delete for everyone (asks first; alice's page and bob's history
// then hold a tombstone without the text). bob runs in this process (a real messenger on a real
// vault), alice in the web host. Then alice's page loses its link to the service (its socket cut
// through a Playwright route) while bob writes: once the link is back, the open group loads again
// and shows the text whose event was lost. Past the newest 200 messages, "Show older messages"
// loads the earlier ones, and a search hit (Ctrl+K, filtered to the group) opens there in context.
// Last, in bob's group where every member may add, alice (not an admin) adds carol by keyboard. Screenshots light and dark; every control named; axe
// clean; no console error.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page, WebSocketRoute } from 'playwright-core';
import type { GroupInfo } from '../../shared/api.ts';
import type { Messenger } from '../../main/messenger.ts';
import { browserScene, expectAccessible, expectAllNamed, onboard, openRegisteredMessenger, settledScrollTop, shotBothThemes } from './browser-harness.ts';

const scene = browserScene('group-delete', 'group-delete');
const NAME = 'Delete check';
const T = 60_000;
let alice: Page;
let bob: Messenger | undefined;
let carol: Messenger | undefined;
/** The relay's descriptor file (bob and, later, carol register with it). */
let descriptor = '';
let group: GroupInfo;
/**
 * The page's socket to the web host runs through a route (each connection forwarded as is), so
 * the test can cut the page's link to the service while main keeps running; while `cut`, every
 * reconnect attempt is closed at once.
 */
const links: WebSocketRoute[] = [];
let cut = false;
/**
 * While set, the results of the page's `groupHistory` calls are kept back (each with whether it
 * asked for an older page) until the test sends them on together, so two pages land in the order
 * and in the same moment the test chooses.
 */
let holding: { kinds: Map<number, 'older' | 'newest'>; held: Map<number, { to: WebSocketRoute; message: string }> } | null = null;

function apiFrame(message: string | Buffer): { t?: unknown; id?: unknown; method?: unknown; params?: { before?: unknown } } | null {
  if (typeof message !== 'string') return null;
  try {
    return JSON.parse(message) as { t?: unknown; id?: unknown; method?: unknown; params?: { before?: unknown } };
  } catch {
    return null;
  }
}

async function check(page: Page, name: string): Promise<void> {
  await shotBothThemes(page, scene.shotsDir, name);
  await expectAllNamed(page, name);
  await expectAccessible(page, name);
}

/** Presses Tab from `from` until `target` has focus (at most `max` presses), as a keyboard user would. */
async function tabTo(page: Page, from: ReturnType<Page['locator']>, target: ReturnType<Page['locator']>, max = 6): Promise<void> {
  await from.focus();
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === (el.ownerDocument as unknown as { activeElement: unknown }).activeElement)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error('Tab never reached the button');
}

async function bobsHistory() {
  return (await bob!.groupHistory({ groupId: group.groupId, limit: 50 })).messages;
}

describe('Deleting group messages in Chromium', () => {
  beforeAll(async () => {
    const relay = await scene.startRelay();
    const url = await scene.startWeb('alice', relay.descriptor);
    await scene.launch();
    const { page, context } = await scene.newPage();
    alice = page;
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(url).origin });
    await alice.routeWebSocket(/\/api$/, (ws) => {
      if (cut) return void ws.close({ code: 1001, reason: 'cut by the test' });
      const server = ws.connectToServer();
      ws.onMessage((message) => {
        const f = apiFrame(message);
        if (holding && f?.t === 'call' && f.method === 'groupHistory' && typeof f.id === 'number') holding.kinds.set(f.id, f.params?.before ? 'older' : 'newest');
        server.send(message);
      });
      server.onMessage((message) => {
        const id = apiFrame(message)?.id;
        if (holding && typeof id === 'number' && holding.kinds.has(id)) return void holding.held.set(id, { to: ws, message: message as string });
        ws.send(message);
      });
      links.push(ws);
    });
    descriptor = relay.descriptor;
    bob = await openRegisteredMessenger(scene, 'bob', descriptor);
    await onboard(alice, url, 'alice');
  });

  afterEach(() => {
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await bob?.close().catch(() => undefined);
    await carol?.close().catch(() => undefined);
    await scene.close();
  });

  it('Delete for me and for everyone from a group bubble, by keyboard, asked first', async () => {
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

    await bob!.groupSend({ groupId: group.groupId, text: 'bob says hello' });
    const log = alice.getByRole('log', { name: `Messages in ${NAME}` });
    const bobs = log.locator('.bubble', { hasText: 'bob says hello' });
    await bobs.waitFor({ timeout: T });
    const composer = alice.getByLabel(`Message to ${NAME}`);
    for (const text of ['alice keeps this', 'alice sent this by mistake']) {
      await composer.fill(text);
      await composer.press('Enter');
      await log.locator('.bubble', { hasText: text }).waitFor({ timeout: T });
    }
    await expect.poll(async () => (await bobsHistory()).map((m) => m.text), { timeout: T }).toContain('alice sent this by mistake');
    const mistake = log.locator('.bubble', { hasText: 'alice sent this by mistake' });

    // bob's text: Copy and Delete for me, never Delete for everyone; alice's own: both deletes.
    expect(await bobs.getByRole('button', { name: 'Delete for me' }).count()).toBe(1);
    expect(await bobs.getByRole('button', { name: 'Delete for everyone' }).count()).toBe(0);
    expect(await mistake.getByRole('button', { name: 'Delete for everyone' }).count()).toBe(1);
    await check(alice, 'group-message-actions');

    // Copy puts exactly the text on the clipboard.
    await bobs.getByRole('button', { name: 'Copy' }).focus();
    await alice.keyboard.press('Enter');
    await expect.poll(() => alice.evaluate(() => (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText())).toBe('bob says hello');

    // Delete for me, by keyboard: Tab from Copy to it, Enter; Cancel changes nothing.
    const forMe = bobs.getByRole('button', { name: 'Delete for me' });
    await tabTo(alice, bobs.getByRole('button', { name: 'Copy' }), forMe);
    await alice.keyboard.press('Enter');
    const askMe = alice.getByRole('dialog', { name: 'Delete this message for you?' });
    await askMe.getByText(`The other members of ${NAME} keep their copies`).waitFor();
    await check(alice, 'group-delete-confirm');
    await askMe.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => alice.getByRole('dialog').count()).toBe(0);
    expect(await bobs.count()).toBe(1);
    await tabTo(alice, bobs.getByRole('button', { name: 'Copy' }), forMe);
    await alice.keyboard.press('Enter');
    await askMe.getByRole('button', { name: 'Delete for me' }).click();
    await expect.poll(() => bobs.count(), { timeout: T }).toBe(0);
    // bob keeps his copy.
    expect((await bobsHistory()).some((m) => m.text === 'bob says hello' && !m.deleted)).toBe(true);

    // Delete for everyone of alice's own text, by keyboard; Cancel first.
    const forAll = mistake.getByRole('button', { name: 'Delete for everyone' });
    await tabTo(alice, mistake.getByRole('button', { name: 'Copy' }), forAll);
    await alice.keyboard.press('Enter');
    const askAll = alice.getByRole('dialog', { name: 'Delete this message for everyone?' });
    await askAll.getByText(`for every member of ${NAME} too`).waitFor();
    await check(alice, 'group-delete-everyone-confirm');
    await askAll.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => alice.getByRole('dialog').count()).toBe(0);
    expect(await mistake.count()).toBe(1);
    await tabTo(alice, mistake.getByRole('button', { name: 'Copy' }), forAll);
    await alice.keyboard.press('Enter');
    await askAll.getByRole('button', { name: 'Delete for everyone' }).click();
    const texts = log.locator('.bubble .text');
    await expect.poll(() => texts.allTextContents(), { timeout: T }).toEqual(['alice keeps this', 'This message was deleted']);
    // bob's copy is a tombstone too, without the text.
    await expect.poll(async () => (await bobsHistory()).filter((m) => m.deleted).length, { timeout: T }).toBe(1);
    expect((await bobsHistory()).some((m) => m.text.includes('by mistake'))).toBe(false);
    // The chat list's line reads as a 1:1 chat's after a delete for everyone (in the screenshot).
    const listLine = alice.locator('.chat-item', { has: alice.getByRole('button', { name: new RegExp(`^${NAME}, group of 2`) }) }).locator('.chat-preview');
    await expect.poll(() => listLine.textContent(), { timeout: T }).toBe('You: This message was deleted');
    await check(alice, 'group-chat-after-delete');

    // The group is in the Alt+Up/Down order with the 1:1 chats (two chats here: it wraps).
    await alice.keyboard.press('Alt+ArrowDown');
    await alice.getByRole('heading', { name: 'bob', level: 2 }).waitFor();
    await alice.keyboard.press('Alt+ArrowDown');
    await alice.getByRole('heading', { name: `${NAME} 2 members`, level: 2 }).waitFor();

    // After a reload: bob's text stays gone from alice's page, the tombstone stays.
    await alice.reload();
    await alice.getByRole('button', { name: new RegExp(`^${NAME}, group of 2`) }).click();
    const again = alice.getByRole('log', { name: `Messages in ${NAME}` });
    await expect.poll(() => again.locator('.bubble .text').allTextContents(), { timeout: T }).toEqual(['alice keeps this', 'This message was deleted']);

    // A link in a group text is a link, opened only through the confirmation (as in 1:1 chats).
    await bob!.groupSend({ groupId: group.groupId, text: 'the plan: https://example.org/plan?id=7 ok' });
    const link = again.getByRole('link', { name: 'https://example.org/plan?id=7' });
    await link.waitFor({ timeout: T });
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
    await link.click();
    const confirm = alice.getByRole('dialog', { name: 'Open this link?' });
    await confirm.getByText('https://example.org/plan?id=7', { exact: true }).waitFor();
    await check(alice, 'group-link-confirm');
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => alice.getByRole('dialog').count()).toBe(0);
    expect(alice.context().pages().length).toBe(1);
  });

  it("an open group loads again once the page's link to the service is back (events sent meanwhile were lost)", async () => {
    const log = alice.getByRole('log', { name: `Messages in ${NAME}` });
    await log.waitFor();
    cut = true;
    for (const ws of links.splice(0)) await ws.close({ code: 1001, reason: 'cut by the test' });
    const lost = alice.getByRole('alert').filter({ hasText: 'Lost the connection to the Ephemera service' });
    await lost.waitFor({ timeout: T });
    await check(alice, 'link-lost');
    // The banner takes its room from the screen below it: the composer stays on screen.
    const sendBox = await alice.getByRole('button', { name: 'Send' }).boundingBox();
    expect(sendBox!.y + sendBox!.height).toBeLessThanOrEqual(alice.viewportSize()!.height);
    // bob writes while alice's page hears nothing: alice's main stores it (bob sees it delivered).
    const text = 'written while the page was cut off';
    const sent = await bob!.groupSend({ groupId: group.groupId, text });
    await expect.poll(async () => (await bobsHistory()).find((m) => m.id === sent.id)?.receipts?.delivered, { timeout: T }).toBe(1);
    expect(await log.getByText(text).count()).toBe(0);
    cut = false;
    // The link comes back by itself; the group loads again and shows what its event could not.
    await log.getByText(text).waitFor({ timeout: T });
    await lost.waitFor({ state: 'detached', timeout: T });
  });

  it('past the newest 200 messages, "Show older messages" loads the earlier ones (by keyboard); a search hit there opens in context', async () => {
    // alice looks at another chat while bob writes 200 more texts.
    await alice.getByRole('button', { name: /^bob/ }).click();
    await alice.getByRole('heading', { name: 'bob', level: 2 }).waitFor();
    for (let i = 0; i < 200; i++) await bob!.groupSend({ groupId: group.groupId, text: `bulk ${i}` });
    await expect.poll(async () => (await bobsHistory()).find((m) => m.text === 'bulk 199')?.receipts?.delivered, { timeout: T }).toBe(1);

    await alice.getByRole('button', { name: new RegExp(`^${NAME}, group of 2`) }).click();
    const log = alice.getByRole('log', { name: `Messages in ${NAME}` });
    await log.getByText('bulk 199', { exact: true }).waitFor({ timeout: T });
    await log.getByText('bulk 0', { exact: true }).waitFor();
    expect(await log.getByText('alice keeps this').count()).toBe(0);
    const older = log.getByRole('button', { name: 'Show older messages' });
    // A reload of the newest page (bob's read receipt: nothing new arrives, so the place on screen
    // must hold whether the two pages render together or apart) and the older page are in flight at
    // once and land back to back, the older first: the window keeps the older page (a reload once
    // joined its page to what the page had rendered before the older page landed, and so dropped it
    // whenever both landed before React rendered).
    const keeps = (await bob!.groupHistory({ groupId: group.groupId, limit: 500 })).messages.find((m) => m.text === 'alice keeps this')!;
    holding = { kinds: new Map(), held: new Map() };
    const kept = holding;
    await bob!.groupMarkRead({ groupId: group.groupId, upToMessageId: keeps.id });
    await expect.poll(() => [...kept.kinds.values()].includes('newest'), { timeout: T }).toBe(true);
    await older.focus();
    await alice.keyboard.press('Enter');
    await expect.poll(() => [...kept.kinds.values()].includes('older') && kept.held.size === kept.kinds.size, { timeout: T }).toBe(true);
    holding = null;
    const order = [...kept.held.keys()].sort((a, b) => (kept.kinds.get(a) === 'older' ? 0 : 1) - (kept.kinds.get(b) === 'older' ? 0 : 1));
    // Sent while the page's thread is busy, so both wait in its queue and run one after the other,
    // before the render React schedules from the first (apart, the old join saw the older page).
    const busy = alice.evaluate(() => {
      const end = performance.now() + 400;
      while (performance.now() < end);
    });
    for (const id of order) kept.held.get(id)!.to.send(kept.held.get(id)!.message);
    await busy;
    await log.getByText('alice keeps this').waitFor({ timeout: T });
    await expect.poll(() => older.count()).toBe(0);
    expect(await log.locator('.bubble .text').first().textContent()).toBe('alice keeps this');
    // What was on screen stays there: the reader is not thrown to either end.
    expect(await log.evaluate((el) => el.scrollTop > 0 && el.scrollTop + el.clientHeight < el.scrollHeight)).toBe(true);
    await check(alice, 'group-older-loaded');

    // Search (Ctrl+K) in the group finds a text beyond its newest page and opens it in context.
    await alice.getByRole('button', { name: /^bob/ }).click();
    await alice.getByRole('heading', { name: 'bob', level: 2 }).waitFor();
    await alice.keyboard.press('Control+k');
    const search = alice.getByRole('dialog', { name: 'Search messages' });
    await search.getByLabel('In', { exact: true }).selectOption({ label: `${NAME} (group)` });
    await search.getByLabel('Search for').fill('keeps');
    const hit = search.getByRole('list', { name: 'Search results' }).getByRole('button');
    await expect.poll(() => hit.allTextContents(), { timeout: T }).toEqual([expect.stringMatching(new RegExp(`^${NAME} · .*alice keeps this$`))]);
    await check(alice, 'group-search');
    await hit.click();
    const focused = log.locator('.bubble.focused', { hasText: 'alice keeps this' });
    await focused.waitFor({ timeout: T });
    await expect.poll(async () => {
      const box = await focused.boundingBox();
      return box !== null && box.y >= 0 && box.y + box.height <= alice.viewportSize()!.height;
    }, { timeout: T }).toBe(true);
    await check(alice, 'group-search-hit');

    // The reader goes to the end by keyboard (End in the log) and stays there (before, the hit was
    // scrolled to again whenever the window changed, as when the newest text was marked read).
    const fromEnd = () => log.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
    const twoFrames = () => alice.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
    await log.focus();
    await alice.keyboard.press('End');
    await expect.poll(fromEnd, { timeout: T }).toBeLessThan(80);
    await bob!.groupSend({ groupId: group.groupId, text: 'bob writes at the end' });
    await log.getByText('bob writes at the end').waitFor({ timeout: T });
    await expect.poll(fromEnd, { timeout: T }).toBeLessThan(80);

    // The reader scrolls up: a member's text arriving does not move what they read (before, every
    // arrival threw the reader to the end).
    await log.hover();
    await alice.mouse.wheel(0, -1500);
    await expect.poll(fromEnd, { timeout: T }).toBeGreaterThan(500);
    // Where the log rests once the smooth wheel scroll has ended.
    const readingAt = await settledScrollTop(log);
    await bob!.groupSend({ groupId: group.groupId, text: 'bob writes while alice reads back' });
    await log.getByText('bob writes while alice reads back').waitFor({ timeout: T });
    await twoFrames();
    expect(Math.abs((await log.evaluate((el) => el.scrollTop)) - readingAt)).toBeLessThan(2);
    // A button says a text is below; Enter on it takes the chat to its end, and it goes.
    const below = alice.getByRole('button', { name: '1 new message', exact: true });
    await below.waitFor({ timeout: T });
    await check(alice, 'group-new-below');
    await below.focus();
    await alice.keyboard.press('Enter');
    await expect.poll(fromEnd, { timeout: T }).toBeLessThan(80);
    await below.waitFor({ state: 'detached', timeout: T });

    // At the end: the next text is followed.
    await bob!.groupSend({ groupId: group.groupId, text: 'bob writes again' });
    await log.getByText('bob writes again').waitFor({ timeout: T });
    await twoFrames();
    expect(await fromEnd()).toBeLessThan(80);

    // The reader's own text, sent while scrolled up, is scrolled to.
    await log.hover();
    await alice.mouse.wheel(0, -1500);
    await expect.poll(fromEnd, { timeout: T }).toBeGreaterThan(500);
    const composer = alice.getByLabel(`Message to ${NAME}`);
    await composer.fill('alice writes from above');
    await composer.press('Enter');
    await log.getByText('alice writes from above').waitFor({ timeout: T });
    await expect.poll(fromEnd, { timeout: T }).toBeLessThan(80);
  });

  it('a member the admin lets add (allow-add) adds a contact from the info panel, by keyboard', async () => {
    carol = await openRegisteredMessenger(scene, 'carol', descriptor);
    // bob's group, alice a member (not an admin), every member allowed to add.
    const open = await bob!.groupCreate({ name: 'Open door', members: ['alice'] });
    await bob!.groupAllowAdd({ groupId: open.groupId, on: true });
    await alice.keyboard.press('Control+n');
    await alice.getByLabel('Their handle').fill('carol');
    await alice.getByRole('button', { name: 'Add contact' }).click();
    await alice.getByRole('heading', { name: 'carol', level: 2 }).waitFor();

    await alice.getByRole('button', { name: /^Open door, group of 2/ }).click({ timeout: T });
    await alice.getByRole('button', { name: 'Group info' }).click();
    const info = alice.getByRole('dialog', { name: 'Group info: Open door' });
    await info.getByText('Every member may add members.').waitFor({ timeout: T });
    expect(await info.getByRole('button', { name: /^Remove / }).count()).toBe(0);
    const choose = info.getByLabel('Add a contact');
    await choose.focus();
    await alice.keyboard.press('ArrowDown');
    await expect.poll(() => choose.inputValue()).toBe('carol');
    await check(alice, 'group-info-member-may-add');
    await alice.keyboard.press('Tab');
    await alice.keyboard.press('Enter');
    await info.getByRole('list', { name: '3 members' }).waitFor({ timeout: T });
    await expect.poll(async () => (await carol!.groupsList()).some((g) => g.groupId === open.groupId), { timeout: T }).toBe(true);
  });
});
