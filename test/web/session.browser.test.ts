// Browser mode's session, in Debian's Chromium (playwright-core) against the real web host and
// renderer: the browser holds nothing that it would send to another server on 127.0.0.1 (a
// cookie would go to every port), the launch code leaves the address bar and works once, a
// reload keeps the session (sessionStorage), and a page on another loopback port cannot use
// the API socket.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { runWeb } from '../../cli/ephemera-web.ts';
import { expectAccessible, expectAllNamed, ROOT, shotBothThemes } from './browser-harness.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => fs.existsSync(p));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-session-'));

let browser: Browser;
let running: { url: string; stop(): Promise<void> };
/** Another local server, as a dev server or another user's process would be: it records what browsers send it. */
let neighbour: http.Server;
let neighbourOrigin: string;
const neighbourSaw: http.IncomingHttpHeaders[] = [];

beforeAll(async () => {
  if (!CHROMIUM) throw new Error('Chromium is not installed (apt-get install chromium)');
  // dist/renderer is built by test/global-setup.ts.
  running = await runWeb({ profile: path.join(tmp, 'profile'), port: 0 });
  neighbour = http.createServer((req, res) => {
    neighbourSaw.push(req.headers);
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><title>neighbour</title>');
  });
  await new Promise<void>((resolve) => neighbour.listen(0, '127.0.0.1', resolve));
  neighbourOrigin = `http://127.0.0.1:${(neighbour.address() as { port: number }).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
});

afterAll(async () => {
  await browser?.close();
  await running?.stop();
  await new Promise((resolve) => neighbour?.close(resolve));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('browser mode session in Chromium', () => {
  it('leaves nothing for another local server, survives a reload, and the launch address works once', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const origin = new URL(running.url).origin;
    await page.goto(running.url);
    await page.getByRole('heading', { name: 'Create your vault' }).waitFor({ timeout: 60_000 });
    // The code is gone from the address bar; no cookie exists for any site.
    expect(page.url()).toBe(`${origin}/`);
    expect(await context.cookies()).toEqual([]);

    // The same browser visits another server on 127.0.0.1 (a cookie would ride along, ports or not).
    const visitor = await context.newPage();
    await visitor.goto(`${neighbourOrigin}/`);
    expect(neighbourSaw.length).toBeGreaterThan(0);
    for (const headers of neighbourSaw) expect(headers.cookie).toBeUndefined();
    // ...and a page there cannot use the API socket: the host refuses its Origin.
    const fromNeighbour = await visitor.evaluate(
      (target) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(`${target.replace('http:', 'ws:')}/api`);
          ws.onopen = () => resolve('open');
          ws.onclose = () => resolve('refused');
        }),
      origin,
    );
    expect(fromNeighbour).toBe('refused');

    // A reload presents the session kept in this tab's sessionStorage.
    await page.reload();
    await page.getByRole('heading', { name: 'Create your vault' }).waitFor({ timeout: 60_000 });

    // Another browser (its own storage) cannot reuse the spent address.
    const stranger = await (await browser.newContext()).newPage();
    await stranger.goto(running.url);
    await stranger.getByRole('alert').filter({ hasText: 'already used' }).first().waitFor({ timeout: 60_000 });
    expect(await stranger.getByRole('heading', { name: 'Create your vault' }).count()).toBe(0);
    expect(stranger.url()).toBe(`${origin}/`);
    // Said once, and nothing suggests a reload would help.
    expect(await stranger.getByText(/Reload the window/).count()).toBe(0);
    expect(await stranger.getByRole('alert').filter({ hasText: 'already used' }).count()).toBe(1);
    const shots = path.join(ROOT, 'test-results', 'session');
    fs.mkdirSync(shots, { recursive: true });
    await shotBothThemes(stranger, shots, 'address-already-used');
    await expectAllNamed(stranger, 'address-already-used');
    await expectAccessible(stranger, 'address-already-used');

    // The spent address opened again in the tab that holds the session: only the fragment
    // changes, the page reloads to read it, the code is refused, and the tab's session is used.
    await Promise.all([page.waitForEvent('load'), page.goto(running.url)]);
    await page.getByRole('heading', { name: 'Create your vault' }).waitFor({ timeout: 60_000 });
    expect(page.url()).toBe(`${origin}/`);
    expect(await page.getByRole('alert').filter({ hasText: 'already used' }).count()).toBe(0);
    expect(await context.cookies()).toEqual([]);
    await stranger.context().close();
    await context.close();
  });
});
