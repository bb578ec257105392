// A packaged app reads no environment variable that selects native code or changes behaviour
// (shared/packaged.ts): the Electron entry marks the process packaged before anything reads the
// environment, and from then on the SQLite addon path, test hooks, the profile and the relay
// descriptor variables are ignored. The same entry in development still honours them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildElectronMain } from '../../scripts/build-app.ts';

const electronVersions = { ...process.versions, electron: '41.10.7' } as NodeJS.ProcessVersions;
const EVIL_ADDON = '/tmp/evil/better_sqlite3.node';

// The Electron module, main/app/app.ts (the window) and the messenger are replaced: this test is
// about what main/app/main.ts passes on, not about the window or the vault.
const electronApp = { isPackaged: false, exit: vi.fn() };
vi.mock('electron', () => {
  const electron = { app: electronApp, dialog: { showErrorBox: vi.fn() } };
  return { ...electron, default: electron };
});
type OpenService = (profileDir: string) => Promise<unknown>;
const started: { openService: OpenService }[] = [];
vi.mock('../../main/app/app.ts', () => ({
  startApp: (options: { openService: OpenService }) => {
    started.push(options);
    return Promise.resolve(undefined);
  },
}));
const opened: unknown[] = [];
vi.mock('../../main/messenger.ts', () => ({
  openMessenger: (opts: unknown) => {
    opened.push(opts);
    return Promise.resolve({ close: () => Promise.resolve() });
  },
}));

const saved = { ...process.env };
beforeEach(() => {
  vi.resetModules();
  started.length = 0;
  opened.length = 0;
  process.env.EPHEMERA_SQLITE_BINDING = EVIL_ADDON;
  process.env.EPHEMERA_PROFILE = '/tmp/elsewhere/profile';
  process.env.EPHEMERA_SERVER_DESCRIPTOR = '/tmp/elsewhere/descriptor.json';
  process.env.EPHEMERA_TEST_HOOKS = '1';
});
afterAll(() => {
  for (const k of ['EPHEMERA_SQLITE_BINDING', 'EPHEMERA_PROFILE', 'EPHEMERA_SERVER_DESCRIPTOR', 'EPHEMERA_TEST_HOOKS']) delete process.env[k];
  Object.assign(process.env, saved);
});

/** Loads the Electron entry as Electron would start it, then the modules it shares state with. */
async function startEntry(isPackaged: boolean) {
  electronApp.isPackaged = isPackaged;
  await import('../../main/app/main.ts');
  const binding = await import('../../main/vault/sqlite-binding.ts');
  const handshake = await import('../../shared/protocol/handshake.ts');
  const keys = await import('../../shared/protocol/key-observer.ts');
  expect(started).toHaveLength(1);
  await started[0]!.openService('/home/user/.config/Ephemera/profile');
  return { binding, handshake, keys };
}

describe('packaged app and the environment', () => {
  it('in development (npm start) the variables are honoured', async () => {
    const { binding, handshake } = await startEntry(false);
    expect(binding.sqliteOptions(process.env, electronVersions)).toEqual({ nativeBinding: EVIL_ADDON });
    expect(opened).toEqual([{ profileDir: '/tmp/elsewhere/profile', serverDescriptorPath: '/tmp/elsewhere/descriptor.json' }]);
    expect(() => handshake.installTempKeyObserverForTests(undefined)).not.toThrow();
  });

  it('packaged: no addon path, profile, descriptor or test hook comes from the environment', async () => {
    const { binding, handshake, keys } = await startEntry(true);
    expect(binding.sqliteNativeBinding(process.env, electronVersions)).toBeUndefined();
    expect(binding.sqliteOptions(process.env, electronVersions)).toEqual({});
    expect(opened).toEqual([{ profileDir: '/home/user/.config/Ephemera/profile' }]);
    // VITEST is set in this process too: still refused.
    expect(process.env.VITEST).toBeTruthy();
    expect(() => handshake.installTempKeyObserverForTests(() => undefined)).toThrow(/outside tests/);
    expect(() => keys.installKeyObserverForTests(() => undefined)).toThrow(/outside tests/);
  });
});

describe('the built Electron main bundle', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-main-bundle-'));
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  it('marks itself packaged before starting, has one packaged flag, and reads the environment only through it', async () => {
    const code = fs.readFileSync(await buildElectronMain(out), 'utf8');
    // One copy of the flag, so the mark reaches the SQLite binding choice.
    expect(code.match(/^function markPackaged\(/gmu)).toHaveLength(1);
    expect(code.match(/^(?:var|let) packaged = false;/gmu)).toHaveLength(1);
    const mark = code.indexOf('if (app.isPackaged) markPackaged();');
    expect(mark).toBeGreaterThan(0);
    expect(mark).toBeLessThan(code.indexOf('startApp({'));
    // Every environment read in the app's own code is one of the gated ones, or the libuv pool
    // size, which libuv itself reads whatever we do: the KDF only mirrors it to scrub every pool
    // thread's stack after Argon2 (a smaller value there would leave a stack unscrubbed).
    // In any order: the bundler's module order changes as imports do.
    const reads = [...code.matchAll(/^.*process\.env.*$/gmu)].map((m) => m[0].trim());
    expect(reads).toHaveLength(3);
    expect(reads).toEqual(expect.arrayContaining([
      'function devEnv(name, env = process.env) {',
      'function sqliteNativeBinding(env = process.env, versions = process.versions, packaged = isPackaged()) {',
      expect.stringMatching(/^var POOL_THREADS = .*process\.env\.UV_THREADPOOL_SIZE\b/u),
    ]));
  });
});
