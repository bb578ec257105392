// Renders the application icon (renderer/public/icon.svg, the source) to renderer/public/icon.png
// (512x512, transparent corners) with the installed Chromium, so no image tool is needed. The PNG
// is committed: the Electron window and electron-builder's installers use it, the browser-mode
// favicon uses the SVG.
//
//   npx tsx scripts/make-icon.ts
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_CANDIDATES } from './app-window.ts';
import { ROOT } from './build-app.ts';

const SIZE = 512;
const source = path.join(ROOT, 'renderer', 'public', 'icon.svg');
const target = path.join(ROOT, 'renderer', 'public', 'icon.png');

const executablePath = CHROMIUM_CANDIDATES.find((p) => fs.existsSync(p));
if (!executablePath) throw new Error('No Chromium found to render the icon with.');
const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: SIZE, height: SIZE } });
  const svg = fs.readFileSync(source, 'utf8');
  await page.setContent(`<!doctype html><body style="margin:0;background:transparent">${svg}</body>`);
  await page.locator('svg').screenshot({ path: target, omitBackground: true });
} finally {
  await browser.close();
}
process.stdout.write(`${path.relative(ROOT, target)}\n`);
