// `npm run demo`: a local relay and two profiles, alice and bob, each with a vault, registered
// and introduced to each other, ready to chat in two windows (Chromium --app windows if one is
// installed, else the two URLs are printed). Set-up goes through the same API the UI uses, over
// each browser host's socket; that uses up the hosts' one-time launch addresses, so the windows
// get freshly started hosts. Demo data lives in <user data>/demo and is replaced on each run.
//
//   npm run demo [-- --dir DIR] [--no-open] [--setup-only]
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { Command } from 'commander';
import WebSocket from 'ws';
import { createApiClient, type EphemeraClient } from '../shared/api/rpc.ts';
import { createSocketTransport, type SocketLike } from '../shared/api/socket-client.ts';
import { redeemLaunchUrl } from '../main/web/launch-client.ts';
import { buildRenderer, rendererBuilt, ROOT } from './build-app.ts';
import { findChromium, userDataDir } from './start.ts';

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
  const session = await redeemLaunchUrl(launchUrl);
  const transport = createSocketTransport({
    connect: () => new WebSocket(session.socketUrl, { origin: session.origin, headers: { Cookie: session.cookie } }) as unknown as SocketLike,
  });
  return { client: createApiClient(transport), close: () => transport.close() };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
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

function stopAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
}

async function main(): Promise<void> {
  const opts = new Command()
    .name('npm run demo')
    .option('--dir <dir>', 'where demo data goes (replaced on each run)', path.join(userDataDir(), 'demo'))
    .option('--no-open', 'print the URLs instead of opening windows')
    .option('--setup-only', 'exit once both profiles are set up')
    .parse()
    .opts<{ dir: string; open: boolean; setupOnly?: boolean }>();
  const dir = path.resolve(opts.dir);
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
    // Only ever delete a folder this script made.
    if (!fs.existsSync(path.join(dir, MARKER))) throw new Error(`${dir} exists and is not a demo folder; choose another --dir`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, MARKER), 'Demo data made by `npm run demo`; replaced on each run.\n');
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
    startChild(['main/web/cli.ts', '--profile', path.join(dir, name), '--server', descriptor], (l) => (l.startsWith('http://') ? l.trim() : undefined));
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
    process.stdout.write(`alice and bob are set up. Both vaults use the password "${DEMO_PASSWORD}". Demo data: ${dir}\n`);
    stopAll();
    return;
  }
  const [aliceHost, bobHost] = await Promise.all([web('alice'), web('bob')]);
  const aliceUrl = aliceHost.value;
  const bobUrl = bobHost.value;
  process.stdout.write(`alice: ${aliceUrl}\nbob:   ${bobUrl}\n`);
  process.stdout.write(`Both vaults use the password "${DEMO_PASSWORD}". Demo data: ${dir}\n`);
  const chromium = opts.open ? findChromium() : undefined;
  if (chromium) {
    for (const [name, url] of [['alice', aliceUrl], ['bob', bobUrl]] as const) {
      children.push(
        spawn(chromium, [`--app=${url}`, `--user-data-dir=${path.join(dir, `chromium-${name}`)}`, '--no-first-run', '--no-default-browser-check', '--disable-sync'], {
          stdio: 'ignore',
        }),
      );
    }
    process.stdout.write('Opened two Chromium windows. Press Ctrl+C here to stop the demo.\n');
  } else {
    process.stdout.write('Open the two addresses above in two browser windows (each works once). Press Ctrl+C to stop.\n');
  }
  const stop = () => {
    stopAll();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  main().catch((error: unknown) => {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    stopAll();
    process.exit(1);
  });
}
