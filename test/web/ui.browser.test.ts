// The real UI in Debian's Chromium (headless, via playwright-core) against browser mode
// (`cli/ephemera-web.ts`, real messenger, real profiles on disk) and a real relay process that is
// killed and restarted during the chat. Screenshots of each screen go to test-results/ui/.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { exportBackup } from '../../main/backup/index.ts';
import type { NewMessage } from '../../main/vault/api.ts';
import {
  CHROMIUM,
  PASSWORD,
  ROOT,
  expectAccessible,
  expectAllNamed as expectNamed,
  startChildProcess,
  watchProblems as watchPageProblems,
} from './browser-harness.ts';

const SHOTS = path.join(ROOT, 'test-results', 'ui');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-ui-'));
const children: ChildProcess[] = [];

const startChild = <T>(args: string[], pick: (line: string) => T | undefined) => startChildProcess(children, args, pick);

async function startRelay(port: number): Promise<{ child: ChildProcess; url: string; descriptor: string }> {
  const { child, value } = await startChild(['cli/ephemera-relay.ts', '--data', path.join(tmp, 'relay'), '--port', String(port)], (line) => {
    try {
      const e = JSON.parse(line) as { event?: string; url?: string; descriptor?: string };
      return e.event === 'listening' && e.url && e.descriptor ? { url: e.url, descriptor: e.descriptor } : undefined;
    } catch {
      return undefined;
    }
  });
  return { child, ...value };
}

const webHosts = new Map<string, ChildProcess>();

async function startWeb(name: string, descriptor: string): Promise<string> {
  const { child, value } = await startChild(['cli/ephemera-web.ts', '--profile', path.join(tmp, name), '--server', descriptor], (line) =>
    line.startsWith('http://127.0.0.1:') ? line.trim() : undefined,
  );
  webHosts.set(name, child);
  return value;
}

let browser: Browser;
let urls: { alice: string; bob: string };
let relay: { child: ChildProcess; url: string; descriptor: string };
let alice: Page;
let bob: Page;
const consoleProblems: string[] = [];

/** The shared watch (test/web/browser-harness.ts): each test fails if its pages reported a problem. */
function watchProblems(page: Page): void {
  watchPageProblems(page, consoleProblems);
}

/** The element's box lies within the container's box (the layout keeps it inside the card). */
async function expectInside(page: Page, inner: ReturnType<Page['locator']>, outer: ReturnType<Page['locator']>, what: string): Promise<void> {
  const [a, b] = await Promise.all([inner.boundingBox(), outer.boundingBox()]);
  expect(a, what).not.toBeNull();
  expect(b, what).not.toBeNull();
  const box = { left: a!.x - b!.x, top: a!.y - b!.y, right: b!.x + b!.width - (a!.x + a!.width), bottom: b!.y + b!.height - (a!.y + a!.height) };
  expect(Math.min(box.left, box.top, box.right, box.bottom), `${what} outside its card: ${JSON.stringify({ inner: a, outer: b })}`).toBeGreaterThanOrEqual(0);
}

/**
 * Every screen in both themes: the stylesheet keys its palette on <html data-theme>, which the
 * app sets from the user's choice; the shot sets each value in turn and puts the app's back.
 */
async function shot(page: Page, name: string): Promise<void> {
  const chosen = await page.evaluate('document.documentElement.dataset.theme ?? "light"');
  for (const scheme of ['light', 'dark']) {
    await page.evaluate(`document.documentElement.dataset.theme = ${JSON.stringify(scheme)}`);
    await page.screenshot({ path: path.join(SHOTS, `${name}-${scheme}.png`) });
  }
  await page.evaluate(`document.documentElement.dataset.theme = ${JSON.stringify(chosen)}`);
}

async function onboard(page: Page, url: string, handle: string): Promise<void> {
  await page.goto(url);
  await expect.poll(() => page.url()).not.toContain('code=');
  await page.getByRole('heading', { name: 'Create your vault' }).waitFor();
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat password').fill(PASSWORD);
  await shot(page, `${handle}-01-create-vault`);
  await expectAllNamed(page, 'create vault');
  await page.getByRole('button', { name: 'Create vault' }).click();
  const phraseList = page.getByRole('list', { name: 'Recovery phrase' });
  await phraseList.waitFor({ timeout: 60_000 });
  const words = await phraseList.getByRole('listitem').allTextContents();
  expect(words).toHaveLength(24);
  await shot(page, `${handle}-02-recovery-phrase`);
  await expectAllNamed(page, 'recovery phrase');
  await page.getByRole('checkbox', { name: 'I have written down the 24 words' }).check();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Type the 24 words').fill(words.join(' '));
  await shot(page, `${handle}-03-confirm-phrase`);
  await page.getByRole('button', { name: 'Confirm phrase' }).click();
  await page.getByRole('heading', { name: 'Choose your handle' }).waitFor();
  await page.getByRole('textbox', { name: 'Handle' }).fill(handle);
  await shot(page, `${handle}-04-register`);
  await expectAllNamed(page, 'register');
  await page.getByRole('button', { name: 'Register' }).click();
  await page.getByRole('button', { name: 'New contact' }).waitFor({ timeout: 60_000 });
  await expect.poll(() => connectionLabel(page), { timeout: 60_000 }).toBe('Ready');
  await shot(page, `${handle}-05-chat-list`);
}

/** Every control named, and axe-core finds no serious or critical violation (shared harness). */
async function expectAllNamed(page: Page, where: string): Promise<void> {
  await expectNamed(page, where);
  await expectAccessible(page, where);
}

function connectionLabel(page: Page): Promise<string | null> {
  return page.locator('.connection-label').textContent({ timeout: 2000 }).catch(() => null);
}

// No silent skip: .ci/run installs Chromium, and the messenger is part of the tree.
describe('the UI in Chromium against browser mode and a real relay', () => {
  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    if (!CHROMIUM) throw new Error('Chromium is not installed (apt-get install chromium)');
    relay = await startRelay(0);
    const [aliceUrl, bobUrl] = await Promise.all([startWeb('alice', relay.descriptor), startWeb('bob', relay.descriptor)]);
    browser = await chromium.launch({
      executablePath: CHROMIUM!,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    alice = await (await browser.newContext()).newPage();
    bob = await (await browser.newContext()).newPage();
    for (const page of [alice, bob]) watchProblems(page);
    urls = { alice: aliceUrl!, bob: bobUrl! };
  });

  afterEach(() => {
    expect(consoleProblems.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all(
      children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => (c.once('exit', r), c.kill('SIGTERM')))),
    );
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('creates a vault (phrase shown, then confirmed) and registers, in two profiles', async () => {
    await onboard(alice, urls.alice, 'alice');
    await onboard(bob, urls.bob, 'bob');
  });

  it('adds a contact, shows the safety number on both sides, and chats both ways', async () => {
    await alice.getByRole('button', { name: 'New contact' }).click();
    await alice.getByLabel('Their handle').fill('bob');
    await shot(alice, 'alice-06-new-contact');
    await alice.getByRole('button', { name: 'Add contact' }).click();
    await alice.getByRole('heading', { name: 'bob', level: 2 }).waitFor();

    await alice.getByRole('button', { name: 'Safety number' }).click();
    const aliceNumber = await alice.locator('.safety-number').getAttribute('aria-label');
    expect(aliceNumber).toMatch(/^Safety number: (\d{5} ){11}\d{5}$/);
    await shot(alice, 'alice-07-safety-number');
    await expectAllNamed(alice, 'safety number');
    await alice.getByRole('button', { name: 'Mark as verified' }).click();
    await alice.getByRole('button', { name: 'Clear verified' }).waitFor();
    await alice.getByRole('button', { name: 'Close' }).click();

    const composer = alice.getByLabel('Message to bob');
    await composer.fill('hello bob, from alice');
    await composer.press('Enter');
    await alice.getByRole('log').getByText('hello bob, from alice').waitFor();

    // Bob sees a conversation with one unread message.
    const bobEntry = bob.getByRole('button', { name: /^alice, 1 unread/ });
    await bobEntry.waitFor({ timeout: 60_000 });
    await shot(bob, 'bob-06-unread');
    await bobEntry.click();
    await bob.getByRole('log').getByText('hello bob, from alice').waitFor();
    await bob.getByRole('button', { name: 'Safety number' }).click();
    expect(await bob.locator('.safety-number').getAttribute('aria-label')).toBe(aliceNumber);
    await bob.getByRole('button', { name: 'Close' }).click();

    await bob.getByLabel('Message to alice').fill('hi alice, bob here');
    await bob.getByRole('button', { name: 'Send' }).click();
    await alice.getByRole('log').getByText('hi alice, bob here').waitFor({ timeout: 60_000 });
    // Alice's message reaches "Read" once bob has opened the chat.
    await expect.poll(() => alice.locator('.bubble.out .delivery').last().textContent(), { timeout: 60_000 }).toContain('Read');
    // Alice has the chat open, so bob's reply is marked read: no unread badge remains.
    await expect.poll(() => alice.getByRole('button', { name: /^bob/ }).getAttribute('aria-label'), { timeout: 30_000 }).toBe('bob');
    await shot(alice, 'alice-08-chat');
    await shot(bob, 'bob-07-chat');
  });

  it('locks, refuses a wrong password, unlocks, and the history is still there', async () => {
    await alice.getByRole('button', { name: 'Lock' }).click();
    await alice.getByRole('heading', { name: 'Unlock Ephemera' }).waitFor();
    await alice.getByLabel('Password', { exact: true }).fill('not my password');
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await expect.poll(() => alice.getByRole('alert').textContent(), { timeout: 60_000 }).toContain('password is wrong');
    await shot(alice, 'alice-09-wrong-password');
    const card = alice.locator('main.onboarding');
    await expectInside(alice, alice.getByRole('button', { name: 'Unlock' }), card, 'the Unlock button');
    await expectInside(alice, alice.getByRole('button', { name: 'Forgot password?' }), card, 'the "Forgot password?" link');
    await expectInside(alice, alice.getByRole('alert'), card, 'the error');
    await expectAllNamed(alice, 'unlock');
    await alice.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await alice.getByRole('button', { name: /^bob/ }).click({ timeout: 60_000 });
    await shot(alice, 'alice-09b-unlocked');
    await alice.getByRole('log').getByText('hello bob, from alice').waitFor();
    await alice.getByRole('log').getByText('hi alice, bob here').waitFor();
    await expect.poll(() => connectionLabel(alice), { timeout: 60_000 }).toBe('Ready');
  });

  it('survives a relay killed and restarted mid-chat: re-binds, and a message typed during the outage arrives', async () => {
    const port = Number(new URL(relay.url).port);
    // Record every label the indicator shows (phases can last only milliseconds on loopback).
    // (A string: this file is typed for Node, without DOM names.)
    await alice.evaluate(`
      window.phaseLog = [];
      new MutationObserver(() => {
        const label = document.querySelector('.connection-label')?.textContent ?? '';
        if (label && window.phaseLog[window.phaseLog.length - 1] !== label) window.phaseLog.push(label);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    `);
    relay.child.kill('SIGKILL');
    await new Promise((r) => relay.child.once('exit', r));
    await expect.poll(() => connectionLabel(alice), { timeout: 60_000 }).not.toBe('Ready');
    await shot(alice, 'alice-10-relay-down');
    await alice.getByLabel('Message to bob').fill('typed while the relay was down');
    await alice.getByLabel('Message to bob').press('Enter');
    await alice.getByRole('log').getByText('typed while the relay was down').waitFor();

    relay = await startRelay(port);
    await expect.poll(() => connectionLabel(alice), { timeout: 90_000 }).toBe('Ready');
    await shot(alice, 'alice-11-ready-again');
    await bob.getByRole('log').getByText('typed while the relay was down').waitFor({ timeout: 90_000 });
    await shot(bob, 'bob-08-after-restart');
    const phases = (await alice.evaluate('window.phaseLog')) as string[];
    // The relay forgot the temp key with its restart: the client's probe gets 404, it re-binds.
    expect(phases).toContain('Re-binding');
    expect(phases.indexOf('Re-binding')).toBeLessThan(phases.lastIndexOf('Ready'));
    expect(phases[phases.length - 1]).toBe('Ready');
  });

  it('search (Ctrl+K) finds a message and opens it in context', async () => {
    await alice.keyboard.press('Control+K');
    const box = alice.getByLabel('Search for');
    await box.fill('typed');
    const hit = alice.getByRole('list', { name: 'Search results' }).getByRole('button').first();
    await hit.waitFor({ timeout: 30_000 });
    await shot(alice, 'alice-12-search');
    await expectAllNamed(alice, 'search');
    await hit.click();
    await alice.locator('.bubble.focused').getByText('typed while the relay was down').waitFor();
  });

  it('is usable from the keyboard: every main control is reachable by Tab, Ctrl+Shift+L locks, Enter unlocks', async () => {
    await alice.keyboard.press('Escape');
    await expectAllNamed(alice, 'messenger');
    const reached = new Set<string>();
    await alice.locator('body').focus();
    for (let i = 0; i < 40; i++) {
      await alice.keyboard.press('Tab');
      const name = await alice.evaluate('(() => { const e = document.activeElement; return e ? (e.getAttribute("aria-label") || e.textContent || e.id || e.tagName).trim() : ""; })()');
      reached.add(String(name));
    }
    for (const name of ['New contact', 'Search', 'Settings', 'Lock', 'bob', 'Safety number', 'composer']) {
      expect([...reached].some((r) => r === name || r.startsWith(name)), `${name} in ${[...reached].join(' | ')}`).toBe(true);
    }
    await alice.keyboard.press('Control+Shift+L');
    await alice.getByRole('heading', { name: 'Unlock Ephemera' }).waitFor();
    await alice.keyboard.type(PASSWORD);
    await alice.keyboard.press('Enter');
    await alice.getByRole('button', { name: 'New contact' }).waitFor({ timeout: 60_000 });
  });

  it('switches between light and dark themes from settings', async () => {
    await alice.getByRole('button', { name: 'Settings' }).click();
    await expectAllNamed(alice, 'settings');
    await shot(alice, 'alice-13-settings');
    const background = () => alice.evaluate('getComputedStyle(document.body).backgroundColor');
    await alice.getByLabel('Theme').selectOption('dark');
    await expect.poll(() => alice.evaluate('document.documentElement.dataset.theme')).toBe('dark');
    await expect.poll(background).toBe('rgb(17, 20, 24)');
    await shot(alice, 'alice-14-settings-dark-chosen');
    await alice.getByLabel('Theme').selectOption('light');
    await expect.poll(background).toBe('rgb(246, 247, 249)');
    await alice.getByRole('button', { name: 'Close' }).click();
  });

  // 100k messages made and indexed first: 23-114 s in CI runs 30-43, against the 120 s default.
  it('browses 100k messages: the DOM stays bounded, history pages in while scrolling, search jumps deep', { timeout: 300_000 }, async () => {
    // Seed alice's vault directly (the relay would take minutes for 100k), with her host stopped.
    await alice.close(); // its socket would keep knocking on the stopped host
    const host = webHosts.get('alice')!;
    await new Promise((r) => (host.once('exit', r), host.kill('SIGTERM')));
    const vault = await Vault.unlock(path.join(tmp, 'alice'), PASSWORD);
    const conversation = vault.listConversations()[0]!;
    const total = 100_000;
    const start = Date.now() - 400 * 86_400_000;
    for (let from = 0; from < total; from += 10_000) {
      const batch: NewMessage[] = [];
      for (let i = from; i < from + 10_000; i++) {
        batch.push({
          id: `seed${i.toString(16).padStart(28, '0')}`,
          conversationId: conversation.id,
          direction: i % 3 === 0 ? 'out' : 'in',
          sender: i % 3 === 0 ? 'self' : conversation.contactId,
          sentAt: start + i * 300_000,
          text: `seed message ${i.toString().padStart(6, '0')}`,
          state: i % 3 === 0 ? 'read' : 'received',
        });
      }
      vault.appendMessages(batch);
    }
    vault.lock();

    const page = await (await browser.newContext()).newPage();
    watchProblems(page);
    await page.goto(await startWeb('alice', relay.descriptor));
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByRole('button', { name: /^bob/ }).click({ timeout: 60_000 });
    const log = page.getByRole('log');
    await log.getByText('seed message 099999').waitFor();
    const rows = () => page.locator('.messages .row').count();
    expect(await rows()).toBeLessThan(120);

    // Scroll up through several pages: older messages arrive, the DOM stays small.
    const firstShown = async () => Number((await page.locator('.bubble .text').first().textContent())?.match(/\d{6}/)?.[0] ?? NaN);
    const before = await firstShown();
    await log.hover();
    // Each poll scrolls up once more and reads the first row: older pages load as the top is
    // reached, however long each takes (no fixed pauses between wheels).
    await expect
      .poll(
        async () => {
          await page.mouse.wheel(0, -20_000);
          return firstShown();
        },
        { timeout: 60_000, interval: 150 },
      )
      .toBeLessThan(before - 500);
    expect(await rows()).toBeLessThan(120);
    await shot(page, 'alice-15-100k-history');

    // Search finds a message 95k messages back and opens it in context.
    await page.keyboard.press('Control+K');
    await page.getByLabel('Search for').fill('000123');
    await page.getByRole('list', { name: 'Search results' }).getByRole('button').first().click({ timeout: 60_000 });
    await page.locator('.bubble.focused').getByText('seed message 000123').waitFor();
    expect(await rows()).toBeLessThan(120);
    await shot(page, 'alice-16-100k-search-jump');
    alice = page;
  });

  it('exports a backup, refuses a wrong passphrase, then opens it read-only and browses it', async () => {
    // Browser mode keeps backups in the profile's backups folder; the page gives a file name.
    const file = path.join(tmp, 'alice', 'backups', 'alice-backup.age');
    await alice.getByRole('button', { name: 'Settings' }).click();
    await alice.getByLabel('Action').selectOption('export');
    await alice.getByLabel('Backup file name').fill('alice-backup.age');
    await alice.getByLabel('Backup passphrase').fill('backup passphrase for the test');
    await alice.getByRole('button', { name: 'Export', exact: true }).click();
    await expect.poll(() => alice.getByRole('status').filter({ hasText: 'Exported' }).count(), { timeout: 120_000 }).toBe(1);
    expect(await alice.getByRole('status').filter({ hasText: 'Exported' }).textContent()).toMatch(/Exported 100\d{3} messages/);
    expect(fs.statSync(file).size).toBeGreaterThan(100_000);
    await shot(alice, 'alice-17-backup-exported');

    await alice.getByLabel('Action').selectOption('open');
    await alice.getByLabel('Backup passphrase').fill('wrong passphrase');
    await alice.getByRole('button', { name: 'Open', exact: true }).click();
    await alice.getByRole('dialog').getByRole('alert').waitFor({ timeout: 120_000 });
    await alice.getByLabel('Backup passphrase').fill('backup passphrase for the test');
    await alice.getByRole('button', { name: 'Open', exact: true }).click();
    await alice.getByText(/Viewing a backup from .* \(read-only, 100\d{3} messages\)/).waitFor({ timeout: 120_000 });
    await alice.getByRole('button', { name: /^bob/ }).click();
    await alice.getByRole('log').getByText('seed message 099999').waitFor();
    expect(await alice.getByLabel('Message to bob').count()).toBe(0);
    await shot(alice, 'alice-18-backup-open');
    await alice.getByRole('button', { name: 'Close backup' }).click();
    await alice.getByText(/Viewing a backup/).waitFor({ state: 'detached' });
  });

  it('warns before importing a backup not signed by this profile; only "Import anyway" imports it, without verified marks', async () => {
    // Made by someone else (a profile with no identity: unsigned), with a contact marked verified.
    const forgedKey = new Uint8Array(33).fill(5);
    const { vault } = await Vault.create(path.join(tmp, 'forger'), PASSWORD, { kdf: TEST_KDF });
    vault.upsertContact({ id: 'c-mallory', handle: 'mallory', displayName: 'Mallory', identityKey: forgedKey, verifiedKey: forgedKey, identityChanged: false, createdAt: 1 });
    vault.upsertConversation({ id: 'v-mallory', kind: 'direct', contactId: 'c-mallory', title: 'Mallory', lastActivity: 1, unread: 0 });
    vault.appendMessages([{ id: 'forged-1', conversationId: 'v-mallory', direction: 'in', sender: 'c-mallory', sentAt: 1, text: 'an invented message', state: 'read' }]);
    fs.mkdirSync(path.join(tmp, 'bob', 'backups'), { recursive: true, mode: 0o700 });
    await exportBackup(vault, path.join(tmp, 'bob', 'backups', 'forged.age'), { keys: { passphrase: 'forged backup passphrase', workFactor: 10 } });
    vault.lock();

    await bob.getByRole('button', { name: 'Settings' }).click();
    await bob.getByLabel('Action').selectOption('import');
    await bob.getByLabel('Backup file name').fill('forged.age');
    const importIt = async (): Promise<void> => {
      await bob.getByLabel('Backup passphrase').fill('forged backup passphrase');
      await bob.getByRole('button', { name: 'Import', exact: true }).click();
    };
    await importIt();
    const warning = bob.getByRole('dialog', { name: 'This backup is not signed by you' });
    await warning.getByRole('alert').filter({ hasText: 'not signed' }).waitFor({ timeout: 60_000 });
    await shot(bob, 'bob-08b-untrusted-backup-warning');
    await warning.getByRole('button', { name: "Don't import" }).click();
    await warning.waitFor({ state: 'detached' });
    expect(await bob.getByRole('status').filter({ hasText: 'Imported' }).count()).toBe(0);

    await importIt();
    await warning.getByRole('button', { name: 'Import anyway' }).click();
    await bob.getByRole('status').filter({ hasText: 'Imported 1 new messages' }).waitFor({ timeout: 60_000 });
    expect(await bob.getByRole('status').filter({ hasText: 'Imported' }).textContent()).toContain('nothing in it is marked verified');
    await bob.getByRole('button', { name: 'Close', exact: true }).click();
    const mallory = bob.getByRole('button', { name: /^Mallory/ });
    await mallory.waitFor();
    expect(await mallory.locator('.badge.verified').count()).toBe(0);
    await mallory.click();
    await bob.getByRole('note').filter({ hasText: 'came from a backup that was not signed by you' }).waitFor();
    await bob.getByRole('log').getByText('an invented message').waitFor();
  });

  it('refuses the spent launch address in another browser context (its own storage)', async () => {
    // Another browser context cannot reuse bob's launch address: the host refuses the spent code on the socket.
    const stranger = await (await browser.newContext()).newPage();
    await stranger.goto(urls.bob);
    await stranger.getByRole('alert').filter({ hasText: 'already used' }).first().waitFor({ timeout: 60_000 });
    expect(await stranger.getByRole('heading', { name: 'Unlock Ephemera' }).count()).toBe(0);
    expect(await stranger.context().cookies()).toEqual([]);
    await stranger.context().close();
  });

  it('locks after the chosen idle time (page clock fast-forwarded, no real waiting)', async () => {
    // Bob's page, loaded again with a fake clock: the launch code is spent; the session secret
    // kept in the tab's sessionStorage (per tab: a new page would have none) lets it back in.
    const page = bob; // already watched for problems
    // The page's clock stands still from the start: only fastForward moves it, so however slow
    // the machine, the idle timer fires exactly when the test says and never on its own.
    const t0 = Date.now();
    await page.clock.install({ time: t0 });
    await page.clock.pauseAt(t0 + 1000);
    await page.goto(new URL(urls.bob).origin + '/');
    await page.getByRole('button', { name: 'Settings' }).click();
    const idle = page.getByLabel('Lock after being idle for');
    await idle.selectOption('1');
    // The select follows the app's settings, so '1' shows once the app has the new setting and
    // has armed its idle timer with it: fast-forwarding before that would test nothing.
    await expect.poll(() => idle.inputValue()).toBe('1');
    await page.getByRole('button', { name: 'Close' }).click(); // activity: the minute starts now
    await page.clock.fastForward('00:50');
    await page.mouse.move(10, 10); // activity again: another full minute
    await page.clock.fastForward('00:50');
    expect(await page.getByRole('heading', { name: 'Unlock Ephemera' }).count()).toBe(0);
    await page.clock.fastForward('00:11');
    await page.getByRole('heading', { name: 'Unlock Ephemera' }).waitFor();
    await shot(page, 'bob-09-idle-locked');
  });

  it('the checks above are real: a request for a missing file is reported as a problem', async () => {
    const page = await (await browser.newContext()).newPage();
    watchProblems(page);
    const origin = new URL(alice.url()).origin;
    await page.goto('about:blank');
    await page.goto(`${origin}/no-such-file.png`).catch(() => undefined);
    await expect.poll(() => consoleProblems.some((m) => m.startsWith('HTTP 4') && m.includes('/no-such-file.png'))).toBe(true);
    // Closed first: the console's own report of the 404 may come after the response event.
    await page.context().close();
    consoleProblems.splice(0);
  });
});
