// Electron entry point (bundled to dist/app/main.js by scripts/build-app.ts).
import { app, dialog } from 'electron';
import { loadService } from '../web/service-loader.ts';
import { startApp } from './app.ts';

// scripts/start.ts passes the profile and the local relay's descriptor through the environment.
const serverDescriptorPath = process.env.EPHEMERA_SERVER_DESCRIPTOR;
startApp({
  openService: (profileDir) => loadService({ profileDir: process.env.EPHEMERA_PROFILE ?? profileDir, ...(serverDescriptorPath ? { serverDescriptorPath } : {}) }),
}).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  dialog.showErrorBox('Ephemera could not start', message);
  app.exit(1);
});
