// `npm start` (scripts/start.ts) run as a child process, with a stub in place of Chromium: it
// always ends in something that serves the user, and its stdout says truthfully which.
// (--browser skips Electron, which cannot be fetched here; --no-relay keeps port 8443 free.)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseBrowser, noDisplayReason, reasonLine } from '../../scripts/app-window.ts';
import { HUGE_PAGE_MALLOC_TUNABLE, withHugePageMalloc } from '../../scripts/huge-page-malloc.ts';
import { alive, browserStub, expectServesApp, runScript, scriptEnv } from './launch-script.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-start-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const URL_LINE = /^http:\/\/127\.0\.0\.1:\d+\/\S*$/;
const asRoot = process.getuid?.() === 0;

function start(name: string, env: Record<string, string | undefined>) {
  return runScript('scripts/start.ts', ['--browser', '--no-relay', '--profile', path.join(tmp, name, 'profile')], scriptEnv(path.join(tmp, name), env));
}

describe('npm start', () => {
  it('without Chromium: says so, prints the URL on its own line and serves it until SIGINT', async () => {
    const run = start('missing', { DISPLAY: ':99', EPHEMERA_BROWSER: path.join(tmp, 'no-such-chromium') });
    try {
      const sentence = await run.line(/^Ephemera: /);
      expect(sentence).toBe(
        `Ephemera: running in browser mode: Electron is unavailable (--browser was given) and EPHEMERA_BROWSER names ${path.join(tmp, 'no-such-chromium')}, which does not exist. Open this address in your browser (it works once); press Ctrl+C here to stop:`,
      );
      const url = await run.line(URL_LINE);
      expect(run.lines.indexOf(url)).toBe(run.lines.indexOf(sentence) + 1);
      await expectServesApp(url);
      // The app process is a child started with glibc's huge-page tunable (scripts/huge-page-malloc.ts).
      const pid = run.child.pid!;
      const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean);
      expect(children).toHaveLength(1);
      const environ = fs.readFileSync(`/proc/${children[0]}/environ`, 'latin1').split('\0');
      expect(environ).toContain(`GLIBC_TUNABLES=${HUGE_PAGE_MALLOC_TUNABLE}`);
    } finally {
      expect(await run.stop('SIGINT')).toBe(0);
    }
  });

  it('with Chromium failing at once: falls back to the URL, giving the reason from its stderr, and serves until SIGTERM', async () => {
    const stub = browserStub(path.join(tmp, 'fail-stub'), 'fail');
    const run = start('fail', { DISPLAY: ':99', EPHEMERA_BROWSER: stub.command });
    try {
      const sentence = await run.line(/^Ephemera: /);
      expect(sentence).toContain(`Chromium (${stub.command}) exited at once (exit code 1: Missing X server or $DISPLAY).`);
      expect(sentence).toMatch(/^Ephemera: running in browser mode: .* Open this address in your browser/);
      expect(sentence).not.toContain('app window (');
      const url = await run.line(URL_LINE);
      expect(stub.started()).toHaveLength(1);
      expect(stub.started()[0]!.args).toContain('--no-first-run');
      await expectServesApp(url);
      // Still serving a while later: nothing exited under the user.
      await new Promise((r) => setTimeout(r, 1000));
      await expectServesApp(url);
    } finally {
      expect(await run.stop('SIGTERM')).toBe(0);
    }
  });

  it('with Chromium staying up: says it runs in the app window, serves the window, and stops the window on SIGINT', async () => {
    const stub = browserStub(path.join(tmp, 'stay-stub'), 'stay');
    const run = start('stay', { DISPLAY: ':99', EPHEMERA_BROWSER: stub.command });
    let windowPid = 0;
    try {
      const sentence = await run.line(/^Ephemera: /);
      const sandbox = asRoot ? ', without its sandbox because this runs as root' : '';
      expect(sentence).toBe(
        `Ephemera: running in browser mode in a Chromium app window (${stub.command}${sandbox}); Electron is unavailable (--browser was given). Close the window or press Ctrl+C here to stop.`,
      );
      // The address went to the window, not to stdout.
      expect(run.lines.filter((l) => l.includes('http://'))).toEqual([]);
      const [window] = stub.started();
      windowPid = window!.pid;
      expect(alive(windowPid)).toBe(true);
      const app = window!.args.find((a) => a.startsWith('--app='));
      expect(app).toMatch(/^--app=http:\/\/127\.0\.0\.1:\d+\//);
      expect(window!.args.includes('--no-sandbox')).toBe(asRoot);
      expect(window!.args).toContain(`--user-data-dir=${path.join(tmp, 'stay', '.config', 'Ephemera', 'chromium')}`);
      await expectServesApp(app!.slice('--app='.length));
    } finally {
      expect(await run.stop('SIGINT')).toBe(0);
    }
    await expect.poll(() => alive(windowPid), { timeout: 60_000 }).toBe(false);
  });

  it('with a Chromium window that fails later: falls back to the URL instead of exiting, and serves until SIGINT', async () => {
    const stub = browserStub(path.join(tmp, 'late-stub'), 'stay');
    const run = start('late', { DISPLAY: ':99', EPHEMERA_BROWSER: stub.command });
    try {
      expect(await run.line(/^Ephemera: /)).toMatch(/^Ephemera: running in browser mode in a Chromium app window/);
      const [window] = stub.started();
      const address = window!.args.find((a) => a.startsWith('--app='))!.slice('--app='.length);
      stub.crash(window!.pid);
      const sentence = await run.line(/^Ephemera: still running/);
      expect(sentence).toContain(`Chromium (${stub.command}) exited (exit code 1: GPU process isn't usable. Goodbye.). Open this address in your browser`);
      const url = await run.line(URL_LINE);
      expect(url).toBe(address);
      expect(run.child.exitCode).toBeNull();
      await expectServesApp(url);
    } finally {
      expect(await run.stop('SIGINT')).toBe(0);
    }
  });

  it("with Debian's real Chromium and a display that does not exist: reports Chromium's own reason and serves the URL", async () => {
    // :987 names no X server, so the real browser starts (as root with --no-sandbox) and gives up.
    const run = start('real', { DISPLAY: ':987', EPHEMERA_BROWSER: '/usr/bin/chromium' });
    try {
      const sentence = await run.line(/^Ephemera: /);
      expect(sentence).toMatch(/ and Chromium \(\/usr\/bin\/chromium\) exited at once \(exit code [1-9]\d*: Missing X server or \$DISPLAY\)\. Open this address/);
      await expectServesApp(await run.line(URL_LINE));
    } finally {
      expect(await run.stop('SIGINT')).toBe(0);
    }
  });

  it('without a display: does not try Chromium, says why, and serves the URL', async () => {
    const stub = browserStub(path.join(tmp, 'nodisplay-stub'), 'stay');
    const run = start('nodisplay', { EPHEMERA_BROWSER: stub.command });
    try {
      const sentence = await run.line(/^Ephemera: /);
      expect(sentence).toBe(
        'Ephemera: running in browser mode: Electron is unavailable (--browser was given) and there is no display ($DISPLAY and $WAYLAND_DISPLAY are unset), so no app window can open. Open this address in your browser (it works once); press Ctrl+C here to stop:',
      );
      await expectServesApp(await run.line(URL_LINE));
      expect(stub.started()).toEqual([]);
    } finally {
      expect(await run.stop('SIGINT')).toBe(0);
    }
  });
});

describe('choosing the app window', () => {
  it('needs a display on X11/Wayland systems, not on Windows or macOS', () => {
    expect(noDisplayReason({}, 'linux')).toMatch(/no display/);
    expect(noDisplayReason({ WAYLAND_DISPLAY: 'wayland-0' }, 'linux')).toBeUndefined();
    expect(noDisplayReason({}, 'darwin')).toBeUndefined();
    expect(chooseBrowser({}, 'linux', ['/bin/sh'])).toEqual({ ok: false, reason: noDisplayReason({}, 'linux') });
    expect(chooseBrowser({ DISPLAY: ':0' }, 'linux', [path.join(tmp, 'none'), '/bin/sh'])).toEqual({ ok: true, command: '/bin/sh' });
    expect(chooseBrowser({ DISPLAY: ':0' }, 'linux', [path.join(tmp, 'none')])).toMatchObject({ ok: false, reason: expect.stringMatching(/^no Chromium was found/) });
  });

  it("takes the reason from Chromium's first error line, without its [pid:tid] prefix", () => {
    expect(reasonLine('\n[1:1:0101/000000.000:ERROR:zygote_host_impl_linux.cc(101)] Running as root without --no-sandbox is not supported. See https://crbug.com/638180.\n')).toBe(
      'Running as root without --no-sandbox is not supported. See https://crbug.com/638180.',
    );
    // Debian's wrapper and D-Bus speak first in a container; the X11 line is the reason.
    const noDisplay = [
      '/usr/bin/chromium: 9: [: 25276071936: unexpected operator',
      '[21785:21834:1203/140546.314105:ERROR:dbus/bus.cc:405] Failed to connect to the bus: Failed to connect to socket /run/dbus/system_bus_socket: No such file or directory',
      '[21785:21785:1203/140546.313310:ERROR:ui/ozone/platform/x11/ozone_platform_x11.cc:257] Missing X server or $DISPLAY',
      '[21785:21785:1203/140546.313343:ERROR:ui/aura/env.cc:253] The platform failed to initialize.  Exiting.',
    ].join('\n');
    expect(reasonLine(noDisplay)).toBe('Missing X server or $DISPLAY');
    expect(reasonLine(`[1:1:0101/000000.000:ERROR:a.cc(1)] first\n[1:1:0101/000000.000:FATAL:b.cc(2)] the fatal one\n`)).toBe('the fatal one');
    expect(reasonLine('just this\n')).toBe('just this');
    expect(reasonLine('')).toBe('');
  });
});

/** Alive and not a zombie waiting for a reaper (the app's parent is gone, so init reaps it). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('npm start, launcher and app process', () => {
  it('a launcher killed without passing anything on (SIGKILL) takes the app process with it', async () => {
    const run = start('launcher-killed', { DISPLAY: ':99', EPHEMERA_BROWSER: path.join(tmp, 'no-such-chromium') });
    const pid = run.child.pid!;
    let app: number | undefined;
    try {
      const url = await run.line(URL_LINE);
      app = Number(fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim());
      expect(app).toBeGreaterThan(0);
      await expectServesApp(url);
      expect(await run.stop('SIGKILL')).toBe(null);
      const deadline = Date.now() + 30_000;
      while (running(app) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(running(app)).toBe(false);
    } finally {
      if (app !== undefined && alive(app)) process.kill(app, 'SIGKILL');
    }
  });
});

describe('the huge-page tunable (scripts/huge-page-malloc.ts)', () => {
  it('is added on Linux, after tunables already set, and never over a hugetlb value the user chose; other systems get the environment unchanged', () => {
    expect(withHugePageMalloc({ PATH: '/bin' }, 'linux')).toEqual({ PATH: '/bin', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
    expect(withHugePageMalloc({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, 'linux').GLIBC_TUNABLES).toBe('glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1');
    const chosen = { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' };
    expect(withHugePageMalloc(chosen, 'linux')).toBe(chosen);
    const mac = { PATH: '/bin' };
    expect(withHugePageMalloc(mac, 'darwin')).toBe(mac);
    expect(withHugePageMalloc(mac, 'win32')).toBe(mac);
  });
});
