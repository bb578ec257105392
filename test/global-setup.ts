// Runs once before the test files: makes sure dist/renderer (served by the browser test and the
// web-host CLI test) is built from the current sources. Building here, once, keeps two test files
// from rebuilding the same folder while the other reads it; an up-to-date build is left alone so
// a run of unrelated tests does not pay for it.
import fs from 'node:fs';
import path from 'node:path';
import { buildRenderer, RENDERER_OUT, ROOT } from '../scripts/build-app.ts';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

export default async function setup(): Promise<void> {
  const index = path.join(RENDERER_OUT, 'index.html');
  const sources = Math.max(newestMtime(path.join(ROOT, 'renderer')), newestMtime(path.join(ROOT, 'shared')));
  if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= sources) return;
  await buildRenderer();
}
