// Browser mode entry: `npm run web -- --profile DIR [--port N] [--server DESCRIPTOR_FILE] [--backup-dir DIR]`.
// Starts the service for the profile and the web host on 127.0.0.1; the FIRST line of stdout
// is the URL to open (it carries a one-time launch code: it works once). Everything else goes to stderr.
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { openMessenger } from '../main/messenger.ts';
import { startWebHost } from '../main/web/host.ts';
import { RENDERER_DIST } from '../main/web/static.ts';
import { relaunchedWithHugePageMalloc, stopWithLauncher } from '../scripts/huge-page-malloc.ts';

function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('must be a port number (0-65535)');
  return Number(value);
}

export interface WebOptions {
  profile: string;
  port: number;
  server?: string;
  /** Where backups are written and read (default: the profile's `backups/`). */
  backupDir?: string;
}

export function parseWebArgs(argv: readonly string[]): WebOptions {
  const program = new Command()
    .name('ephemera-web')
    .description('Run Ephemera in your browser, served from 127.0.0.1')
    .requiredOption('--profile <dir>', 'profile directory (created if missing)')
    .option('--port <n>', 'port on 127.0.0.1 (default: a free one)', parsePort, 0)
    .option('--server <file>', 'server descriptor file of the relay to use')
    .option('--backup-dir <dir>', "the only folder backups are exported to and imported or opened from (default: the profile's backups/)")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stderr.write(s), writeErr: (s) => process.stderr.write(s) });
  program.parse([...argv], { from: 'user' });
  const opts = program.opts<{ profile: string; port: number; server?: string; backupDir?: string }>();
  return {
    profile: path.resolve(opts.profile),
    port: opts.port,
    ...(opts.server ? { server: path.resolve(opts.server) } : {}),
    ...(opts.backupDir ? { backupDir: path.resolve(opts.backupDir) } : {}),
  };
}

export async function runWeb(options: WebOptions, rendererDir = path.resolve(import.meta.dirname, '..', RENDERER_DIST)): Promise<{ url: string; stop(): Promise<void> }> {
  if (!fs.existsSync(path.join(rendererDir, 'index.html'))) {
    throw new Error(`The renderer is not built (${rendererDir} is missing). Run: npx vite build --config renderer/vite.config.ts`);
  }
  if (options.server && !fs.existsSync(options.server)) throw new Error(`No server descriptor at ${options.server}.`);
  fs.mkdirSync(options.profile, { recursive: true, mode: 0o700 });
  const messenger = await openMessenger({ profileDir: options.profile, ...(options.server ? { serverDescriptorPath: options.server } : {}) });
  const backupDir = options.backupDir ?? path.join(options.profile, 'backups');
  const host = await startWebHost({ service: messenger, rendererDir, port: options.port, backupDir });
  return {
    url: host.url,
    stop: async () => {
      await host.close();
      await messenger.close();
    },
  };
}

async function main(): Promise<void> {
  let options: WebOptions;
  try {
    options = parseWebArgs(process.argv.slice(2));
  } catch {
    process.exitCode = 2;
    return;
  }
  // The app process, as `npm start` runs it: with glibc's malloc on huge pages (a child started
  // with the tunable; this process passes signals on and exits as it does).
  if (relaunchedWithHugePageMalloc((error) => process.stderr.write(`ephemera-web: ${error.message}\n`))) return;
  stopWithLauncher();
  try {
    const running = await runWeb(options);
    process.stdout.write(`${running.url}\n`);
    process.stderr.write('Ephemera is running in browser mode. Open the address above; press Ctrl+C to stop.\n');
    // Once: a terminal's Ctrl+C reaches this process twice when relaunched (from the terminal and
    // from the launcher); the second must not kill it before the vault is closed.
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      void running.stop().finally(() => process.exit(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  } catch (error) {
    process.stderr.write(`ephemera-web: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) void main();
