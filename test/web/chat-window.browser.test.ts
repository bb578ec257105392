// The 1:1 chat's window in the real UI (Chromium, browser mode, real relay): a search hit far back
// in a long conversation opens in context (the chat then ends before the newest messages), and a
// text sent from there takes the chat to the newest messages, where the sent text is shown and on
// screen (before, it was stored and sent but not shown until the user scrolled all the way down).
// A chat that shows its end follows a fast burst of live texts to the end, on a page slowed down as
// a loaded machine would be (before, one text arriving while rows were still being measured found
// the chat "not at the bottom" and every later one was left below the view); a reader who scrolled
// up stays where they are until they go back to the end.
// bob runs in this process (a real messenger on a real vault) so the test can write 200 texts
// quickly; alice is a web host child. Screenshots light and dark; every control named; axe clean;
// no console error.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page, WebSocketRoute } from 'playwright-core';
import type { Messenger } from '../../main/messenger.ts';
import { addContact, browserScene, expectAccessible, expectAllNamed, onboard, openRegisteredMessenger, PASSWORD, send, settledScrollTop, shotBothThemes } from './browser-harness.ts';

const scene = browserScene('chat-window', 'chat-window');
const T = 60_000;
const LATER = 200;
const BURST = 150;
const LONG_LINE = 'a text long enough to wrap over several lines of the chat, '.repeat(6);
let alice: Page;
let bob: Messenger | undefined;
/**
 * alice's page reaches its service through a route (each socket forwarded as is), so the test can
 * cut the page's link while main keeps running; while `cut`, every reconnect is closed at once.
 */
const links: WebSocketRoute[] = [];
let cut = false;

async function check(page: Page, name: string): Promise<void> {
  await shotBothThemes(page, scene.shotsDir, name);
  await expectAllNamed(page, name);
  await expectAccessible(page, name);
}

/** Whether `locator`'s element is inside the chat log's visible box (scrolled to, not just in the DOM). */
async function onScreen(page: Page, locator: ReturnType<Page['locator']>): Promise<boolean> {
  // Not in the DOM (a virtualized row not drawn): not on screen, without waiting for it.
  if ((await locator.count()) === 0) return false;
  // A row unmounted meanwhile: not on screen now (the poll asks again).
  const box = await locator.boundingBox({ timeout: 1000 }).catch(() => null);
  const view = await page.getByRole('log').boundingBox();
  return box !== null && view !== null && box.y >= view.y - 1 && box.y + box.height <= view.y + view.height + 1;
}

describe('the 1:1 chat window in Chromium', () => {
  beforeAll(async () => {
    const relay = await scene.startRelay();
    const url = await scene.startWeb('alice', relay.descriptor);
    bob = await openRegisteredMessenger(scene, 'bob', relay.descriptor);
    await scene.launch();
    alice = (await scene.newPage()).page;
    await alice.routeWebSocket(/\/api$/, (ws) => {
      if (cut) return void ws.close({ code: 1001, reason: 'cut by the test' });
      const server = ws.connectToServer();
      ws.onMessage((message) => server.send(message));
      server.onMessage((message) => ws.send(message));
      links.push(ws);
    });
    await onboard(alice, url, 'alice');
  });

  afterEach(() => {
    expect(scene.problems.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await bob?.close().catch(() => undefined);
    await scene.close();
  });

  it('a text sent from a search hit far back takes the chat to the newest messages, the text on screen', async () => {
    await addContact(alice, 'bob');
    await send(alice, 'bob', 'hello bob');
    await expect.poll(async () => (await bob!.sync({ timeoutMs: T })).done, { timeout: T }).toBe(true);
    const atBob = (await bob!.conversationsList({}))[0]!;
    await bob!.sendText({ conversationId: atBob.id, text: 'the needle, far back' });
    for (let i = 0; i < LATER; i++) await bob!.sendText({ conversationId: atBob.id, text: `later ${i}` });

    const log = alice.getByRole('log', { name: 'Messages with bob' });
    const newestText = log.getByText(`later ${LATER - 1}`, { exact: true });
    // All stored at alice's: the chat list's line shows the newest. (Not the log: it is virtualized,
    // and whether an open chat follows a burst of 200 live texts to its end is not this test's subject.)
    await alice.locator('.chat-item', { hasText: `later ${LATER - 1}` }).waitFor({ timeout: 3 * T });

    // Ctrl+K finds the early text; its hit opens the chat around it, without the newest texts.
    await alice.keyboard.press('Control+k');
    const search = alice.getByRole('dialog', { name: 'Search messages' });
    await search.getByLabel('Search for').fill('needle');
    const hit = search.getByRole('list', { name: 'Search results' }).getByRole('button');
    await expect.poll(() => hit.allTextContents(), { timeout: T }).toEqual([expect.stringMatching(/the needle, far back$/)]);
    await hit.click();
    const focused = log.locator('.bubble.focused', { hasText: 'the needle, far back' });
    await focused.waitFor({ timeout: T });
    await expect.poll(() => newestText.count(), { timeout: T }).toBe(0);
    await check(alice, 'chat-search-hit-far-back');

    // Sent from there: the chat shows the newest texts and, last and on screen, the one just sent.
    const composer = alice.getByLabel('Message to bob');
    const TEXT = 'sent while reading far back';
    await composer.fill(TEXT);
    await composer.press('Enter');
    const sent = log.getByText(TEXT, { exact: true });
    await sent.waitFor({ timeout: T });
    await newestText.waitFor({ timeout: T });
    await expect.poll(() => onScreen(alice, sent), { timeout: T }).toBe(true);
    expect(await log.getByText('the needle, far back').count()).toBe(0);
    expect(await composer.inputValue()).toBe('');
    await check(alice, 'chat-sent-from-far-back');
    // bob gets it once.
    await expect.poll(async () => {
      await bob!.sync({ timeoutMs: T });
      const page = await bob!.historyPage({ conversationId: atBob.id, anchor: { kind: 'newest' }, limit: 5 });
      return page.messages.filter((m) => m.text === TEXT).length;
    }, { timeout: T }).toBe(1);
  }, 600_000);

  it('follows a burst of live texts to the end, and leaves a reader who scrolled up where they are', async () => {
    const atBob = (await bob!.conversationsList({}))[0]!;
    const log = alice.getByRole('log', { name: 'Messages with bob' });
    const fromEnd = () => log.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
    const fromBob = async (text: string) => {
      const sent = await bob!.sendText({ conversationId: atBob.id, text });
      await alice.locator('.chat-item', { hasText: text }).waitFor({ timeout: T });
      return sent.id;
    };
    /** The state of bob's text as bob sees it (receipts synced). */
    const atBobsSide = async (id: string) => {
      await bob!.sync({ timeoutMs: T });
      const page = await bob!.historyPage({ conversationId: atBob.id, anchor: { kind: 'newest' }, limit: 20 });
      return page.messages.find((m) => m.id === id)?.state;
    };
    // The chat shows its end (the previous case ended there).
    await expect.poll(fromEnd, { timeout: T }).toBeLessThan(80);

    // The page runs six times slower: several texts render at once, before their rows are measured.
    const cdp = await alice.context().newCDPSession(alice);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 6 });
    try {
      // Long texts: each row is drawn at the estimate and then measured several lines taller.
      for (let i = 0; i < BURST; i++) await bob!.sendText({ conversationId: atBob.id, text: `burst ${i}\n${LONG_LINE}` });
      await alice.locator('.chat-item', { hasText: `burst ${BURST - 1}` }).waitFor({ timeout: 3 * T });
      const newest = log.getByText(`burst ${BURST - 1}`);
      await expect.poll(() => onScreen(alice, newest), { timeout: T }).toBe(true);
    } finally {
      await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
      await cdp.detach();
    }
    await check(alice, 'chat-followed-burst');

    // The window gets shorter while the chat shows its end (the reader resizes it): the end stays
    // in view (before, it went 300 px below the view), and the next text is followed.
    const size = alice.viewportSize()!;
    await alice.setViewportSize({ width: size.width, height: size.height - 300 });
    await expect.poll(() => log.evaluate((el) => el.clientHeight), { timeout: T }).toBeLessThan(size.height - 300);
    await expect.poll(fromEnd, { timeout: T }).toBeLessThan(80);
    await fromBob('arrived after a resize');
    await expect.poll(() => onScreen(alice, log.getByText('arrived after a resize', { exact: true })), { timeout: T }).toBe(true);
    await alice.setViewportSize(size);

    // The reader scrolls up: a new text does not move what they read.
    await log.hover();
    await alice.mouse.wheel(0, -1500);
    await expect.poll(fromEnd, { timeout: T }).toBeGreaterThan(500);
    const readingAt = await settledScrollTop(log);
    const whileUp = await fromBob('arrived while reading up');
    // Two frames: the arrival has rendered (and would have scrolled by now).
    await alice.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
    expect(Math.abs((await log.evaluate((el) => el.scrollTop)) - readingAt)).toBeLessThan(2);
    expect(await onScreen(alice, log.getByText('arrived while reading up', { exact: true }))).toBe(false);
    // A button says a text is below.
    const below = (name: string) => alice.getByRole('button', { name, exact: true });
    await below('1 new message').waitFor({ timeout: T });
    await check(alice, 'chat-new-below');
    // Not seen yet, so not marked read: bob sees it delivered, not read (before, it was read as it arrived).
    await expect.poll(() => atBobsSide(whileUp), { timeout: T }).toBe('delivered');
    await alice.waitForTimeout(1500);
    expect(await atBobsSide(whileUp)).toBe('delivered');

    // Back at the end by keyboard (End in the log): the chat follows again, the button is gone, and
    // the text is read.
    await log.focus();
    await alice.keyboard.press('End');
    await expect.poll(fromEnd, { timeout: T }).toBeLessThan(80);
    await below('1 new message').waitFor({ state: 'detached', timeout: T });
    await expect.poll(() => atBobsSide(whileUp), { timeout: T }).toBe('read');
    await fromBob('arrived back at the end');
    await expect.poll(() => onScreen(alice, log.getByText('arrived back at the end', { exact: true })), { timeout: T }).toBe(true);

    // Up again, two texts arrive: the button (Enter on it) takes the chat to them.
    await log.hover();
    await alice.mouse.wheel(0, -1500);
    await expect.poll(fromEnd, { timeout: T }).toBeGreaterThan(500);
    await fromBob('first of two below');
    await fromBob('second of two below');
    await below('2 new messages').focus({ timeout: T });
    await alice.keyboard.press('Enter');
    await expect.poll(() => onScreen(alice, log.getByText('second of two below', { exact: true })), { timeout: T }).toBe(true);
    await expect.poll(fromEnd, { timeout: T }).toBeLessThan(80);
    await below('2 new messages').waitFor({ state: 'detached', timeout: T });
  }, 600_000);

  it("an open chat shows what arrived while the page's link to the service was down", async () => {
    const atBob = (await bob!.conversationsList({}))[0]!;
    const log = alice.getByRole('log', { name: 'Messages with bob' });
    cut = true;
    for (const ws of links.splice(0)) await ws.close({ code: 1001, reason: 'cut by the test' });
    const lost = alice.getByRole('alert').filter({ hasText: 'Lost the connection to the Ephemera service' });
    await lost.waitFor({ timeout: T });
    // bob writes while alice's page hears nothing: alice's main stores it (bob sees it delivered).
    const text = 'written while the page was cut off';
    const sent = await bob!.sendText({ conversationId: atBob.id, text });
    await expect.poll(async () => {
      await bob!.sync({ timeoutMs: T });
      const page = await bob!.historyPage({ conversationId: atBob.id, anchor: { kind: 'newest' }, limit: 5 });
      return page.messages.find((m) => m.id === sent.id)?.state;
    }, { timeout: T }).toMatch(/^(delivered|read)$/);
    expect(await log.getByText(text, { exact: true }).count()).toBe(0);
    cut = false;
    // The link comes back by itself; the chat loads what its event could not bring (before, only
    // reopening the chat showed it), and, following its end, shows it.
    await lost.waitFor({ state: 'detached', timeout: T });
    const shown = log.getByText(text, { exact: true });
    await shown.waitFor({ timeout: T });
    await expect.poll(() => onScreen(alice, shown), { timeout: T }).toBe(true);
  }, 600_000);

  it('a chat whose shown texts all expire while it is open loads the older ones (the log has nothing to scroll by)', async () => {
    const atBob = (await bob!.conversationsList({}))[0]!;
    const log = alice.getByRole('log', { name: 'Messages with bob' });
    const lastBefore = log.getByText('written while the page was cut off', { exact: true });
    // The page's clock runs 20 s behind main's: main deletes the expired texts before the page
    // hides them, so the window empties with no scroll to page by.
    await alice.clock.install({ time: Date.now() - 20_000 });
    // bob turns on a 30 s timer and writes more than a page; alice, at the end, reads them (their timers start).
    await bob!.setDisappearingTimer({ conversationId: atBob.id, seconds: 30 });
    for (let i = 0; i < 105; i++) await bob!.sendText({ conversationId: atBob.id, text: `fleeting ${i}` });
    await alice.locator('.chat-item', { hasText: 'fleeting 104' }).waitFor({ timeout: T });
    await expect.poll(() => onScreen(alice, log.getByText('fleeting 104', { exact: true })), { timeout: T }).toBe(true);
    // Locked and opened again: the chat's window is the newest page, only texts under the timer.
    await alice.getByRole('button', { name: 'Lock' }).click();
    await alice.getByRole('heading', { name: 'Unlock Ephemera' }).waitFor({ timeout: T });
    await alice.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await alice.getByRole('button', { name: /^bob/ }).first().click({ timeout: T });
    await log.getByText('fleeting 104', { exact: true }).waitFor({ timeout: T });
    expect(await lastBefore.count()).toBe(0);
    // They expire: the log is left with nothing to scroll, and the texts before them load by themselves.
    await lastBefore.waitFor({ timeout: 2 * T });
    expect(await log.getByText(/^fleeting /).count()).toBe(0);
    await check(alice, 'chat-after-expiry');
    await bob!.setDisappearingTimer({ conversationId: atBob.id, seconds: 0 });
  }, 600_000);
});
