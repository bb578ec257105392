// A thin stand-in for the parts of the `electron` module main/app uses. It records what the
// shell configures and lets tests fire the events Electron would fire. No behaviour of its own.
type Listener = (...args: unknown[]) => void;

export class FakeEmitter {
  readonly listeners = new Map<string, Listener[]>();
  on(name: string, listener: Listener): this {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
    return this;
  }
  once(name: string, listener: Listener): this {
    return this.on(name, listener);
  }
  emit(name: string, ...args: unknown[]): void {
    for (const l of this.listeners.get(name) ?? []) l(...args);
  }
}

export class FakeFrame {
  constructor(public url: string) {}
}

export class FakeWebContents extends FakeEmitter {
  mainFrame = new FakeFrame('');
  windowOpenHandler: ((details: { url: string; features?: string }) => { action: string }) | undefined;
  sent: unknown[][] = [];
  setWindowOpenHandler(handler: (details: { url: string; features?: string }) => { action: string }): void {
    this.windowOpenHandler = handler;
  }
  send(...args: unknown[]): void {
    this.sent.push(args);
  }
}

export function createFakeElectron() {
  const state = {
    windows: [] as FakeBrowserWindow[],
    privilegedSchemes: [] as unknown[],
    protocolHandlers: new Map<string, (request: Request) => Response | Promise<Response>>(),
    ipcHandlers: new Map<string, (event: unknown, ...args: unknown[]) => unknown>(),
    exposed: new Map<string, unknown>(),
    openedExternal: [] as string[],
    sandboxEnabled: false,
    menu: undefined as unknown,
    permissionRequestHandler: undefined as undefined | ((wc: unknown, permission: string, cb: (granted: boolean) => void) => void),
    permissionCheckHandler: undefined as undefined | ((...args: unknown[]) => boolean),
    devicePermissionHandler: undefined as undefined | ((...args: unknown[]) => boolean),
    beforeRequest: undefined as undefined | ((details: { url: string }, cb: (r: { cancel: boolean }) => void) => void),
    rendererListeners: new Map<string, Listener[]>(),
    invoked: [] as unknown[][],
    /** What the next file dialog answers (a path, or undefined: cancelled); each shown dialog is recorded. */
    dialogAnswers: [] as (string | undefined)[],
    dialogsShown: [] as { kind: 'save' | 'open'; window: unknown; options: Record<string, unknown> }[],
    badgeCounts: [] as number[],
    notifications: [] as FakeNotification[],
    focused: false,
  };

  class FakeNotification extends FakeEmitter {
    shown = false;
    closed = false;
    constructor(public options: { title: string; body: string }) {
      super();
      state.notifications.push(this);
    }
    static isSupported() {
      return true;
    }
    show() {
      this.shown = true;
    }
    close() {
      this.closed = true;
    }
  }
  const appEmitter = new FakeEmitter();

  class FakeBrowserWindow extends FakeEmitter {
    webContents = new FakeWebContents();
    destroyed = false;
    constructor(public options: { webPreferences?: Record<string, unknown> }) {
      super();
      state.windows.push(this);
      appEmitter.emit('web-contents-created', {}, this.webContents);
    }
    isDestroyed() {
      return this.destroyed;
    }
    async loadURL(url: string) {
      this.webContents.mainFrame.url = url;
    }
    show() {}
    isFocused() {
      return state.focused;
    }
    isMinimized() {
      return false;
    }
    restore() {}
    focus() {
      state.focused = true;
    }
  }

  const electron = {
    app: Object.assign(appEmitter, {
      enableSandbox: () => {
        state.sandboxEnabled = true;
      },
      requestSingleInstanceLock: () => true,
      whenReady: () => Promise.resolve(),
      getAppPath: () => '/nonexistent-app',
      getPath: () => '/nonexistent-user-data',
      isPackaged: true,
      quit: () => {},
      exit: () => {},
      setBadgeCount: (count: number) => {
        state.badgeCounts.push(count);
        return true;
      },
    }),
    Notification: FakeNotification,
    BrowserWindow: FakeBrowserWindow,
    Menu: { setApplicationMenu: (menu: unknown) => (state.menu = menu) },
    protocol: {
      registerSchemesAsPrivileged: (schemes: unknown[]) => state.privilegedSchemes.push(...schemes),
      handle: (scheme: string, handler: (request: Request) => Response) => state.protocolHandlers.set(scheme, handler),
    },
    session: {
      defaultSession: {
        setPermissionRequestHandler: (h: typeof state.permissionRequestHandler) => (state.permissionRequestHandler = h),
        setPermissionCheckHandler: (h: typeof state.permissionCheckHandler) => (state.permissionCheckHandler = h),
        setDevicePermissionHandler: (h: typeof state.devicePermissionHandler) => (state.devicePermissionHandler = h),
        webRequest: { onBeforeRequest: (h: typeof state.beforeRequest) => (state.beforeRequest = h) },
      },
    },
    shell: {
      openExternal: async (url: string) => {
        state.openedExternal.push(url);
      },
    },
    ipcMain: {
      handle: (channel: string, fn: (event: unknown, ...args: unknown[]) => unknown) => state.ipcHandlers.set(channel, fn),
      removeHandler: (channel: string) => state.ipcHandlers.delete(channel),
    },
    dialog: {
      showErrorBox: () => {},
      showSaveDialog: async (window: unknown, options: Record<string, unknown>) => {
        state.dialogsShown.push({ kind: 'save', window, options });
        const answer = state.dialogAnswers.shift();
        return answer === undefined ? { canceled: true, filePath: '' } : { canceled: false, filePath: answer };
      },
      showOpenDialog: async (window: unknown, options: Record<string, unknown>) => {
        state.dialogsShown.push({ kind: 'open', window, options });
        const answer = state.dialogAnswers.shift();
        return answer === undefined ? { canceled: true, filePaths: [] } : { canceled: false, filePaths: [answer] };
      },
    },
    contextBridge: { exposeInMainWorld: (key: string, value: unknown) => state.exposed.set(key, value) },
    ipcRenderer: {
      invoke: async (...args: unknown[]) => {
        state.invoked.push(args);
        return { ok: true, value: undefined };
      },
      on: (channel: string, l: Listener) => state.rendererListeners.set(channel, [...(state.rendererListeners.get(channel) ?? []), l]),
      removeListener: (channel: string, l: Listener) =>
        state.rendererListeners.set(channel, (state.rendererListeners.get(channel) ?? []).filter((x) => x !== l)),
    },
  };
  return { electron, state, FakeBrowserWindow };
}

export type FakeElectron = ReturnType<typeof createFakeElectron>;
