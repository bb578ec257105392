// Profile and relay data directories are owner-only (0700, files 0600) whatever the umask and
// whatever mode an existing directory or file had. The whole file runs under umask 000 (the
// relay child process inherits it), with directories that already exist as 0755.
import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fullHistory, messagingScene, newPeer, reopen, waitFor } from './helpers.ts';

const scene = messagingScene('modes', ['alice', 'bob', 'exports'] as const);
const { dirs, peers } = scene;

let oldUmask = 0;
beforeAll(() => {
  oldUmask = process.umask(0o000);
  for (const d of Object.values(dirs)) chmodSync(d, 0o755);
});
afterAll(() => {
  process.umask(oldUmask);
});

/** `dir` and everything under it, as "path mode" lines (octal), sorted. */
function modes(dir: string): string[] {
  const out = [`${dir} ${(statSync(dir).mode & 0o777).toString(8)}`];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    out.push(...(statSync(p).isDirectory() ? modes(p) : [`${p} ${(statSync(p).mode & 0o777).toString(8)}`]));
  }
  return out.sort();
}

function ownerOnly(dir: string): string[] {
  return modes(dir).map((line) => {
    const [p] = line.split(' ');
    return `${p} ${statSync(p!).isDirectory() ? '700' : '600'}`;
  });
}

function expectOwnerOnly(dir: string): void {
  expect(modes(dir)).toEqual(ownerOnly(dir));
}

/** chmod 0755 / 0644 everything, as an older version under umask 022 (or worse) left it. */
function loosen(dir: string): void {
  chmodSync(dir, 0o755);
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) loosen(p);
    else chmodSync(p, 0o644);
  }
}

describe('file modes under umask 000', () => {
  it('profile and relay files are 0600 in 0700 directories: at creation, while open, after close, and after reopening loose ones', async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    peers.push(alice, bob);
    const c = await alice.m.contactAdd({ handle: 'bob' });
    await alice.m.sendText({ conversationId: c.conversationId, text: 'hello bob' });
    await waitFor(async () => (await bob.m.contactsList()).length === 1, 60_000, 'bob sees alice');
    const fromAlice = (await bob.m.contactsList())[0]!;
    await waitFor(async () => (await fullHistory(bob.m, fromAlice.conversationId)).length === 1, 60_000, 'bob has the message');
    await alice.m.search({ query: 'hello', limit: 10, order: 'newest' });

    // Open: the WAL files exist now (the relay's -shm too).
    expect(existsSync(join(dirs.alice, 'vault.db-wal'))).toBe(true);
    expect(existsSync(join(dirs.relay, 'relay.db-wal'))).toBe(true);
    for (const d of [dirs.alice, dirs.bob, dirs.relay]) expectOwnerOnly(d);

    const exportFile = join(dirs.exports, 'alice.age');
    await alice.m.backupExport({ jobId: 'job-modes-1', path: exportFile, protection: { kind: 'passphrase', passphrase: 'backup pass phrase 1' }, includeIdentity: false });
    expect((statSync(exportFile).mode & 0o777).toString(8)).toBe('600');

    // Closed: the search snapshot and settings are written; still owner-only.
    await alice.m.close();
    await bob.m.close();
    peers.length = 0;
    expect(readdirSync(dirs.alice).some((n) => n.endsWith('.sealed'))).toBe(true);
    expectOwnerOnly(dirs.alice);
    expectOwnerOnly(dirs.bob);

    // Directories left loose by an older version are tightened when opened.
    await scene.stopRelay();
    loosen(dirs.alice);
    loosen(dirs.relay);
    expect(modes(dirs.alice)).not.toEqual(ownerOnly(dirs.alice));
    await scene.startRelay();
    const again = await reopen(dirs.alice);
    peers.push(again);
    expectOwnerOnly(dirs.alice);
    expectOwnerOnly(dirs.relay);
  });
});
