// In the Electron app, backup paths come from main's native file dialogs, never from the
// renderer: the shell (main/app/app.ts) with a fake `electron`, calls made as the renderer makes
// them (through the IPC handler), and a service that records what reaches it.
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { EphemeraService } from '../../shared/api.ts';
import { recordingBackupService, type ReachedCall } from './recording-service.ts';

const fake = await vi.hoisted(async () => {
  const { createFakeElectron } = await import('./fake-electron.ts');
  return createFakeElectron();
});
vi.mock('electron', () => ({ ...fake.electron, default: fake.electron }));

const { startApp } = await import('../../main/app/app.ts');
const { CALL_CHANNEL, APP_ENTRY_URL } = await import('../../main/app/channels.ts');

/** Every backup call that reached the service, with the path (and identity file) it got. */
const reached: ReachedCall[] = [];

const recordingService = (): EphemeraService => recordingBackupService(reached);

type FakeWindow = InstanceType<typeof fake.FakeBrowserWindow>;
let window: FakeWindow;

beforeAll(async () => {
  const running = await startApp({ openService: async () => ({ service: recordingService(), close: async () => undefined }), rendererDir: '/nonexistent', preloadPath: '/nonexistent' });
  window = running!.window as unknown as FakeWindow;
});

/** A call from our page, as the preload sends it. */
function call(method: string, params: unknown): Promise<unknown> {
  const contents = window.webContents;
  const handler = fake.state.ipcHandlers.get(CALL_CHANNEL)!;
  return Promise.resolve(handler({ sender: contents, senderFrame: contents.mainFrame }, method, params));
}

/** The stand-in service's answer to a read: the call got through. */
const REACHED = { ok: false, error: { code: 'BACKUP_WRONG_KEY', message: 'recorded' } };
const passphrase = { kind: 'passphrase', passphrase: 'backup passphrase' };
const exportParams = (p: string) => ({ jobId: 'job-0000001', path: p, protection: passphrase, includeIdentity: false });
const readParams = (p: string, key: unknown = passphrase) => ({ jobId: 'job-0000002', path: p, key });

describe('Electron: backup files come from the native dialog', () => {
  it('refuses a path the renderer made up, before the service sees it, for every backup operation', async () => {
    expect(window.webContents.mainFrame.url).toBe(APP_ENTRY_URL);
    for (const [method, params] of [
      ['backupExport', exportParams('/home/user/.bashrc')],
      ['backupImport', readParams('/tmp/crafted.age')],
      ['backupRestore', { ...readParams('/tmp/crafted.age'), password: 'a new vault password 123' }],
      ['backupOpen', readParams('relative.age')],
    ] as const) {
      expect(await call(method, params)).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
    }
    expect(reached).toEqual([]);
    expect(fake.state.dialogsShown).toEqual([]);
  });

  it('uses the path chosen in a save dialog (modal to our window) for an export, and only for that', async () => {
    const chosen = path.resolve('/home/user/Backups/ephemera.age');
    fake.state.dialogAnswers.push(chosen);
    expect(await call('backupChooseFile', { purpose: 'export' })).toEqual({ ok: true, value: { path: chosen } });
    expect(fake.state.dialogsShown.at(-1)).toMatchObject({ kind: 'save', window });
    expect(await call('backupExport', exportParams(chosen))).toMatchObject({ ok: true, value: { path: chosen } });
    expect(reached.at(-1)).toEqual({ method: 'backupExport', path: chosen });
    // Chosen to be written is not chosen to be read (and the reverse, below).
    const before = reached.length;
    expect(await call('backupImport', readParams(chosen))).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
    expect(reached.length).toBe(before);
  });

  it('uses a file chosen in an open dialog for import and open, never as an export target', async () => {
    const chosen = path.resolve('/home/user/Downloads/backup.age');
    fake.state.dialogAnswers.push(chosen);
    expect(await call('backupChooseFile', { purpose: 'open' })).toEqual({ ok: true, value: { path: chosen } });
    expect(fake.state.dialogsShown.at(-1)).toMatchObject({ kind: 'open', window, options: { properties: ['openFile'] } });
    expect(await call('backupOpen', readParams(chosen))).toMatchObject(REACHED);
    expect(await call('backupImport', readParams(chosen))).toMatchObject(REACHED);
    expect(reached.slice(-2)).toEqual([
      { method: 'backupOpen', path: chosen },
      { method: 'backupImport', path: chosen },
    ]);
    const before = reached.length;
    expect(await call('backupExport', exportParams(chosen))).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
    expect(reached.length).toBe(before);
  });

  it('takes an age identity file only from the dialog too', async () => {
    const backup = path.resolve('/home/user/Downloads/backup.age');
    const before = reached.length;
    expect(await call('backupOpen', readParams(backup, { kind: 'identityFile', path: '/home/user/.ssh/id_ed25519' }))).toMatchObject({
      ok: false,
      error: { code: 'PATH_NOT_ALLOWED' },
    });
    expect(reached.length).toBe(before);
    const identity = path.resolve('/home/user/keys/me.txt');
    fake.state.dialogAnswers.push(identity);
    expect(await call('backupChooseFile', { purpose: 'identity' })).toEqual({ ok: true, value: { path: identity } });
    expect(await call('backupOpen', readParams(backup, { kind: 'identityFile', path: identity }))).toMatchObject(REACHED);
    expect(reached.at(-1)).toEqual({ method: 'backupOpen', path: backup, identityFile: identity });
  });

  it('a cancelled dialog is CANCELLED and grants nothing', async () => {
    fake.state.dialogAnswers.push(undefined);
    expect(await call('backupChooseFile', { purpose: 'export' })).toMatchObject({ ok: false, error: { code: 'CANCELLED' } });
    expect(await call('backupExport', exportParams(''))).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
  });

  it('shows no dialog for a call that does not come from our page', async () => {
    const shown = fake.state.dialogsShown.length;
    const contents = window.webContents;
    const handler = fake.state.ipcHandlers.get(CALL_CHANNEL)!;
    const saved = contents.mainFrame.url;
    contents.mainFrame.url = 'https://evil.example/';
    try {
      expect(await handler({ sender: contents, senderFrame: contents.mainFrame }, 'backupChooseFile', { purpose: 'export' })).toMatchObject({
        ok: false,
        error: { code: 'FORBIDDEN' },
      });
    } finally {
      contents.mainFrame.url = saved;
    }
    expect(fake.state.dialogsShown.length).toBe(shown);
  });
});
