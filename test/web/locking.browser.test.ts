// A lock under way in the real UI (Chromium, browser mode, real relay; review s17 R6): from the
// moment a lock is asked for, main refuses every call but the vault's own, drafts included, and
// says so at once ('locking' event). alice (the page) pressed Enter on a text just before: its
// setDraft('') and sendText reach main after the lock (held in the page's socket, then let go),
// both are refused, the page shows "Locking…" with the text back in a read-only composer and
// sends nothing more; after unlock the sealed draft (saved when typing stopped) holds the text and
// bob never got it. A save main gets only after the lock began is refused, but its text is kept:
// the page answers the 'locking' event with its composers' text (lockDrafts), which main seals
// before it drops the key; a lock the page asks for seals the text typed since the last save
// first (the page's clock stopped).
// The lock's end ('vault' and the closing 'locking' event) is held in the page while it is
// checked, so the state stays on screen: screenshots light and dark; axe clean; no console error.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Messenger } from '../../main/messenger.ts';
import { browserScene, expectAccessible, expectAllNamed, onboard, openRegisteredMessenger, PASSWORD, send, shotBothThemes } from './browser-harness.ts';

const scene = browserScene('locking', 'locking');
const T = 60_000;
let alice: Page;
let bob: Messenger | undefined;

/**
 * Runs in the page before its scripts: records every call frame sent, holds the calls named in
 * `holdCalls` and the events `holdEvents` picks until let go (releaseCalls, releaseEvents; in their order), so the test
 * decides when main gets a call and when the page hears the lock's end.
 */
const SOCKET_VALVE = `(() => {
  const valve = { sent: [], heldCalls: [], heldEvents: [], holdCalls: [], holdEvents: null };
  globalThis.__valve = valve;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data === 'string') {
      valve.sent.push(data);
      const m = /"method":"([A-Za-z]+)"/.exec(data);
      if (m && valve.holdCalls.includes(m[1])) return void valve.heldCalls.push(() => send.call(this, data));
    }
    return send.call(this, data);
  };
  const add = WebSocket.prototype.addEventListener;
  WebSocket.prototype.addEventListener = function (type, listener, options) {
    if (type !== 'message') return add.call(this, type, listener, options);
    return add.call(this, type, (event) => {
      if (valve.holdEvents && typeof event.data === 'string' && valve.holdEvents(JSON.parse(event.data))) valve.heldEvents.push(() => listener.call(this, event));
      else listener.call(this, event);
    }, options);
  };
  valve.releaseCalls = () => {
    valve.holdCalls = [];
    for (const go of valve.heldCalls.splice(0)) go();
  };
  valve.releaseEvents = () => {
    valve.holdEvents = null;
    for (const go of valve.heldEvents.splice(0)) go();
  };
})()`;

type Valve = { sent: string[]; holdCalls: string[]; holdEvents: ((frame: { t?: string; name?: string; payload?: { underWay?: boolean } }) => boolean) | null; releaseCalls(): void; releaseEvents(): void };
const valve = (page: Page) => ({
  /** Call frames sent so far whose text contains every one of `parts`. */
  sentWith: (...parts: string[]) => page.evaluate((p) => (globalThis as unknown as { __valve: Valve }).__valve.sent.filter((s) => p.every((x) => s.includes(x))).length, parts),
  holdCalls: (methods: string[]) => page.evaluate((m) => void ((globalThis as unknown as { __valve: Valve }).__valve.holdCalls = m), methods),
  /** Holds the lock's end: the 'vault' event and the closing 'locking' event. */
  holdLockEnd: () =>
    page.evaluate(() => {
      (globalThis as unknown as { __valve: Valve }).__valve.holdEvents = (f) => f.t === 'event' && (f.name === 'vault' || (f.name === 'locking' && f.payload?.underWay === false));
    }),
  releaseCalls: () => page.evaluate(() => (globalThis as unknown as { __valve: Valve }).__valve.releaseCalls()),
  releaseEvents: () => page.evaluate(() => (globalThis as unknown as { __valve: Valve }).__valve.releaseEvents()),
});

describe('A lock under way in Chromium', () => {
  beforeAll(async () => {
    const relay = await scene.startRelay();
    const url = await scene.startWeb('alice', relay.descriptor);
    await scene.launch();
    alice = (await scene.newPage()).page;
    await alice.addInitScript(SOCKET_VALVE);
    // A page clock at real speed until the last test stops it (the draft's typing pause).
    await alice.clock.install();
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

  async function unlockAndOpenBob(): Promise<void> {
    await alice.getByRole('heading', { name: 'Unlock Ephemera' }).waitFor({ timeout: T });
    await alice.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await alice.getByRole('button', { name: /^bob/ }).first().click();
    await alice.getByRole('heading', { name: 'bob', level: 2 }).waitFor({ timeout: T });
  }

  it('a send pressed as the lock began is refused; the page shows Locking…, keeps the text, sends nothing; the draft holds it after unlock', async () => {
    const v = valve(alice);
    await alice.keyboard.press('Control+n');
    await alice.getByLabel('Their handle').fill('bob');
    await alice.getByRole('button', { name: 'Add contact' }).click();
    await alice.getByRole('heading', { name: 'bob', level: 2 }).waitFor({ timeout: T });
    await send(alice, 'bob', 'hello bob');

    const composer = alice.getByLabel('Message to bob');
    const TEXT = 'kept across the lock';
    await composer.fill(TEXT);
    // Sealed when typing stopped; main handles calls in the order they come.
    await expect.poll(() => v.sentWith('"method":"setDraft"', TEXT), { timeout: T }).toBe(1);

    // Enter, then the lock: the send's two calls reach main only after the lock did.
    await v.holdCalls(['setDraft', 'sendText']);
    await v.holdLockEnd();
    await composer.press('Enter');
    await expect.poll(() => composer.inputValue()).toBe('');
    await alice.keyboard.press('Control+Shift+L');
    await expect.poll(() => v.sentWith('"method":"lock"'), { timeout: T }).toBe(1);
    await alice.getByRole('status').filter({ hasText: 'Locking…' }).waitFor({ timeout: T });
    const sendsBefore = await v.sentWith('"method":"sendText"');
    await v.releaseCalls();

    // Refused: the text is back in the composer, read-only; Send says Locking… and is disabled.
    await expect.poll(() => composer.inputValue(), { timeout: T }).toBe(TEXT);
    expect(await composer.getAttribute('readonly')).not.toBeNull();
    const sendButton = alice.locator('.composer button[type="submit"]');
    expect(await sendButton.textContent()).toBe('Locking…');
    expect(await sendButton.isDisabled()).toBe(true);
    expect(await alice.locator('.messenger').getAttribute('inert')).not.toBeNull();
    // Enter sends nothing more (the composer cannot even take focus while inert).
    await alice.keyboard.press('Enter');
    expect(await v.sentWith('"method":"sendText"')).toBe(sendsBefore);
    await shotBothThemes(alice, scene.shotsDir, 'locking');
    await expectAllNamed(alice, 'locking');
    await expectAccessible(alice, 'locking');

    await v.releaseEvents();
    await unlockAndOpenBob();
    await expect.poll(() => composer.inputValue(), { timeout: T }).toBe(TEXT);
    expect(await alice.getByRole('log').getByText(TEXT).count()).toBe(0);
    await alice.getByRole('log').getByText('hello bob').waitFor();
    expect(await bob!.sync({ timeoutMs: T })).toEqual({ done: true });
    const atBob = (await bob!.conversationsList({}))[0]!;
    const bobsTexts = (await bob!.historyPage({ conversationId: atBob.id, anchor: { kind: 'newest' }, limit: 50 })).messages.map((m) => m.text);
    expect(bobsTexts).toEqual(['hello bob']);
  }, 600_000);

  it('keystrokes whose save reaches main after the lock began are kept: the page hands them over at the lock', async () => {
    const v = valve(alice);
    const composer = alice.getByLabel('Message to bob');
    // The draft as sealed now: the text of the test before.
    await v.holdCalls(['setDraft']);
    await composer.fill('kept across the lock, and more');
    // The save after the typing pause is on its way (held) when the lock starts.
    await expect.poll(() => v.sentWith('"method":"setDraft"', 'and more'), { timeout: T }).toBe(1);
    await v.holdLockEnd();
    await alice.getByRole('button', { name: 'Lock' }).click();
    await expect.poll(() => v.sentWith('"method":"lock"'), { timeout: T }).toBe(2);
    await alice.getByRole('status').filter({ hasText: 'Locking…' }).waitFor({ timeout: T });
    await v.releaseCalls();
    await v.releaseEvents();
    // The held save itself was refused (the lock had begun); the page's answer to 'locking' carried its text.
    expect(await v.sentWith('"method":"lockDrafts"', 'kept across the lock, and more')).toBe(1);
    await unlockAndOpenBob();
    await expect.poll(() => composer.inputValue(), { timeout: T }).toBe('kept across the lock, and more');
  }, 600_000);

  it('a lock the page asks for seals what was typed since the last save first', async () => {
    const composer = alice.getByLabel('Message to bob');
    // The page's clock stands still: the save after the typing pause never comes by itself.
    await alice.clock.pauseAt((await alice.evaluate(() => Date.now())) + 1_000);
    await composer.fill('sealed by the page before its lock');
    await alice.keyboard.press('Control+Shift+L');
    await alice.getByRole('heading', { name: 'Unlock Ephemera' }).waitFor({ timeout: T });
    await alice.clock.resume();
    await unlockAndOpenBob();
    await expect.poll(() => composer.inputValue(), { timeout: T }).toBe('sealed by the page before its lock');
  }, 600_000);
});
