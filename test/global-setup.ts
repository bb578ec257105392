// Runs once before every test file: builds the renderer (dist/renderer), which the browser
// test and the web-host CLI test serve. Building it here, once, keeps two test files from
// rebuilding the same folder while the other reads it.
import { buildRenderer } from '../scripts/build-app.ts';

export default async function setup(): Promise<void> {
  await buildRenderer();
}
