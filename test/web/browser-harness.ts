// Shared setup of the browser tests: browser mode (`cli/ephemera-web.ts`, real messenger, real
// profiles on disk) against a real relay process, driven in Debian's Chromium through
// playwright-core. Pages fail their test on any console error, failed request or HTTP error;
// every screen can be checked with axe-core (no serious or critical violations).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { expect } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Messenger } from '../../main/messenger.ts';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => fs.existsSync(p));
export const PASSWORD = 'correct horse battery staple';

export interface BrowserScene {
  tmp: string;
  shotsDir: string;
  /** Console errors, page errors, failed requests and HTTP errors of every watched page. */
  problems: string[];
  startRelay(port?: number): Promise<{ child: ChildProcess; url: string; descriptor: string }>;
  /** Starts a web host for a profile and returns its one-time launch URL. */
  startWeb(name: string, descriptor: string): Promise<string>;
  launch(): Promise<Browser>;
  newPage(options?: Parameters<Browser['newContext']>[0]): Promise<{ page: Page; context: BrowserContext }>;
  close(): Promise<void>;
}

/** Starts a tsx child (recorded in `children`) and resolves with its first stdout line that satisfies `pick`. */
export function startChildProcess<T>(
children: ChildProcess[],
args: string[],
pick: (line: string) => T | undefined,
): Promise<{ child: ChildProcess; value: T }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const lines = readline.createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout starting ${args.join(' ')}: ${stderr}`)), 90_000);
    child.once('exit', (code) => reject(new Error(`${args[0]} exited ${code}: ${stderr}`)));
    lines.on('line', (line) => {
      const value = pick(line);
      if (value !== undefined) {
        clearTimeout(timer);
        resolve({ child, value });
      }
    });
  });
}

export function browserScene(prefix: string, shots: string): BrowserScene {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `ephemera-${prefix}-`));
  const shotsDir = path.join(ROOT, 'test-results', shots);
  fs.mkdirSync(shotsDir, { recursive: true });
  const children: ChildProcess[] = [];
  const problems: string[] = [];
  let browser: Browser | undefined;

  const startChild = <T>(args: string[], pick: (line: string) => T | undefined) => startChildProcess(children, args, pick);

  return {
    tmp,
    shotsDir,
    problems,
    async startRelay(port = 0) {
      const { child, value } = await startChild(['cli/ephemera-relay.ts', '--data', path.join(tmp, 'relay'), '--port', String(port)], (line) => {
        try {
          const e = JSON.parse(line) as { event?: string; url?: string; descriptor?: string };
          return e.event === 'listening' && e.url && e.descriptor ? { url: e.url, descriptor: e.descriptor } : undefined;
        } catch {
          return undefined;
        }
      });
      return { child, ...value };
    },
    async startWeb(name, descriptor) {
      const { value } = await startChild(['cli/ephemera-web.ts', '--profile', path.join(tmp, name), '--server', descriptor], (line) =>
        line.startsWith('http://127.0.0.1:') ? line.trim() : undefined,
      );
      return value;
    },
    async launch() {
      // No silent skip: .ci/run installs Chromium.
      if (!CHROMIUM) throw new Error('Chromium is not installed (apt-get install chromium)');
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      });
      return browser;
    },
    async newPage(options) {
      if (!browser) throw new Error('launch() first');
      const context = await browser.newContext(options);
      const page = await context.newPage();
      watchProblems(page, problems);
      return { page, context };
    },
    async close() {
      await browser?.close();
      await Promise.all(
        children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => (c.once('exit', r), c.kill('SIGTERM')))),
      );
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/**
 * Collects everything that would show in the page's console as a problem: console errors (CSP
 * violations included), uncaught errors, failed requests and HTTP errors (e.g. a missing icon).
 */
export function watchProblems(page: Page, into: string[]): void {
  page.on('console', (m) => {
    if (m.type() === 'error') into.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => into.push(`page error: ${e.message}`));
  // Every failed request counts, an aborted load of a blob: image preview included (the page
  // must not drop a load it started; the resource type says which element asked).
  page.on('requestfailed', (r) => into.push(`request failed: ${r.method()} ${r.url()} (${r.failure()?.errorText ?? '?'}, ${r.resourceType()})`));
  page.on('response', (r) => {
    if (r.status() >= 400) into.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
}

/** Fails if any control in the accessibility tree has no name. */
export async function expectAllNamed(page: Page, where: string): Promise<void> {
  const tree = await page.locator('body').ariaSnapshot();
  const unnamed = tree.split('\n').filter((line) => /^\s*- (button|textbox|combobox|checkbox|link|searchbox|listbox|slider|meter|dialog)\s*(\[[^\]]*\])?\s*:?\s*$/.test(line));
  expect(unnamed, `${where}:\n${tree}`).toEqual([]);
}

const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core in the page and fails on any serious or critical violation. Injected by evaluate
 * (the DevTools protocol, which the page's CSP does not govern): a script tag would be refused by
 * the CSP, rightly, and relaxing it for the test would test another page.
 */
export async function expectAccessible(page: Page, where: string): Promise<void> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(`${AXE_SOURCE}\n;undefined`);
  const violations = await page.evaluate(async () => {
    type Axe = { run(ctx: unknown, opts: object): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> };
    const g = globalThis as unknown as { axe: Axe; document: unknown };
    const result = await g.axe.run(g.document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
  });
  expect(violations, `axe on ${where}`).toEqual([]);
}

/** A screenshot of the page in light and in dark theme (forced through the page's colour scheme). */
export async function shotBothThemes(page: Page, dir: string, name: string): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.locator(`html[data-theme="${scheme}"]`).waitFor({ state: 'attached' });
    await page.screenshot({ path: path.join(dir, `${name}-${scheme}.png`) });
  }
}

/**
 * Where a scrollable element (a chat's log) rests once a smooth scroll has ended: its scrollTop,
 * once two reads 100 ms apart agree.
 */
export async function settledScrollTop(scroller: ReturnType<Page['locator']>, timeout = 60_000): Promise<number> {
  let last = NaN;
  await expect
    .poll(
      async () => {
        const now = await scroller.evaluate((el) => el.scrollTop);
        const same = now === last;
        last = now;
        return same;
      },
      { timeout, interval: 100 },
    )
    .toBe(true);
  return last;
}

export function connectionLabel(page: Page): Promise<string | null> {
  return page.locator('.connection-label').textContent({ timeout: 2000 }).catch(() => null);
}

/**
 * A messenger in this process (a real messenger on a real vault in `scene.tmp/<handle>`, Argon2id
 * at TEST_KDF, password PASSWORD) registered as `handle` at the relay whose descriptor file is
 * `descriptor`. The caller closes it; if creating or registering fails, it is closed here. The
 * messenger and vault are imported on first use: most browser tests never run one in process.
 */
export async function openRegisteredMessenger(scene: BrowserScene, handle: string, descriptor: string): Promise<Messenger> {
  const [{ openMessenger }, { TEST_KDF }] = await Promise.all([import('../../main/messenger.ts'), import('../../main/vault/index.ts')]);
  const messenger = await openMessenger({ profileDir: path.join(scene.tmp, handle), kdf: TEST_KDF });
  try {
    await messenger.createVault({ password: PASSWORD });
    await messenger.register({ handle, serverDescriptor: fs.readFileSync(descriptor, 'utf8') });
    return messenger;
  } catch (e) {
    await messenger.close().catch(() => undefined);
    throw e;
  }
}

/**
 * Creates a vault (phrase shown and confirmed) and registers `handle`, ending on the chat list.
 * `check` (screenshots, axe) runs on each onboarding screen.
 */
export async function onboard(page: Page, url: string, handle: string, check?: (name: string) => Promise<void>): Promise<void> {
  // (No expect.poll here: onboarding may run in beforeAll.)
  await page.goto(url);
  await page.waitForURL((u) => !u.href.includes('code='));
  await page.getByRole('heading', { name: 'Create your vault' }).waitFor();
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat password').fill(PASSWORD);
  await check?.('create-vault');
  await page.getByRole('button', { name: 'Create vault' }).click();
  const phraseList = page.getByRole('list', { name: 'Recovery phrase' });
  await phraseList.waitFor({ timeout: 60_000 });
  const words = await phraseList.getByRole('listitem').allTextContents();
  await check?.('recovery-phrase');
  await page.getByRole('checkbox', { name: 'I have written down the 24 words' }).check();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Type the 24 words').fill(words.join(' '));
  await check?.('confirm-phrase');
  await page.getByRole('button', { name: 'Confirm phrase' }).click();
  await page.getByRole('heading', { name: 'Choose your handle' }).waitFor();
  await page.getByRole('textbox', { name: 'Handle' }).fill(handle);
  await check?.('register');
  await page.getByRole('button', { name: 'Register' }).click();
  await page.getByRole('button', { name: 'New contact' }).waitFor({ timeout: 60_000 });
  await page.locator('.connection-label', { hasText: /^Ready$/ }).waitFor({ timeout: 60_000 });
}

/**
 * A relay and, for each handle, a profile of that name in browser mode with a page, all onboarded
 * at once; the pages by handle. `prepare` runs on each page, in order, before any onboarding (e.g.
 * installing a page clock, or watching a page's socket from its first frame).
 */
export async function onboardedPages<H extends string>(
scene: BrowserScene,
handles: readonly H[],
prepare?: (page: Page, handle: H) => Promise<void> | void,
): Promise<Record<H, Page>> {
  const relay = await scene.startRelay();
  const urls = await Promise.all(handles.map((h) => scene.startWeb(h, relay.descriptor)));
  await scene.launch();
  const pages: Page[] = [];
  for (let i = 0; i < handles.length; i++) pages.push((await scene.newPage()).page);
  for (const [i, h] of handles.entries()) await prepare?.(pages[i]!, h);
  await Promise.all(handles.map((h, i) => onboard(pages[i]!, urls[i]!, h)));
  return Object.fromEntries(handles.map((h, i) => [h, pages[i]!])) as Record<H, Page>;
}

/** The usual two-person scene: alice and bob (onboardedPages). */
export function twoOnboarded(scene: BrowserScene, prepare?: (page: Page) => Promise<void>): Promise<{ alice: Page; bob: Page }> {
  return onboardedPages(scene, ['alice', 'bob'], prepare);
}

/** Adds `handle` as a contact by keyboard (Ctrl+N), ending in the chat with them. */
export async function addContact(page: Page, handle: string): Promise<void> {
  await page.keyboard.press('Control+n');
  await page.getByLabel('Their handle').fill(handle);
  await page.getByRole('button', { name: 'Add contact' }).click();
  await page.getByRole('heading', { name: handle, level: 2 }).waitFor();
}

/** Sends `text` from the open chat with `to` and waits until one more of it shows in the log. */
export async function send(page: Page, to: string, text: string): Promise<void> {
  const composer = page.getByLabel(`Message to ${to}`);
  const shown = page.getByRole('log').getByText(text);
  // Counted before the send: a text already in the log (the same text sent before, or one that
  // contains it) would otherwise end the wait at once, before this send is on screen.
  const before = await shown.count();
  await composer.fill(text);
  await composer.press('Enter');
  await expect.poll(() => shown.count(), { timeout: 30_000 }).toBeGreaterThan(before);
}
