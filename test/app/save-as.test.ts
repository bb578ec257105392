// "Save as…" for an attachment in the Electron app (issue #15): the renderer names no path;
// main shows its native save dialog (modal to our window) suggesting the attachment's name made
// safe, and the real Messenger writes the plaintext only where the user chose. Runs the shell
// (main/app/app.ts) with a fake `electron` and a real Messenger on a real vault holding a file.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openMessenger, type Messenger } from '../../main/messenger.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { ATTACHMENT_CHUNKS, chunkKey, writeRecord, linkAttachment } from '../../main/messenger/attachment-store.ts';
import { folderPolicy, withBackupFilePolicy } from '../../main/backup-files.ts';

const fake = await vi.hoisted(async () => {
  const { createFakeElectron } = await import('./fake-electron.ts');
  return createFakeElectron();
});
vi.mock('electron', () => ({ ...fake.electron, default: fake.electron }));

const { startApp } = await import('../../main/app/app.ts');
const { CALL_CHANNEL } = await import('../../main/app/channels.ts');

const PASSWORD = 'save-as password 1234';
const CONTENT = randomBytes(3 * 65_536 + 99);
/** A contact's name as it may arrive: a bidi override and a path in it. */
const NAME = '../..\u202egpj.exe';

type FakeWindow = InstanceType<typeof fake.FakeBrowserWindow>;
let window: FakeWindow;
let messenger: Messenger;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ephemera-save-as-'));
  const profile = join(dir, 'profile');
  const { vault } = await Vault.create(profile, PASSWORD, { kdf: TEST_KDF });
  vault.appendMessages([{ id: 'm-file', conversationId: 'v-a', direction: 'in', sender: 'c-a', sentAt: 1, receivedAt: 1, text: '', state: 'received' }]);
  vault.transaction(() => {
    writeRecord(vault, { id: 'att_one', messageId: 'm-file', name: NAME, type: 'application/octet-stream', size: CONTENT.length, blob: randomBytes(16).toString('base64url'), key: randomBytes(32).toString('base64url'), digest: randomBytes(32).toString('base64url'), downloaded: true });
    linkAttachment(vault, 'm-file', 'att_one');
    for (let i = 0; i * 65_536 < CONTENT.length; i++) vault.kvSet(ATTACHMENT_CHUNKS, chunkKey('att_one', i), CONTENT.subarray(i * 65_536, (i + 1) * 65_536));
  });
  vault.lock();
  messenger = await openMessenger({ profileDir: profile, kdf: TEST_KDF });
  await messenger.unlock({ password: PASSWORD });
  const running = await startApp({ openService: async () => ({ service: messenger, close: async () => undefined }), rendererDir: '/nonexistent', preloadPath: '/nonexistent' });
  window = running!.window as unknown as FakeWindow;
});

afterAll(async () => {
  await messenger.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A call from our page, as the preload sends it. */
function call(method: string, params: unknown): Promise<unknown> {
  const contents = window.webContents;
  const handler = fake.state.ipcHandlers.get(CALL_CHANNEL)!;
  return Promise.resolve(handler({ sender: contents, senderFrame: contents.mainFrame }, method, params));
}

describe('Electron: Save as… for an attachment', () => {
  it('asks with the native dialog, suggesting the name made safe, and writes the plaintext only where chosen', async () => {
    const chosen = join(dir, 'Downloads-report.bin');
    fake.state.dialogAnswers.push(chosen);
    expect(await call('attachmentSaveAs', { attachmentId: 'att_one' })).toEqual({ ok: true, value: { bytes: CONTENT.length, path: chosen } });
    const shown = fake.state.dialogsShown.at(-1)!;
    expect(shown).toMatchObject({ kind: 'save', window });
    // No directory part, no leading dots, no bidi override: it cannot point the dialog elsewhere or disguise itself.
    expect(shown.options.defaultPath).toBe('_.._gpj.exe');
    expect(readFileSync(chosen).equals(CONTENT)).toBe(true);
  });

  it('a cancelled dialog is CANCELLED and writes nothing', async () => {
    const before = readdirSync(dir).sort();
    fake.state.dialogAnswers.push(undefined);
    expect(await call('attachmentSaveAs', { attachmentId: 'att_one' })).toMatchObject({ ok: false, error: { code: 'CANCELLED' } });
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it('an unknown attachment shows no dialog; a path from the renderer is still refused', async () => {
    const shown = fake.state.dialogsShown.length;
    expect(await call('attachmentSaveAs', { attachmentId: 'att_nope' })).toMatchObject({ ok: false, error: { code: 'UNKNOWN_MESSAGE' } });
    expect(await call('saveAttachment', { attachmentId: 'att_one', path: join(dir, 'made-up.bin') })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
    expect(fake.state.dialogsShown.length).toBe(shown);
  });

  it('browser mode and the bare service have no dialog: NOT_AVAILABLE (the page offers a download instead)', async () => {
    await expect(messenger.attachmentSaveAs({ attachmentId: 'att_one' })).rejects.toMatchObject({ code: 'NOT_AVAILABLE' });
    const browser = withBackupFilePolicy(messenger, folderPolicy(join(dir, 'backups')));
    await expect(browser.attachmentSaveAs({ attachmentId: 'att_one' })).rejects.toMatchObject({ code: 'NOT_AVAILABLE' });
  });
});
