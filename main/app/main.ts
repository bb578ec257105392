// Electron entry point (bundled to dist/app/main.js by scripts/build-app.ts).
import { app, dialog } from 'electron';
import { loadService } from '../web/service-loader.ts';
import { startApp } from './app.ts';

startApp({ openService: (profileDir) => loadService({ profileDir }) }).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  dialog.showErrorBox('Ephemera could not start', message);
  app.exit(1);
});
