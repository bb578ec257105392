// The app process asks glibc's malloc for transparent huge pages (Linux). Unlocking a large
// history writes fresh memory in bulk: the search index's image and SQLite's copy of it (160 MB
// each at a million messages). With 4 KiB pages every first touch is a page fault, and in VMs
// those are slow: at 1M the restore's deserialize took 640-700 ms in one block without, 93-110 ms
// with (docs/search.md). glibc reads the tunable once, at exec, so it must be in the environment
// the process starts with: `npm start` and `npm run web` (cli/ephemera-web.ts), the app process
// in browser mode, re-execute themselves with it (relaunchedWithHugePageMalloc) and the benches
// start their app processes with it. The command line (cli/ephemera.ts) does not: each command is
// its own short process, and a re-execution would add a second Node start to every one of them,
// most of which (send, sync, contacts) never restore a large index; set GLIBC_TUNABLES yourself
// for search or history commands on a large profile. Other systems ignore it (macOS, Windows,
// musl); a glibc older than 2.35 ignores an unknown tunable; THP set to "never" turns it off; a
// value the user set wins.

import { spawn } from 'node:child_process';
import os from 'node:os';

export const HUGE_PAGE_MALLOC_TUNABLE = 'glibc.malloc.hugetlb=1';

/** `env` with the tunable added on Linux, or `env` itself when nothing needs to change. */
export function withHugePageMalloc(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): NodeJS.ProcessEnv {
  if (platform !== 'linux') return env;
  const current = env.GLIBC_TUNABLES ?? '';
  const tunables = current.split(':').filter((t) => t !== '');
  if (tunables.some((t) => t.startsWith('glibc.malloc.hugetlb='))) return env;
  return { ...env, GLIBC_TUNABLES: [...tunables, HUGE_PAGE_MALLOC_TUNABLE].join(':') };
}

/**
 * Runs this script again, as a child, with glibc's huge-page tunable when it is missing (the app
 * process is this one in browser mode, and Electron inherits its environment); this process then
 * only passes signals on and exits as the child does. The child stays in this process group (a
 * group kill stops both) and has an IPC channel: when this process dies in a way that passes
 * nothing on (SIGKILL, a crash), the channel closes and the child stops as on SIGTERM
 * (stopWithLauncher), so no unlocked app is left running without its terminal.
 */
export function relaunchedWithHugePageMalloc(cannotStart: (error: Error) => void): boolean {
  const env = withHugePageMalloc(process.env);
  if (env === process.env) return false;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env });
  // A terminal's Ctrl+C reaches the child too: it takes a repeated signal as one (the handlers are idempotent).
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  child.once('error', (error) => {
    cannotStart(error);
    process.exit(1);
  });
  child.once('exit', (code, signal) => process.exit(code ?? 128 + (signal ? os.constants.signals[signal] : 0)));
  return true;
}

/**
 * In the child of relaunchedWithHugePageMalloc: the launcher gone means stop, as on SIGTERM. The
 * channel does not keep the child running: one that failed to start and has nothing left exits.
 */
export function stopWithLauncher(): void {
  if (!process.send) return;
  process.channel?.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
