// Builds what the app runs from: the renderer (dist/renderer) and, for Electron, the main
// process (dist/app/main.js) and the sandboxed preload (dist/app/preload.cjs, a single file:
// a sandboxed preload can require nothing but 'electron').
// `tsx scripts/build-app.ts [renderer|electron|all]` (default all).
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'vite';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const RENDERER_OUT = path.join(ROOT, 'dist', 'renderer');
export const APP_OUT = path.join(ROOT, 'dist', 'app');

export function rendererBuilt(): boolean {
  return fs.existsSync(path.join(RENDERER_OUT, 'index.html'));
}

export async function buildRenderer(): Promise<void> {
  await build({ configFile: path.join(ROOT, 'renderer', 'vite.config.ts'), logLevel: 'warn' });
}

export async function buildPreload(outDir = APP_OUT): Promise<string> {
  await build({
    configFile: false,
    logLevel: 'warn',
    root: ROOT,
    build: {
      outDir,
      emptyOutDir: false,
      minify: false,
      target: 'chrome130',
      lib: { entry: path.join(ROOT, 'main', 'app', 'preload.ts'), formats: ['cjs'], fileName: () => 'preload.cjs' },
      rollupOptions: { external: ['electron'] },
    },
  });
  return path.join(outDir, 'preload.cjs');
}

export async function buildElectronMain(outDir = APP_OUT): Promise<string> {
  await build({
    configFile: false,
    logLevel: 'warn',
    root: ROOT,
    build: {
      outDir,
      emptyOutDir: false,
      minify: false,
      target: 'node20',
      ssr: path.join(ROOT, 'main', 'app', 'main.ts'),
      rollupOptions: { external: ['electron'], output: { format: 'es', entryFileNames: 'main.js' } },
    },
  });
  return path.join(outDir, 'main.js');
}

async function cli(): Promise<void> {
  const what = process.argv[2] ?? 'all';
  if (what === 'renderer' || what === 'all') await buildRenderer();
  if (what === 'electron' || what === 'all') {
    await buildPreload();
    await buildElectronMain();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) await cli();
