// Electron entry point (bundled to dist/app/main.js by scripts/build-app.ts). The messenger is
// imported statically so the bundle contains it (tsx-style runtime imports of .ts files do not
// work inside a packaged app).
import { app, dialog } from 'electron';
import { openMessenger } from '../messenger.ts';
import { startApp } from './app.ts';

// scripts/start.ts passes the profile and the local relay's descriptor through the environment.
const serverDescriptorPath = process.env.EPHEMERA_SERVER_DESCRIPTOR;

startApp({
  openService: async (profileDir) => {
    const messenger = await openMessenger({
      profileDir: process.env.EPHEMERA_PROFILE ?? profileDir,
      ...(serverDescriptorPath ? { serverDescriptorPath } : {}),
    });
    return { service: messenger, close: () => messenger.close() };
  },
}).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  dialog.showErrorBox('Ephemera could not start', message);
  app.exit(1);
});
