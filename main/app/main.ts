// Electron entry point (bundled to dist/app/main.js by scripts/build-app.ts). The messenger is
// imported statically so the bundle contains it (tsx-style runtime imports of .ts files do not
// work inside a packaged app).
import { app, dialog } from 'electron';
import { devEnv, markPackaged } from '../../shared/packaged.ts';
import { openMessenger } from '../messenger.ts';
import { startApp } from './app.ts';

// First, before anything reads the environment: a packaged app ignores development variables
// (the SQLite addon path, test hooks, the two below).
if (app.isPackaged) markPackaged();

// In development, scripts/start.ts passes the profile and the local relay's descriptor through
// the environment. A packaged app uses its own profile and the relay the user registers with.
const serverDescriptorPath = devEnv('EPHEMERA_SERVER_DESCRIPTOR');

startApp({
  openService: async (profileDir) => {
    const messenger = await openMessenger({
      profileDir: devEnv('EPHEMERA_PROFILE') ?? profileDir,
      ...(serverDescriptorPath ? { serverDescriptorPath } : {}),
    });
    return { service: messenger, close: () => messenger.close() };
  },
}).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  dialog.showErrorBox('Ephemera could not start', message);
  app.exit(1);
});
