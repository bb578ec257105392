// Opening browser mode in a Chromium --app window for `npm start` and `npm run demo`, and
// finding out whether it really opened. Chromium that cannot start (no display, root without
// --no-sandbox, missing libraries) exits within a second or two, so a window counts as open only
// once its process has stayed up for WINDOW_WATCH_MS; its stderr is kept to say why it did not.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/** Names the browser command to use instead of looking for Chromium (tests point it at a stub). */
export const BROWSER_ENV = 'EPHEMERA_BROWSER';
export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];
export const WINDOW_WATCH_MS = 5000;

export type Choice = { ok: true; command: string } | { ok: false; reason: string };

/** Why no window of any kind (Electron or Chromium) can appear, or undefined if one can. */
export function noDisplayReason(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string | undefined {
  // Windows and macOS always have a desktop for a logged-in user; X11/Wayland systems need one of these.
  if (platform === 'win32' || platform === 'darwin') return undefined;
  if (env.DISPLAY || env.WAYLAND_DISPLAY) return undefined;
  return 'there is no display ($DISPLAY and $WAYLAND_DISPLAY are unset), so no app window can open';
}

/** The browser command for the app window: $EPHEMERA_BROWSER, else the first Chromium installed. */
export function chooseBrowser(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, candidates = CHROMIUM_CANDIDATES): Choice {
  const noDisplay = noDisplayReason(env, platform);
  if (noDisplay) return { ok: false, reason: noDisplay };
  const configured = env[BROWSER_ENV];
  if (configured) {
    return fs.existsSync(configured) ? { ok: true, command: configured } : { ok: false, reason: `${BROWSER_ENV} names ${configured}, which does not exist` };
  }
  const found = candidates.find((p) => fs.existsSync(p));
  return found ? { ok: true, command: found } : { ok: false, reason: `no Chromium was found (looked for ${candidates.join(', ')}; ${BROWSER_ENV} names another)` };
}

/** Chromium's complaints that accompany any failed start but never explain it (no D-Bus in a container, fonts, audio). */
const NOISE = /d-?bus|\bbus\b|fontconfig|libva|alsa|pulseaudio|gcm|gpu process/i;

/**
 * The one line of a failed browser's stderr that says why: its first FATAL, else its first ERROR
 * that is not noise, else any line naming a failure, else the last line; without Chromium's
 * [pid:tid:time:LEVEL:file] prefix.
 */
export function reasonLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((raw) => {
      const m = /^\[[^\]]*?:(FATAL|ERROR|WARNING|INFO|VERBOSE\d*):[^\]]*\]\s*(.*)$/.exec(raw.trim());
      return { level: m?.[1] ?? '', text: (m ? m[2]! : raw).trim() };
    })
    .filter((l) => l.text);
  const pick =
    lines.find((l) => l.level === 'FATAL') ??
    lines.find((l) => l.level === 'ERROR' && !NOISE.test(l.text)) ??
    lines.find((l) => /error|fatal|cannot|can't|not supported|missing|failed/i.test(l.text) && !NOISE.test(l.text)) ??
    lines[lines.length - 1];
  const line = pick?.text ?? '';
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

export type Watched =
  | {
      ok: true;
      child: ChildProcess;
      /** Resolves when the process ends: whether it failed (not a plain exit 0, e.g. the user closing the window), and why. */
      ended: Promise<{ failed: boolean; reason: string }>;
    }
  | { ok: false; reason: string };

/**
 * Waits until `child` has stayed up for `watchMs` (ok) or has failed to start or exited (the
 * reason, with the first error from its stderr). Its stderr stays drained afterwards, so a
 * chatty browser never blocks on a full pipe; `echo` also passes it on (Electron's log).
 */
export function watchStart(child: ChildProcess, what: string, watchMs = WINDOW_WATCH_MS, echo?: NodeJS.WritableStream): Promise<Watched> {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr = (stderr + d).slice(-16_000);
    echo?.write(d);
  });
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: Watched) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const ended = new Promise<{ failed: boolean; reason: string }>((resolveEnded) =>
      child.once('exit', (code, signal) => {
        const why = reasonLine(stderr);
        resolveEnded({ failed: code !== 0, reason: `${what} exited (${code !== null ? `exit code ${code}` : `signal ${signal}`}${why ? `: ${why}` : ''})` });
      }),
    );
    const timer = setTimeout(() => finish({ ok: true, child, ended }), watchMs);
    child.once('error', (error) => finish({ ok: false, reason: `${what} could not be started (${error.message})` }));
    child.once('exit', (code, signal) => {
      const failed = () => {
        const why = reasonLine(stderr);
        finish({ ok: false, reason: `${what} exited at once (${code !== null ? `exit code ${code}` : `signal ${signal}`}${why ? `: ${why}` : ''})` });
      };
      // Its last words may still be in the pipe; wait briefly for the end of stderr.
      if (!child.stderr || child.stderr.readableEnded) return failed();
      const grace = setTimeout(failed, 500);
      child.stderr.once('end', () => (clearTimeout(grace), failed()));
    });
  });
}

/** Whether this process runs as root, where Chromium refuses to start with its sandbox. */
export function runningAsRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Starts `command` as an --app window on `url` with its own profile folder, and watches it. */
export function openAppWindow(command: string, url: string, userDataDir: string, watchMs = WINDOW_WATCH_MS): Promise<Watched> {
  const args = [
    `--app=${url}`,
    `--user-data-dir=${userDataDir}`,
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-sync',
    '--disable-background-networking',
    // Chromium's sandbox cannot run as root, and Chromium refuses to start as root without this.
    // The window shows only our own loopback page under a strict CSP; the sentence printed says so.
    ...(runningAsRoot() ? ['--no-sandbox'] : []),
  ];
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return watchStart(child, `Chromium (${command})`, watchMs);
}
