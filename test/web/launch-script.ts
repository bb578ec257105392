// Shared by the `npm start` and `npm run demo` tests: runs a script as a child process, reads
// its stdout line by line, stands in a stub for the browser command, and checks that a printed
// address really serves the app.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');

export interface RunningScript {
  child: ChildProcess;
  lines: string[];
  stderr(): string;
  /** Resolves with the first stdout line matching `re` (fails if the script exits first). */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal: NodeJS.Signals): Promise<number | null>;
}

export function runScript(script: string, args: string[], env: NodeJS.ProcessEnv): RunningScript {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, script), ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    stderr: () => stderr,
    async line(re, timeoutMs = 240_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find((l) => re.test(l));
        if (found !== undefined) return found;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${script} exited (${child.exitCode}) before printing ${re}; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`);
        if (Date.now() > deadline) throw new Error(`${script} printed no ${re}; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * A stand-in for Chromium. 'fail' exits 1 at once with Chromium's no-display complaint on stderr;
 * 'stay' records its pid and arguments and stays up like a window would, until `crash(pid)`
 * makes it fail late (exit 1 with a FATAL line), as a crashing browser would.
 */
export function browserStub(
  dir: string,
  kind: 'fail' | 'stay',
): { command: string; started(): Array<{ pid: number; args: string[] }>; crash(pid: number): void } {
  fs.mkdirSync(dir, { recursive: true });
  const command = path.join(dir, `browser-${kind}`);
  const log = path.join(dir, `browser-${kind}.log`);
  const body =
    kind === 'fail'
      ? `printf '%s\\n' "$$ $*" >> '${log}'\necho '[4242:4242:1203/130000.000000:ERROR:ozone_platform_x11.cc(245)] Missing X server or $DISPLAY' >&2\necho '[4242:4242:1203/130000.000000:ERROR:env.cc(257)] The platform failed to initialize.  Exiting.' >&2\nexit 1\n`
      : `printf '%s\\n' "$$ $*" >> '${log}'\nwhile [ ! -e '${dir}/crash-'$$ ]; do sleep 0.2; done\necho '[4242:4242:1203/130000.000000:FATAL:gpu_data_manager_impl_private.cc(415)] GPU process isn'"'"'t usable. Goodbye.' >&2\nexit 1\n`;
  fs.writeFileSync(command, `#!/bin/sh\n${body}`, { mode: 0o755 });
  return {
    command,
    crash: (pid) => fs.writeFileSync(path.join(dir, `crash-${pid}`), ''),
    started: () =>
      fs.existsSync(log)
        ? fs
            .readFileSync(log, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => {
              const [pid, ...args] = l.split(' ');
              return { pid: Number(pid), args };
            })
        : [],
  };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The address serves the app: the page itself (200, HTML) comes back. The address is treated as
 * opaque: if the host answers it with a redirect that sets a session, the redirect is followed
 * with that session, as a browser would.
 */
export async function expectServesApp(address: string): Promise<void> {
  let response = await fetch(address, { redirect: 'manual' });
  const location = response.headers.get('location');
  if (response.status >= 300 && response.status < 400 && location) {
    const cookie = response.headers.get('set-cookie')?.split(';')[0];
    response = await fetch(new URL(location, address), { redirect: 'manual', headers: cookie ? { cookie } : {} });
  }
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  expect(await response.text()).toContain('<div id="root">');
}

/** The environment for a script under test: its own config folder and display, no inherited browser choice. */
export function scriptEnv(home: string, extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config') };
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;
  delete env.EPHEMERA_BROWSER;
  delete env.GLIBC_TUNABLES; // start.ts adds its own (scripts/huge-page-malloc.ts); the tests check it does
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}
