// A request batch whose COMMIT fails for real and SQLite rolls the whole transaction back: the
// relay.db's -wal cannot grow (this process's file size limit, RLIMIT_FSIZE, set with util-linux
// prlimit; node ignores SIGXFSZ, so the write fails with EFBIG and SQLite with SQLITE_IOERR_WRITE).
// The batch is reported lost (RelayBatchLost) and its idempotency keys are forgotten at once, so
// a re-send is stored, not answered as a duplicate of an envelope that is not there.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RelayBatchLost, RelayStore } from '../../relay/store.ts';
import { tempDir } from '../net/harness.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

const T0 = 1_700_000_000_000;

function device(store: RelayStore, handle: string): Buffer {
  const id = randomBytes(8);
  store.insertDevice(id, randomBytes(32), 1);
  store.register(id, handle);
  return id;
}

/** This process's soft file size limit as prlimit takes it ('unlimited' or bytes). */
function softFsize(): string {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max file size'));
  if (!line) throw new Error('no "Max file size" in /proc/self/limits');
  const soft = line.slice('Max file size'.length).trim().split(/\s+/)[0]!;
  return soft;
}

/** Sets the soft limit only (the hard one stays, so raising it back needs no privilege). */
function setSoftFsize(value: string): void {
  execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${value}:`]);
}

describe('a COMMIT that fails and ends the transaction (relay/store.ts commitBatch)', () => {
  it('reports the batch lost, forgets its keys before the rollback, and nothing is lost or stored twice', () => {
    const t = tempDir('commit-fails');
    cleanups.push(t.cleanup);
    const file = join(t.dir, 'relay.db');
    let store = new RelayStore(file);
    cleanups.push(() => store.close());
    const alice = device(store, 'alice');
    const bob = device(store, 'bob');
    const kept = store.enqueue(alice, 'alice', 'bob', 'idem-kept', Buffer.from('kept'), T0, 10);
    const before = store.idempotencySizes.inMemory;

    store.beginBatch();
    store.enqueue(alice, 'alice', 'bob', 'idem-lost-a', Buffer.from('A'), T0, 10);
    // 1 MiB of overflow pages stay in the page cache (2 MB) until COMMIT writes them to the -wal.
    store.enqueue(alice, 'alice', 'bob', 'idem-lost-b', randomBytes(1 << 20), T0, 10);
    expect(store.idempotencySizes.inMemory).toBe(before + 2);
    const largest = Math.max(statSync(file).size, statSync(`${file}-wal`).size);
    const old = softFsize();
    let error: unknown;
    setSoftFsize(String(largest + 64 * 1024));
    try {
      store.commitBatch();
    } catch (e) {
      error = e;
    } finally {
      setSoftFsize(old);
    }
    expect(error).toBeInstanceOf(RelayBatchLost);
    expect(((error as RelayBatchLost).cause as { code?: string }).code).toMatch(/^SQLITE_(IOERR|FULL)/);
    expect(store.database.inTransaction).toBe(false);
    // Forgotten by the failed commit itself, before any rollbackBatch.
    expect(store.idempotencySizes.inMemory).toBe(before);
    expect(store.pending(bob, 0, 10).map((e) => e.id)).toEqual([kept.id]);

    // Re-sent before the caller's rollbackBatch too: stored anew, and the queue's count forgot the
    // lost two (a limit of 3 takes kept, A and B; counting the lost ones it was full).
    const a = store.enqueue(alice, 'alice', 'bob', 'idem-lost-a', Buffer.from('A'), T0 + 1, 3);
    const b = store.enqueue(alice, 'alice', 'bob', 'idem-lost-b', Buffer.from('B'), T0 + 1, 3);
    expect([a.duplicate, b.duplicate]).toEqual([false, false]);
    store.rollbackBatch();
    expect(store.enqueue(alice, 'alice', 'bob', 'idem-kept', Buffer.from('kept'), T0 + 1, 10)).toMatchObject({ id: kept.id, duplicate: true });
    const bodies = (s: RelayStore): string[] => s.pending(bob, 0, 10).map((e) => e.body.toString());
    expect(bodies(store)).toEqual(['kept', 'A', 'B']);

    // What the disk holds says the same after a reopen.
    store.close();
    store = new RelayStore(file);
    expect(bodies(store)).toEqual(['kept', 'A', 'B']);
    expect(store.enqueue(alice, 'alice', 'bob', 'idem-lost-b', Buffer.from('B'), T0 + 2, 10)).toMatchObject({ id: b.id, duplicate: true });
  });
});
