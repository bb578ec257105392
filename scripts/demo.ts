// `npm run demo`: a local relay and two profiles, alice and bob, each with a vault, registered
// and introduced to each other, ready to chat in two windows (Chromium --app windows if they
// open and stay up, else the two URLs are printed, each on its own line). Set-up goes through the
// same API the UI uses, over each browser host's socket; that uses up the hosts' one-time launch
// addresses, so the windows get freshly started hosts. Demo data (relay, profiles, Chromium
// profiles) lives in <user data>/demo, is replaced on each run and deleted when the demo stops,
// unless --keep (or --setup-only, whose whole point is the data) is given.
//
//   npm run demo [-- --dir DIR] [--no-open] [--setup-only] [--keep]
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { Command } from 'commander';
import { createApiClient, type EphemeraClient } from '../shared/api/rpc.ts';
import { connectLaunchUrl } from '../main/web/launch-client.ts';
import { buildRenderer, rendererBuilt, ROOT } from './build-app.ts';
import { userDataDir } from './start.ts';
import { chooseBrowser, openAppWindow, runningAsRoot, type Choice } from './app-window.ts';

export const DEMO_PASSWORD = 'ephemera demo password';
const MARKER = '.ephemera-demo';
const children: ChildProcess[] = [];

function startChild(args: string[], pick: (line: string) => string | undefined): Promise<{ child: ChildProcess; value: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const lines = readline.createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start in 90 s`)), 90_000);
    child.once('exit', (code) => reject(new Error(`${args[0]} exited (${code}): ${stderr.trim()}`)));
    lines.on('line', (line) => {
      const value = pick(line);
      if (value !== undefined) {
        clearTimeout(timer);
        resolve({ child, value });
      }
    });
  });
}

/** Uses the host's one-time launch URL up, so its printed URL no longer works afterwards. */
async function connectClient(launchUrl: string): Promise<{ client: EphemeraClient; close(): void }> {
  const transport = await connectLaunchUrl(launchUrl);
  return { client: createApiClient(transport), close: () => transport.close() };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    // A child that ignores SIGTERM must not keep the demo (and its data) around forever.
    const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => (clearTimeout(force), resolve()));
    child.kill('SIGTERM');
  });
}

async function setUp(client: EphemeraClient, handle: string): Promise<void> {
  const status = await client.vaultStatus();
  if (status.vault !== 'none') throw new Error(`the ${handle} profile is not new`);
  const { recoveryPhrase } = await client.createVault({ password: DEMO_PASSWORD });
  await client.confirmRecoveryPhrase({ recoveryPhrase });
  await client.register({ handle });
}

/** The demo folder to delete on the way out (set once this run made it, unless kept). */
let throwaway: string | undefined;

/** Stops every child (relay, hosts, windows) and waits for them, then deletes the demo data unless kept. */
let stopping = false;

async function shutdown(code: number): Promise<never> {
  stopping = true;
  await Promise.all(children.map((c) => stopChild(c)));
  // The children are gone, so nothing writes into the folder any more.
  if (throwaway) fs.rmSync(throwaway, { recursive: true, force: true });
  process.exit(code);
}

async function main(): Promise<void> {
  const opts = new Command()
    .name('npm run demo')
    .option('--dir <dir>', 'where demo data goes (replaced on each run, deleted when the demo stops)', path.join(userDataDir(), 'demo'))
    .option('--no-open', 'print the URLs instead of opening windows')
    .option('--setup-only', 'exit once both profiles are set up, keeping the data')
    .option('--keep', 'keep the demo data when the demo stops')
    .parse()
    .opts<{ dir: string; open: boolean; setupOnly?: boolean; keep?: boolean }>();
  const dir = path.resolve(opts.dir);
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
    // Only ever delete a folder this script made.
    if (!fs.existsSync(path.join(dir, MARKER))) throw new Error(`${dir} exists and is not a demo folder; choose another --dir`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, MARKER), 'Demo data made by `npm run demo`; replaced on each run.\n');
  if (!opts.keep && !opts.setupOnly) throwaway = dir;
  // From here on, a signal also stops the children and deletes the demo data.
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));
  if (!rendererBuilt()) await buildRenderer();

  const { value: descriptor } = await startChild(['cli/ephemera-relay.ts', '--data', path.join(dir, 'relay'), '--port', '0'], (line) => {
    try {
      const e = JSON.parse(line) as { event?: string; descriptor?: string };
      return e.event === 'listening' ? e.descriptor : undefined;
    } catch {
      return undefined;
    }
  });
  const web = (name: string) =>
    startChild(['cli/ephemera-web.ts', '--profile', path.join(dir, name), '--server', descriptor], (l) => (l.startsWith('http://') ? l.trim() : undefined));
  // Set-up uses each host's one-time launch address; the windows get fresh hosts below.
  const setupHosts = await Promise.all([web('alice'), web('bob')]);
  const [alice, bob] = await Promise.all([connectClient(setupHosts[0].value), connectClient(setupHosts[1].value)]);
  try {
    await Promise.all([setUp(alice.client, 'alice'), setUp(bob.client, 'bob')]);
    const bobContact = await alice.client.contactAdd({ handle: 'bob' });
    await bob.client.contactAdd({ handle: 'alice' });
    await alice.client.sendText({ conversationId: bobContact.conversationId, text: 'Hi Bob! This is the Ephemera demo.' });
    // Wait until Bob has it, so the set-up hosts are not stopped with the message still in flight.
    const deadline = Date.now() + 60_000;
    while (!(await bob.client.conversationsList({})).some((c) => c.lastMessage?.direction === 'in')) {
      if (Date.now() > deadline) throw new Error('bob did not receive the welcome message within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    alice.close();
    bob.close();
  }

  await Promise.all(setupHosts.map((h) => stopChild(h.child)));
  if (opts.setupOnly) {
    process.stdout.write(`alice and bob are set up. Both vaults use the password "${DEMO_PASSWORD}". Demo data (kept): ${dir}\n`);
    return shutdown(0);
  }
  const hosts = await Promise.all([web('alice'), web('bob')]);
  const names = ['alice', 'bob'] as const;
  const kept = throwaway ? 'deleted when the demo stops; --keep keeps it' : 'kept';
  process.stdout.write(`Demo ready: alice and bob are registered and introduced; both vaults use the password "${DEMO_PASSWORD}". Demo data (${kept}): ${dir}\n`);
  const browser: Choice = opts.open ? chooseBrowser() : { ok: false, reason: '--no-open was given' };
  let reason: string;
  if (browser.ok) {
    process.stderr.write(`Opening two Chromium app windows (${browser.command})…\n`);
    const windows = await Promise.all(names.map((name, i) => openAppWindow(browser.command, hosts[i]!.value, path.join(dir, `chromium-${name}`))));
    const open = windows.flatMap((w) => (w.ok ? [w.child] : []));
    children.push(...open);
    const failed = windows.find((w) => !w.ok);
    if (!failed) {
      const sandbox = runningAsRoot() ? ', without their sandbox because this runs as root' : '';
      process.stdout.write(`Opened two Chromium app windows, alice's and bob's (${browser.command}${sandbox}). Close them or press Ctrl+C here to stop the demo.\n`);
      // Closing both windows ends the demo. A window that crashed or failed late does not: its
      // profile gets a fresh host, whose address is printed.
      let left = windows.length;
      for (const [i, w] of windows.entries()) {
        if (!w.ok) continue;
        void w.ended.then(async ({ failed, reason }) => {
          if (stopping) return;
          if (!failed) {
            if (--left === 0) await shutdown(0);
            return;
          }
          await stopChild(hosts[i]!.child);
          hosts[i] = await web(names[i]!);
          process.stdout.write(`${names[i]}'s window is gone: ${reason}. Open this address as ${names[i]} in your browser (it works once); Ctrl+C here stops the demo:\n${hosts[i]!.value}\n`);
        }).catch((error: unknown) => {
          process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
          void shutdown(1);
        });
      }
      return;
    }
    // One window without the other is no demo: close the survivor and print both addresses. Its
    // host's launch code may be spent, so that host is restarted.
    await Promise.all(open.map((c) => stopChild(c)));
    for (const [i, w] of windows.entries()) {
      if (w.ok) {
        await stopChild(hosts[i]!.child);
        hosts[i] = await web(names[i]!);
      }
    }
    reason = failed.reason;
  } else {
    reason = browser.reason;
  }
  process.stdout.write(`No app windows: ${reason}. Open each address below in its own browser window, the first as alice, the second as bob (each works once); press Ctrl+C here to stop the demo:\n`);
  for (const host of hosts) process.stdout.write(`${host.value}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  main().catch((error: unknown) => {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    void shutdown(1);
  });
}
