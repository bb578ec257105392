// Shared by the messaging tests: a relay child process, profiles on disk, and waiting.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, vi } from 'vitest';
import type { ApiEvent, Message } from '../../shared/api.ts';
import { openMessenger, type Messenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';
import { freePort, RelayProcess } from '../chaos/relay-process.ts';
import { atRest } from '../vault/at-rest.ts';

export const PASSWORD = 'correct horse battery staple';

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `ephemera-msg-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function startRelay(dataDir: string, port?: number): Promise<{ relay: RelayProcess; port: number; descriptorText: string }> {
  const p = port ?? (await freePort());
  const relay = await RelayProcess.start(dataDir, p);
  return { relay, port: p, descriptorText: JSON.stringify(relay.descriptor) };
}

export interface Peer {
  m: Messenger;
  dir: string;
  events: ApiEvent[];
}

/**
 * What one messaging test file works with: a temp directory per name plus `relay` for the
 * relay's data, the relay child process once started, and the peers the test opened. afterAll
 * closes the peers, kills the relay (unless the test stopped it) and removes the directories.
 */
export function messagingScene<N extends string>(
  prefix: string,
  names: readonly N[],
): {
  readonly dirs: Readonly<Record<N | 'relay', string>>;
  readonly peers: Peer[];
  /** Starts the relay on its data directory (again on `port`, to restart it after stopRelay). */
  startRelay(port?: number): Promise<{ relay: RelayProcess; port: number; descriptorText: string }>;
  stopRelay(): Promise<void>;
} {
  const made = (['relay', ...names] as const).map((name) => ({ name, ...tempDir(`${prefix}-${name}`) }));
  const dirs = Object.fromEntries(made.map((d) => [d.name, d.dir])) as Record<N | 'relay', string>;
  const peers: Peer[] = [];
  let relay: RelayProcess | undefined;
  afterAll(async () => {
    for (const p of peers) await p.m.close();
    await relay?.kill();
    for (const d of made) d.cleanup();
  });
  return {
    dirs,
    peers,
    async startRelay(port?: number) {
      const started = await startRelay(dirs.relay, port);
      relay = started.relay;
      return started;
    },
    async stopRelay() {
      await relay?.kill();
      relay = undefined;
    },
  };
}

/** A new profile with a vault, registered on the relay as `handle`. */
export async function newPeer(dir: string, handle: string, descriptorText: string): Promise<Peer> {
  const m = await openMessenger({ profileDir: dir, kdf: TEST_KDF });
  const events: ApiEvent[] = [];
  m.subscribe((e) => events.push(e));
  await m.createVault({ password: PASSWORD });
  await m.register({ handle, serverDescriptor: descriptorText });
  return { m, dir, events };
}

/** Starts the scene's relay and registers a new peer per name (as its handle), one after another; closed with the scene. */
export async function peersOn<N extends string>(
  scene: Pick<ReturnType<typeof messagingScene<N>>, 'dirs' | 'peers' | 'startRelay'>,
  names: readonly N[],
  handlePrefix = '',
): Promise<Record<N, Peer>> {
  const { descriptorText } = await scene.startRelay();
  const peers = {} as Record<N, Peer>;
  for (const name of names) {
    peers[name] = await newPeer(scene.dirs[name], `${handlePrefix}${name}`, descriptorText);
    scene.peers.push(peers[name]);
  }
  return peers;
}

/**
 * Starts the scene's relay and registers alice and bob on it; alice writes 'hello' so that each
 * has the other as a contact. Both are closed with the scene.
 */
export async function helloPair(
  scene: Pick<ReturnType<typeof messagingScene<'alice' | 'bob'>>, 'dirs' | 'peers' | 'startRelay'>,
): Promise<{ alice: Peer; bob: Peer; toBob: string; toAlice: string }> {
  const { alice, bob } = await peersOn(scene, ['alice', 'bob']);
  const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
  await alice.m.sendText({ conversationId: toBob, text: 'hello' });
  await waitFor(async () => (await bob.m.contactsList()).length === 1, 60_000, 'bob sees alice');
  const toAlice = (await bob.m.contactsList())[0]!.conversationId;
  return { alice, bob, toBob, toAlice };
}

/** Rows in a closed or locked profile's vault kv table (the vault holds the file exclusively while unlocked, and so does a lock's scrub). */
export async function kvRows(profileDir: string): Promise<number> {
  await atRest(profileDir);
  const db = new Database(join(profileDir, 'vault.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM kv').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Opens an existing profile and unlocks it. */
export async function reopen(dir: string): Promise<Peer> {
  const m = await openMessenger({ profileDir: dir, kdf: TEST_KDF });
  const events: ApiEvent[] = [];
  m.subscribe((e) => events.push(e));
  await m.unlock({ password: PASSWORD });
  return { m, dir, events };
}

/** Resolves when `pred` holds; polls every 20 ms, gives up after `ms`. */
/** 'OK', or the code of the error the call fails with. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return String((e as { code?: unknown }).code);
  }
}

export async function waitFor(pred: () => boolean | Promise<boolean>, ms = 60_000, what = 'condition'): Promise<void> {
  await vi.waitFor(async () => {
    if (!(await pred())) throw new Error(`timed out waiting for ${what}`);
  }, { timeout: ms, interval: 20 });
}

/** Every message of a conversation, ascending, paging backwards from the newest. */
export async function fullHistory(m: Messenger, conversationId: string): Promise<Message[]> {
  const out: Message[] = [];
  let page = await m.historyPage({ conversationId, anchor: { kind: 'newest' }, limit: 500 });
  out.unshift(...page.messages);
  while (page.hasOlder && page.messages[0]) {
    page = await m.historyPage({ conversationId, anchor: { kind: 'before', messageId: page.messages[0].id }, limit: 500 });
    out.unshift(...page.messages);
  }
  return out;
}

/** Files under `dir` (recursively) whose bytes contain `needle` as UTF-8 or UTF-16LE, once a lock's scrub there has ended. */
export async function filesContaining(dir: string, needle: string): Promise<string[]> {
  await atRest(dir);
  const patterns = [Buffer.from(needle, 'utf8'), Buffer.from(needle, 'utf16le')];
  const walk = (d: string, hits: string[]): string[] => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p, hits);
      else {
        const bytes = readFileSync(p);
        if (patterns.some((pat) => bytes.includes(pat))) hits.push(p);
      }
    }
    return hits;
  };
  // An unlocked profile replaces files by rename (a sealed file's temp, e.g. the search snapshot a
  // background catch-up writes; settings.json): one listed can be gone when read. The walk is made
  // again then, so a result always comes from one walk that read every file it listed.
  for (let attempt = 1; ; attempt++) {
    try {
      return walk(dir, []);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 20) throw e;
    }
  }
}

const root = join(import.meta.dirname, '..', '..');

export interface CliRun {
  code: number | null;
  json: Record<string, unknown>;
  stderr: string;
}

/** `ephemera --profile DIR --json ARGS` as a child process, with the test password and KDF. */
export function cli(profile: string, ...args: string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli', 'ephemera.ts'), '--profile', profile, '--json', ...args], {
      cwd: root,
      env: { ...process.env, EPHEMERA_PASSWORD: PASSWORD, EPHEMERA_KDF: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').at(-1) ?? '';
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(line) as Record<string, unknown>;
      } catch {
        json = { raw: out };
      }
      resolve({ code, json, stderr: err });
    });
  });
}

/** Bodies of the envelopes the relay holds for anyone (or only those `fromHandle` sent), oldest first (read-only, beside the running relay). */
export function queuedEnvelopes(relayDataDir: string, fromHandle?: string): Buffer[] {
  const db = new Database(join(relayDataDir, 'relay.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = fromHandle === undefined
      ? db.prepare('SELECT body FROM queue ORDER BY id').all()
      : db.prepare('SELECT body FROM queue WHERE sender_handle = ? ORDER BY id').all(fromHandle);
    return (rows as { body: Buffer }[]).map((r) => r.body);
  } finally {
    db.close();
  }
}

/**
 * Alice with a session to bob, then bob closed: `relayed()` counts the envelopes alice sent that
 * the relay holds, so it shows everything alice handed over. `bobSees()` opens bob and returns his history
 * (a timer change as `timer SECONDS`).
 */
export async function aliceAlone(scene: ReturnType<typeof messagingScene<'alice' | 'bob'>>): Promise<{ alice: Peer; toBob: string; relayed: () => number; bobSees: () => Promise<string[]> }> {
  const started = await scene.startRelay();
  const alice = await newPeer(scene.dirs.alice, 'alice', started.descriptorText);
  scene.peers.push(alice);
  const bob = await newPeer(scene.dirs.bob, 'bob', started.descriptorText);
  const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
  await alice.m.sendText({ conversationId: toBob, text: 'hello' });
  await waitFor(async () => (await bob.m.contactsList()).length === 1, 60_000, 'bob sees alice');
  expect(await bob.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
  await bob.m.close();
  await waitFor(async () => (await alice.m.connectionState()).outboxSize === 0, 60_000, 'hello answered');
  return {
    alice,
    toBob,
    // Alice's only: bob's receipt for 'hello' can still be queued for alice until she acknowledges
    // it, and a count of everything then drops under the test on a loaded machine.
    relayed: () => queuedEnvelopes(scene.dirs.relay, 'alice').length,
    bobSees: async () => {
      const again = await reopen(scene.dirs.bob);
      scene.peers.push(again);
      expect(await again.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
      const conv = (await again.m.conversationsList({}))[0]!;
      return (await fullHistory(again.m, conv.id)).map((m) => (m.timerChange ? `timer ${m.timerChange.seconds}` : m.text));
    },
  };
}
