// Catch-up commits received envelopes without an fsync each and acknowledges them in batches
// after one sync (net/mailbox.ts, vault syncCommittedForAcks): whatever happens mid-batch, the relay
// must never have been told to delete an envelope whose message is not in the vault. A child
// process catches up on 200 queued messages and is SIGKILLed mid-way; then every message is
// either stored or still queued, and after a restart each arrives exactly once, in order.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { RelayProcess } from '../chaos/relay-process.ts';
import { fullHistory, messagingScene, newPeer, PASSWORD, reopen, waitFor } from './helpers.ts';

const N = 200;
const scene = messagingScene('catchup-kill', ['alice', 'bob', 'plain']);
const { dirs, peers } = scene;
const label = (i: number): string => `c-${String(i).padStart(3, '0')}`;

/** Envelopes the relay holds for `handle` (read-only, beside the relay). */
function queuedFor(handle: string): number {
  const db = new Database(join(dirs.relay, 'relay.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM queue q JOIN devices d ON q.recipient = d.perm_key_id WHERE d.handle = ?').get(handle) as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('catch-up acknowledges only what is committed', () => {
  it('a relaxed commit is made durable by syncCommitted, which refuses inside a transaction', async () => {
    const v = (await Vault.create(dirs.plain, PASSWORD, { kdf: TEST_KDF })).vault;
    try {
      v.relaxedTransaction(() => v.kvSet('t', 'k', Buffer.from('v')));
      expect(v.transaction(() => v.syncCommitted())).toBe(false);
      expect(v.syncCommitted()).toBe(true);
    } finally {
      v.lock();
    }
    const again = await Vault.unlock(dirs.plain, PASSWORD);
    try {
      expect(Buffer.from(again.kvGet('t', 'k') ?? []).toString()).toBe('v');
    } finally {
      again.lock();
    }
  });

  it('a catch-up SIGKILLed mid-way: every message stored or still queued, then each exactly once', async () => {
    const started = await scene.startRelay();
    const alice = await newPeer(dirs.alice, 'alice', started.descriptorText);
    peers.push(alice);
    const bob = await newPeer(dirs.bob, 'bob', started.descriptorText);
    await bob.m.close();
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    for (let i = 0; i < N; i++) await alice.m.sendText({ conversationId: toBob, text: label(i) });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    expect(queuedFor('bob')).toBe(N);

    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'catchup-kill-child.ts'), dirs.bob], {
      cwd: join(import.meta.dirname, '../..'),
      env: { ...process.env, CATCHUP_TEST_PASSWORD: PASSWORD },
    });
    let stored = 0;
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      for (const m of d.matchAll(/^n (\d+)$/gm)) stored = Math.max(stored, Number(m[1]));
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // Mid-way: some batches acknowledged, one in progress. The acks' fsync runs beside the
    // storing (off the main thread), so how many are stored when the first ack reaches the relay
    // depends on the disk; the relay pushes at most 128 unacknowledged, so acks must come before
    // the end: the kill waits for the first (the relay's queue shrinks), 60 stored at least.
    await waitFor(() => (stored >= 60 && queuedFor('bob') < N) || child.exitCode !== null, 120_000, 'the child stores 60 and acknowledges some');
    expect(child.exitCode, stderr).toBeNull();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(stored).toBeLessThan(N);

    // The relay's view and the vault's, with the relay stopped so nothing more moves.
    const queued = queuedFor('bob');
    const port = started.port;
    await scene.stopRelay();
    const offline = await reopen(dirs.bob);
    const conv = (await offline.m.contactsList())[0]!.conversationId;
    const inVault = (await fullHistory(offline.m, conv)).map((m) => m.text);
    await offline.m.close();
    expect(new Set(inVault).size).toBe(inVault.length);
    expect(inVault).toEqual(Array.from({ length: inVault.length }, (_, i) => label(i)));
    // Nothing acknowledged that was not committed: stored + still queued covers all N.
    expect(inVault.length + queued).toBeGreaterThanOrEqual(N);
    // Something was acknowledged before the kill (the batches do go out).
    expect(queued).toBeLessThan(N);

    const relay = await RelayProcess.start(dirs.relay, port);
    try {
      const back = await reopen(dirs.bob);
      peers.push(back);
      await waitFor(async () => (await fullHistory(back.m, conv)).length >= N, 120_000, 'bob has all');
      expect(await back.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
      expect((await fullHistory(back.m, conv)).map((m) => m.text)).toEqual(Array.from({ length: N }, (_, i) => label(i)));
      await waitFor(() => queuedFor('bob') === 0, 60_000, 'every envelope acknowledged');
    } finally {
      for (const p of peers.splice(0)) await p.m.close();
      await relay.kill();
    }
  });
});
