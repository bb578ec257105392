// The Electron shell: wires the window, the app:// protocol, the guards and IPC around a
// service that implements shared/api.ts. No application logic lives here.
import path from 'node:path';
import { app, BrowserWindow, dialog, ipcMain, Menu, Notification, protocol, session, shell } from 'electron';
import type { EphemeraService } from '../../shared/api.ts';
import { dialogPolicy, withBackupFilePolicy } from '../backup-files.ts';
import { withAttention } from './attention.ts';
import { APP_ENTRY_URL, APP_SCHEME } from './channels.ts';
import { nativeFileDialog, nativeSaveAsDialog } from './file-dialogs.ts';
import { hardenSession, hardenWebContents } from './guards.ts';
import { wireIpc } from './ipc.ts';
import { APP_SCHEME_PRIVILEGES, createAppProtocolHandler } from './protocol.ts';

export interface AppOptions {
  openService(profileDir: string): Promise<{ service: EphemeraService; close(): Promise<void> }>;
  /** Defaults to <app>/dist/renderer. */
  rendererDir?: string;
  /** Defaults to <app>/dist/app/preload.cjs. */
  preloadPath?: string;
}

export interface RunningApp {
  window: BrowserWindow;
  shutdown(): Promise<void>;
}

export async function startApp(options: AppOptions): Promise<RunningApp | undefined> {
  // Must happen before 'ready'.
  protocol.registerSchemesAsPrivileged([APP_SCHEME_PRIVILEGES]);
  app.enableSandbox();
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return undefined;
  }
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, (url) => shell.openExternal(url)));

  await app.whenReady();
  const appDir = app.getAppPath();
  const rendererDir = options.rendererDir ?? path.join(appDir, 'dist', 'renderer');
  const preloadPath = options.preloadPath ?? path.join(appDir, 'dist', 'app', 'preload.cjs');

  hardenSession(session.defaultSession);
  protocol.handle(APP_SCHEME, createAppProtocolHandler(rendererDir));
  Menu.setApplicationMenu(null);

  const { service, close } = await options.openService(path.join(app.getPath('userData'), 'profile'));
  // Every security-relevant preference is spelled out here, literally (not left to defaults and
  // not built elsewhere), so tests and Electronegativity's static checks both see each one.
  const window = new BrowserWindow({
    width: 1100,
    height: 760,
    minWidth: 640,
    minHeight: 480,
    title: 'Ephemera',
    // Window and taskbar icon on Linux and Windows (macOS takes the bundle's icon).
    icon: path.join(rendererDir, 'icon.png'),
    show: false,
    backgroundColor: '#111418',
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
      disableBlinkFeatures: 'Auxclick',
      devTools: !app.isPackaged,
    },
  });
  // Backup paths, and where "Save as…" writes an attachment, come only from main's native file dialogs, never from the renderer.
  // Badge and notifications; a notification click opens its chat in the window.
  const attention = withAttention(withBackupFilePolicy(service, dialogPolicy(nativeFileDialog(dialog, window), nativeSaveAsDialog(dialog, window))), {
    setBadgeCount: (count) => void app.setBadgeCount(count),
    isFocused: () => !window.isDestroyed() && window.isFocused(),
    focus: () => {
      if (window.isDestroyed()) return;
      if (window.isMinimized()) window.restore();
      window.show();
      window.focus();
    },
    notify: (title, body, onClick) => {
      if (!Notification.isSupported()) return undefined;
      const n = new Notification({ title, body });
      n.on('click', onClick);
      n.show();
      return n;
    },
  });
  const unwireIpc = wireIpc(ipcMain, attention.service, window);
  const unwire = () => {
    unwireIpc();
    attention.dispose();
  };
  window.once('ready-to-show', () => window.show());

  let closed = false;
  const shutdown = async () => {
    if (closed) return;
    closed = true;
    unwire();
    await close();
  };
  app.on('window-all-closed', () => {
    void shutdown().finally(() => app.quit());
  });
  await window.loadURL(APP_ENTRY_URL);
  return { window, shutdown };
}
