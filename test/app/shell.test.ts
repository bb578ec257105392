import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ApiError, methodNames, type ApiEvent, type EphemeraService } from '../../shared/api.ts';

const fake = await vi.hoisted(async () => {
  const { createFakeElectron } = await import('./fake-electron.ts');
  return createFakeElectron();
});
vi.mock('electron', () => ({ ...fake.electron, default: fake.electron }));

const { startApp } = await import('../../main/app/app.ts');
const { CALL_CHANNEL, EVENT_CHANNEL, APP_ENTRY_URL } = await import('../../main/app/channels.ts');
type FakeWindow = InstanceType<typeof fake.FakeBrowserWindow>;

const now = 1_700_000_000_000;
const status = { vault: 'locked', recoveryConfirmed: true, account: null } as const;

function testService() {
  const listeners = new Set<(e: ApiEvent) => void>();
  const calls: string[] = [];
  const base: Record<string, unknown> = {};
  for (const m of methodNames) base[m] = () => Promise.reject(new ApiError('NOT_AVAILABLE', `${m} not in this test`));
  const service = Object.assign(base, {
    vaultStatus: async () => {
      calls.push('vaultStatus');
      return status;
    },
    subscribe: (l: (e: ApiEvent) => void) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  }) as unknown as EphemeraService;
  return { service, calls, emit: (e: unknown) => listeners.forEach((l) => l(e as ApiEvent)) };
}

let tmp: string;
let window: FakeWindow;
const svc = testService();
let closed = 0;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-app-'));
  const renderer = path.join(tmp, 'renderer');
  fs.mkdirSync(path.join(renderer, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(renderer, 'index.html'), '<!doctype html><title>Ephemera</title>');
  fs.writeFileSync(path.join(renderer, 'assets', 'app.js'), 'console.log(1)');
  fs.writeFileSync(path.join(tmp, 'secret.txt'), 'TOP SECRET');
  fs.symlinkSync(path.join(tmp, 'secret.txt'), path.join(renderer, 'link.txt'));
  const running = await startApp({
    openService: async () => ({ service: svc.service, close: async () => void closed++ }),
    rendererDir: renderer,
    preloadPath: path.join(tmp, 'preload.cjs'),
  });
  window = running!.window as unknown as FakeWindow;
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('Electron shell settings', () => {
  it('creates the window with every hardening web preference', () => {
    expect(fake.state.windows).toHaveLength(1);
    const prefs = window.options.webPreferences!;
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      disableBlinkFeatures: 'Auxclick',
      devTools: false,
      preload: path.join(tmp, 'preload.cjs'),
    });
    expect(prefs).not.toHaveProperty('enableBlinkFeatures');
    expect((window.options as { icon?: unknown }).icon).toBe(path.join(tmp, 'renderer', 'icon.png'));
    expect(fake.state.sandboxEnabled).toBe(true);
  });

  it('loads the renderer from the privileged app:// scheme, never file://', () => {
    expect(window.webContents.mainFrame.url).toBe(APP_ENTRY_URL);
    expect(APP_ENTRY_URL.startsWith('app://')).toBe(true);
    expect(fake.state.privilegedSchemes).toEqual([
      expect.objectContaining({ scheme: 'app', privileges: expect.objectContaining({ standard: true, secure: true, bypassCSP: false }) }),
    ]);
    expect(fake.state.protocolHandlers.has('app')).toBe(true);
  });

  it('serves built files with a strict CSP and refuses path traversal', async () => {
    const handle = fake.state.protocolHandlers.get('app')!;
    const ok = await handle(new Request('app://ephemera/index.html'));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toContain('text/html');
    const csp = ok.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect((await handle(new Request('app://ephemera/'))).status).toBe(200);
    expect(await (await handle(new Request('app://ephemera/assets/app.js'))).text()).toBe('console.log(1)');

    for (const attack of [
      'app://ephemera/%2e%2e/secret.txt',
      'app://ephemera/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
      'app://ephemera/..%5csecret.txt',
      'app://ephemera/link.txt',
      'app://ephemera/%00index.html',
      'app://other-host/index.html',
      'app://ephemera/missing.js',
    ]) {
      const res = await handle(new Request(attack));
      expect(res.status, attack).toBeGreaterThanOrEqual(400);
      expect(await res.text(), attack).not.toContain('TOP SECRET');
    }
    expect((await handle(new Request('app://ephemera/index.html', { method: 'POST', body: 'x' }))).status).toBe(405);
  });

  it('blocks navigation, redirects, webviews and new windows; opens only allowlisted https links outside', async () => {
    const contents = window.webContents;
    const fire = (name: string, url: string, extra: Record<string, unknown> = {}) => {
      let prevented = false;
      contents.emit(name, { preventDefault: () => (prevented = true), ...extra }, url);
      return prevented;
    };
    expect(fire('will-navigate', 'https://evil.example/')).toBe(true);
    expect(fire('will-navigate', 'app://ephemera/other.html')).toBe(true);
    expect(fire('will-redirect', 'https://evil.example/')).toBe(true);
    expect(fire('will-attach-webview', '')).toBe(true);
    expect(fire('will-frame-navigate', 'https://evil.example/', { isMainFrame: false })).toBe(true);

    const open = contents.windowOpenHandler!;
    for (const url of ['https://www.gnu.org/licenses/agpl-3.0.html', 'http://www.gnu.org/', 'file:///etc/passwd', 'https://evil.example/',
      'https://user:pw@github.com/', 'smb://github.com/x', 'javascript:alert(1)']) {
      expect(open({ url })).toEqual({ action: 'deny' });
    }
    await Promise.resolve();
    expect(fake.state.openedExternal).toEqual(['https://www.gnu.org/licenses/agpl-3.0.html']);
  });

  it('opens a message link only from the confirmation dialog, never from a middle-click or a navigation', async () => {
    const contents = window.webContents;
    const open = contents.windowOpenHandler!;
    const link = 'https://github.com/someone/project';
    const opened = () => fake.state.openedExternal.slice(before);
    const before = fake.state.openedExternal.length;
    // A middle-click (background tab) or a click that reached the default action: no features.
    expect(open({ url: link, features: '' })).toEqual({ action: 'deny' });
    expect(open({ url: link })).toEqual({ action: 'deny' });
    contents.emit('will-navigate', { preventDefault: () => undefined }, link);
    await Promise.resolve();
    expect(opened()).toEqual([]);
    // LinkDialog's "Open link": window.open(url, '_blank', 'noopener,noreferrer').
    expect(open({ url: link, features: 'noopener,noreferrer' })).toEqual({ action: 'deny' });
    // ...and still the allowlist: a confirmed link outside it is dropped.
    expect(open({ url: 'https://evil.example/', features: 'noopener,noreferrer' })).toEqual({ action: 'deny' });
    await Promise.resolve();
    expect(opened()).toEqual([link]);
  });

  it('denies every permission request and check, and cancels requests to the network', () => {
    const granted: boolean[] = [];
    for (const p of ['media', 'geolocation', 'notifications', 'openExternal', 'clipboard-read']) {
      fake.state.permissionRequestHandler!(window.webContents, p, (g) => granted.push(g));
    }
    expect(granted).toEqual([false, false, false, false, false]);
    expect(fake.state.permissionCheckHandler!(window.webContents, 'media', 'app://ephemera', {})).toBe(false);
    expect(fake.state.devicePermissionHandler!({})).toBe(false);
    const cancelled = (url: string) => {
      let result: boolean | undefined;
      fake.state.beforeRequest!({ url }, (r) => (result = r.cancel));
      return result;
    };
    expect(cancelled('app://ephemera/index.html')).toBe(false);
    expect(cancelled('https://cdn.example/x.js')).toBe(true);
    expect(cancelled('ws://127.0.0.1:1/')).toBe(true);
    expect(cancelled('file:///etc/passwd')).toBe(true);
  });

  it('removes the application menu (no devtools or reload accelerators)', () => {
    expect(fake.state.menu).toBeNull();
  });
});

describe('Electron IPC', () => {
  const handler = () => fake.state.ipcHandlers.get(CALL_CHANNEL)!;

  it('serves calls from the main frame of the app window', async () => {
    const contents = window.webContents;
    const outcome = await handler()({ sender: contents, senderFrame: contents.mainFrame }, 'vaultStatus', undefined);
    expect(outcome).toEqual({ ok: true, value: status });
  });

  it('refuses calls from another web contents, a subframe, a foreign URL or a destroyed frame', async () => {
    const contents = window.webContents;
    const before = svc.calls.length;
    const other = new fake.electron.BrowserWindow({}).webContents;
    other.mainFrame.url = APP_ENTRY_URL;
    const cases = [
      { sender: other, senderFrame: other.mainFrame },
      { sender: contents, senderFrame: { url: APP_ENTRY_URL } },
      { sender: contents, senderFrame: null },
    ];
    for (const event of cases) {
      expect(await handler()(event, 'vaultStatus', undefined)).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    }
    const saved = contents.mainFrame.url;
    contents.mainFrame.url = 'https://evil.example/';
    expect(await handler()({ sender: contents, senderFrame: contents.mainFrame }, 'vaultStatus', undefined)).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
    contents.mainFrame.url = saved;
    expect(svc.calls.length).toBe(before);
  });

  it('validates calls on the main side', async () => {
    const contents = window.webContents;
    const event = { sender: contents, senderFrame: contents.mainFrame };
    expect(await handler()(event, 'eval', 'x')).toMatchObject({ ok: false, error: { code: 'UNKNOWN_METHOD' } });
    expect(await handler()(event, 'unlock', { password: 5 })).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
  });

  it('forwards only valid events, and only to the app page', () => {
    const contents = window.webContents;
    contents.sent = [];
    const progress = { jobId: 'job-12345', operation: 'export', phase: 'writing', done: 5, total: 10, unit: 'messages' };
    svc.emit({ name: 'backupProgress', payload: progress });
    svc.emit({ name: 'backupProgress', payload: { ...progress, passphrase: 'x' } });
    svc.emit({ name: 'notAnEvent', payload: {} });
    contents.mainFrame.url = 'https://evil.example/';
    svc.emit({ name: 'backupProgress', payload: progress });
    contents.mainFrame.url = APP_ENTRY_URL;
    expect(contents.sent).toEqual([[EVENT_CHANNEL, 'backupProgress', progress]]);
  });

  it('closes the service when the last window closes', async () => {
    fake.electron.app.emit('window-all-closed');
    await new Promise((r) => setTimeout(r, 0));
    expect(closed).toBe(1);
    expect(fake.state.ipcHandlers.has(CALL_CHANNEL)).toBe(false);
    void now;
  });
});
