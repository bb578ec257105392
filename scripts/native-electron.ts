// Builds better-sqlite3's addon for Electron's ABI into .native/electron-VERSION/, beside (never
// over) the Node build that `npm test` uses. `npm start` calls it once Electron's binary is
// there; the path goes to the app as EPHEMERA_SQLITE_BINDING (main/vault/sqlite-binding.ts).
// argon2 and libsignal are N-API and load in both runtimes unchanged.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './build-app.ts';

export function electronSqliteBindingPath(electronVersion: string): string {
  return path.join(ROOT, '.native', `electron-${electronVersion}`, 'better_sqlite3.node');
}

function nodeGyp(): string[] {
  // npm ships node-gyp; npm scripts expose its path.
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && fs.existsSync(fromNpm)) return [process.execPath, fromNpm];
  return ['npx', '--no-install', 'node-gyp'];
}

export function ensureElectronSqlite(electronVersion: string): { ok: true; binding: string } | { ok: false; reason: string } {
  if (!/^\d+\.\d+\.\d+$/.test(electronVersion)) return { ok: false, reason: `unexpected Electron version ${electronVersion}` };
  const binding = electronSqliteBindingPath(electronVersion);
  if (fs.existsSync(binding)) return { ok: true, binding };
  const work = path.join(ROOT, '.native', `electron-${electronVersion}`, 'build-tree');
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(work), { recursive: true });
  fs.cpSync(path.join(ROOT, 'node_modules', 'better-sqlite3'), work, { recursive: true, filter: (src) => !src.includes(`${path.sep}build${path.sep}`) });
  const [cmd, ...pre] = nodeGyp();
  const run = spawnSync(cmd as string, [...pre, 'rebuild', '--release', '--runtime=electron', `--target=${electronVersion}`, '--dist-url=https://electronjs.org/headers'], {
    cwd: work,
    encoding: 'utf8',
    timeout: 600_000,
  });
  const built = path.join(work, 'build', 'Release', 'better_sqlite3.node');
  if (run.status !== 0 || !fs.existsSync(built)) {
    const firstLine = `${run.stderr ?? ''}\n${run.error?.message ?? ''}`.split('\n').map((l) => l.trim()).find((l) => l.startsWith('gyp ERR!') || l.includes('Error')) ?? `exit code ${run.status}`;
    return { ok: false, reason: `better-sqlite3 could not be built for Electron ${electronVersion} (${firstLine})` };
  }
  fs.copyFileSync(built, binding);
  fs.rmSync(work, { recursive: true, force: true });
  return { ok: true, binding };
}
