// `npm start`: build what is missing, start a local relay unless told not to, then open the
// app: Electron if its binary is (or can be) installed and its window stays up, else browser mode
// in a Chromium --app window that stays up, else browser mode with the URL printed on its own
// line, served until Ctrl+C. One stdout line says which happened and why; nothing exits 0
// while leaving the user without an app. $EPHEMERA_BROWSER picks the browser command.
//
//   npm start [-- --profile DIR] [--server DESCRIPTOR_FILE] [--no-relay] [--browser]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Command } from 'commander';
import { buildElectronMain, buildPreload, buildRenderer, rendererBuilt, ROOT } from './build-app.ts';
import { ensureElectronSqlite } from './native-electron.ts';
import { SQLITE_BINDING_ENV } from '../main/vault/sqlite-binding.ts';
import { chooseBrowser, noDisplayReason, openAppWindow, runningAsRoot, watchStart, WINDOW_WATCH_MS } from './app-window.ts';
import { relaunchedWithHugePageMalloc, stopWithLauncher } from './huge-page-malloc.ts';

/** Per-OS user data directory, as Electron's app.getPath('userData') would choose. */
export function userDataDir(): string {
  const home = os.homedir();
  if (process.platform === 'win32') return path.join(process.env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), 'Ephemera');
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Application Support', 'Ephemera');
  return path.join(process.env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'Ephemera');
}

/** The Electron binary, installing it with electron's own install.js on first use. */
export function ensureElectron(): { ok: true; binary: string } | { ok: false; reason: string } {
  const dir = path.join(ROOT, 'node_modules', 'electron');
  const binaryFrom = (): string | undefined => {
    const pathFile = path.join(dir, 'path.txt');
    if (!fs.existsSync(pathFile)) return undefined;
    const binary = path.join(dir, 'dist', fs.readFileSync(pathFile, 'utf8').trim());
    return fs.existsSync(binary) ? binary : undefined;
  };
  const existing = binaryFrom();
  if (existing) return { ok: true, binary: existing };
  if (!fs.existsSync(path.join(dir, 'install.js'))) return { ok: false, reason: 'the electron package is not installed' };
  const run = spawnSync(process.execPath, [path.join(dir, 'install.js')], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
  const installed = binaryFrom();
  if (run.status === 0 && installed) return { ok: true, binary: installed };
  const firstLine = `${run.stderr ?? ''}\n${run.error?.message ?? ''}`.split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('at ')) ?? `exit code ${run.status}`;
  return { ok: false, reason: `its binary could not be downloaded (${firstLine})` };
}

/** Electron plus the SQLite addon built for its ABI (the Node build stays for `npm test`). */
function ensureElectronWithSqlite(): { ok: true; binary: string; sqliteBinding: string } | { ok: false; reason: string } {
  const electron = ensureElectron();
  if (!electron.ok) return electron;
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'electron', 'package.json'), 'utf8')) as { version?: unknown }).version;
  const sqlite = ensureElectronSqlite(typeof version === 'string' ? version : '');
  if (!sqlite.ok) return { ok: false, reason: sqlite.reason };
  return { ok: true, binary: electron.binary, sqliteBinding: sqlite.binding };
}

interface RelayHandle {
  descriptorFile: string;
  child: ChildProcess;
}

/** Starts the local relay (data in the user data directory) and waits for its descriptor. */
async function startLocalRelay(dataDir: string): Promise<RelayHandle> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli', 'ephemera-relay.ts'), '--data', dataDir], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const descriptorFile = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the local relay did not start within 60 s')), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the local relay exited (code ${code}); is port 8443 in use?`));
    });
    lines.on('line', (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; descriptor?: string };
        if (event.event === 'listening' && typeof event.descriptor === 'string') {
          clearTimeout(timer);
          resolve(event.descriptor);
        }
      } catch {
        // not a status line
      }
    });
  });
  return { descriptorFile, child };
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  if (relaunchedWithHugePageMalloc((error) => say(`Ephemera: cannot start: ${error.message}`))) return;
  stopWithLauncher();
  const program = new Command()
    .name('npm start')
    .option('--profile <dir>', 'profile directory (default: in the user data directory)')
    .option('--server <file>', 'server descriptor of the relay to use (no local relay is started)')
    .option('--no-relay', 'do not start a local relay')
    .option('--browser', 'skip Electron and use browser mode')
    .parse();
  const opts = program.opts<{ profile?: string; server?: string; relay: boolean; browser?: boolean }>();
  const dataDir = userDataDir();
  const profile = path.resolve(opts.profile ?? path.join(dataDir, 'profile'));

  if (!rendererBuilt()) {
    process.stderr.write('Building the renderer (first start)…\n');
    await buildRenderer();
  }

  const children: ChildProcess[] = [];
  const stopChildren = () => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGTERM'));
  process.once('exit', stopChildren);

  let descriptor = opts.server ? path.resolve(opts.server) : undefined;
  if (!descriptor && opts.relay) {
    const relay = await startLocalRelay(path.join(dataDir, 'relay'));
    children.push(relay.child);
    descriptor = relay.descriptorFile;
    process.stderr.write(`Local relay running; descriptor: ${descriptor}\n`);
  }

  // No display: neither Electron nor Chromium can show a window, so do not fetch or start either.
  const noDisplay = noDisplayReason();
  let electronReason: string;
  if (opts.browser) electronReason = '--browser was given';
  else if (noDisplay) electronReason = noDisplay;
  else {
    const electron = ensureElectronWithSqlite();
    if (electron.ok) {
      await buildPreload();
      await buildElectronMain();
      process.stderr.write('Starting the Electron app…\n');
      const app = spawn(electron.binary, [path.join(ROOT, 'dist', 'app', 'main.js')], {
        stdio: ['ignore', 'inherit', 'pipe'],
        env: {
          ...process.env,
          EPHEMERA_PROFILE: profile,
          [SQLITE_BINDING_ENV]: electron.sqliteBinding,
          ...(descriptor ? { EPHEMERA_SERVER_DESCRIPTOR: descriptor } : {}),
        },
      });
      const watched = await watchStart(app, 'Electron', WINDOW_WATCH_MS, process.stderr);
      if (watched.ok) {
        say('Ephemera: running as the Electron app.');
        children.push(app);
        let stoppingApp = false;
        app.once('exit', (code) => {
          stopChildren();
          // Killed by a signal we did not send (a crash): not a clean end.
          process.exit(code ?? (stoppingApp ? 0 : 1));
        });
        const stopApp = () => {
          stoppingApp = true;
          app.kill('SIGTERM');
        };
        process.on('SIGINT', stopApp);
        process.on('SIGTERM', stopApp);
        return;
      }
      electronReason = watched.reason;
    } else {
      electronReason = electron.reason;
    }
  }

  // Browser mode: the same service and renderer over the loopback web host.
  const { runWeb } = await import('../cli/ephemera-web.ts');
  let running: Awaited<ReturnType<typeof runWeb>>;
  try {
    running = await runWeb({ profile, port: 0, ...(descriptor ? { server: descriptor } : {}) });
  } catch (error) {
    say(`Ephemera: cannot start: Electron is unavailable (${electronReason}) and browser mode failed: ${error instanceof Error ? error.message : String(error)}`);
    stopChildren();
    process.exit(1);
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void running.stop().finally(() => {
      stopChildren();
      process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const browser = chooseBrowser();
  let windowReason: string;
  if (browser.ok) {
    process.stderr.write(`Opening a Chromium app window (${browser.command})…\n`);
    // The URL is in Chromium's command line, which other local users can read (/proc/PID/cmdline),
    // so it carries only a one-time launch code: Chromium spends it on its first request, and
    // later uses are refused. Chromium has no way to take the start URL from a private file
    // (its flags, even from Debian's wrapper, end up on the command line too), so a race
    // remains: see docs/ui.md "Browser mode".
    const window = await openAppWindow(browser.command, running.url, path.join(dataDir, 'chromium'));
    if (window.ok) {
      children.push(window.child);
      const sandbox = runningAsRoot() ? ', without its sandbox because this runs as root' : '';
      say(`Ephemera: running in browser mode in a Chromium app window (${browser.command}${sandbox}); Electron is unavailable (${electronReason}). Close the window or press Ctrl+C here to stop.`);
      void window.ended.then(({ failed, reason }) => {
        // Closing the window ends Ephemera, as closing the Electron app would. A window that
        // crashed or failed late must not take the app with it: fall back to the URL.
        if (!failed || stopping) return stop();
        say(`Ephemera: still running in browser mode: ${reason}. Open this address in your browser (if it says it was already used, restart Ephemera); press Ctrl+C here to stop:`);
        say(running.url);
      });
      return;
    }
    windowReason = window.reason;
  } else {
    windowReason = browser.reason;
  }
  const why = electronReason === noDisplay ? noDisplay : `Electron is unavailable (${electronReason}) and ${windowReason}`;
  say(`Ephemera: running in browser mode: ${why}. Open this address in your browser (it works once); press Ctrl+C here to stop:`);
  say(running.url);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  main().catch((error: unknown) => {
    say(`Ephemera: cannot start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
