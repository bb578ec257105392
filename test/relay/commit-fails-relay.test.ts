// A relay process whose COMMIT fails for real (its file size limit, RLIMIT_FSIZE, set from outside
// with util-linux prlimit just past relay.db, so the batch's -wal write gets EFBIG): the batch is
// rolled back and its answers dropped, the client re-sends with the same idempotency key after
// reconnecting, and once the disk takes writes again the message is stored and delivered exactly
// once, not answered as a duplicate of an envelope that is not there (relay/store.ts commitBatch).
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_ENVELOPE_BYTES } from '../../shared/protocol/methods.ts';
import { freePort, RelayProcess } from '../chaos/relay-process.ts';
import { registeredPair, tempDir, waitFor, type TestClient } from '../net/harness.ts';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const sizeOf = (path: string): number => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

/** A process's soft file size limit as prlimit takes it ('unlimited' or bytes), to put it back after. */
function softFsizeOf(pid: string): string {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max file size'));
  if (!line) throw new Error(`no "Max file size" in /proc/${pid}/limits`);
  return line.slice('Max file size'.length).trim().split(/\s+/)[0]!;
}

describe('a relay process whose COMMIT fails', () => {
  it('loses the batch, not the message: the re-send is stored and delivered once', async () => {
    const t = tempDir('commit-fails-relay');
    closers.push(() => t.cleanup());
    const relay = await RelayProcess.start(t.dir, await freePort());
    closers.push(() => relay.kill('SIGKILL'));
    let stderr = '';
    relay.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const started: TestClient[] = [];
    closers.push(async () => {
      for (const c of started) await c.client.stop();
    });
    const { alice, bob } = await registeredPair(relay.descriptor, started);
    const got: string[] = [];
    bob.mailbox.onEnvelope((e) => {
      got.push(Buffer.from(e.body).subarray(0, 16).toString());
    });
    expect((await alice.mailbox.send('bob', Buffer.from('before'), 'commit-fails-0001')).duplicate).toBe(false);
    await waitFor(() => got.length === 1, 60_000, 'the first delivery');

    // After the relay's periodic checkpoint (TRUNCATE) the -wal is empty and relay.db holds every
    // page, so a limit 40 KiB past relay.db fails only a commit that writes more than that.
    const db = join(t.dir, 'relay.db');
    await waitFor(() => sizeOf(`${db}-wal`) === 0, 30_000, 'the -wal checkpointed and truncated');
    const pid = String(relay.child.pid);
    // Only the soft limit changes and the one read here is put back: raising it needs no privilege.
    const softBefore = softFsizeOf(pid);
    execFileSync('prlimit', ['--pid', pid, `--fsize=${sizeOf(db) + 40 * 1024}:`]);
    const big = Buffer.alloc(MAX_ENVELOPE_BYTES, 0x2e);
    big.write('big', 0);
    const sent = alice.mailbox.send('bob', big, 'commit-fails-0002');
    try {
      await waitFor(() => stderr.includes('"commit-failed"'), 30_000, 'a failed commit');
    } finally {
      execFileSync('prlimit', ['--pid', pid, `--fsize=${softBefore}:`]);
    }
    // Reported as the batch lost (RelayBatchLost), SQLite's error as its cause.
    expect(stderr).toMatch(/"commit-failed"[^\n]*SQLite rolled the request batch back/);
    expect((await sent).duplicate).toBe(false);
    expect((await alice.mailbox.send('bob', Buffer.from('after'), 'commit-fails-0003')).duplicate).toBe(false);
    // A last marker after them: the mailbox delivers in order, so a duplicate of 'big' would come before it.
    expect((await alice.mailbox.send('bob', Buffer.from('last'), 'commit-fails-0004')).duplicate).toBe(false);
    await waitFor(() => got.some((g) => g === 'last'), 30_000, 'the deliveries');
    expect(got.map((g) => g.split('.')[0])).toEqual(['before', 'big', 'after', 'last']);
  }, 120_000);
});
