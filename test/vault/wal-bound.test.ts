// SQLite's auto-checkpoint is off on the vault's connection (it ran inside whichever commit crossed
// its threshold: up to 91 ms of a catch-up's main thread). The gate checkpoints instead: in a turn
// of its own once the WAL passes WAL_CHECKPOINT_BYTES (a RESTART: the next commits overwrite the
// file from its start rather than grow it again from zero), and at once inside the commit that
// takes it past WAL_LIMIT_BYTES, so the WAL stays bounded however long the writes go on without a turn.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WAL_CHECKPOINT_BYTES, WAL_LIMIT_BYTES } from '../../main/vault/gate.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { msg, tempProfile } from './helpers.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function freshVault(): Promise<{ vault: Vault; walSize: () => number; dbSize: () => number; dir: string }> {
  const profile = tempProfile();
  cleanups.push(profile.cleanup);
  const vault = (await Vault.create(profile.dir, 'pw-wal-bound', { kdf: TEST_KDF })).vault;
  cleanups.unshift(() => vault.lock());
  const wal = join(profile.dir, 'vault.db-wal');
  return { vault, dir: profile.dir, walSize: () => (existsSync(wal) ? statSync(wal).size : 0), dbSize: () => statSync(join(profile.dir, 'vault.db')).size };
}

/** One receive batch: `n` messages of about 1 KiB each, committed as the mailbox's turn would. */
function batch(vault: Vault, conv: string, n: number): void {
  for (let i = 0; i < n; i++) vault.batchedTransaction(() => vault.appendMessages([msg(conv, `${'x'.repeat(1000)} ${i}`)]));
  vault.commitBatch();
}

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 1));
}

/** The WAL can pass a bound by at most one commit's frames: this test's batches stay well under. */
const ONE_BATCH_SLACK = 2 * 1024 * 1024;

describe('the WAL is bounded without SQLite auto-checkpoint', () => {
  it('grows past the checkpoint size within a turn, then a later turn checkpoints it and the next commits reuse the file', async () => {
    const { vault, walSize, dbSize, dir } = await freshVault();
    let batches = 0;
    while (walSize() < WAL_CHECKPOINT_BYTES) {
      batch(vault, 'c', 50);
      batches++;
      expect(batches).toBeLessThan(10_000);
    }
    // Not inside the commit that crossed the size: SQLite's own checkpoint would have reset it there.
    expect(walSize()).toBeGreaterThanOrEqual(WAL_CHECKPOINT_BYTES);
    const before = dbSize();
    for (let i = 0; i < 500 && dbSize() === before; i++) await turns(1);
    expect(dbSize()).toBeGreaterThan(before); // the messages' pages were copied into vault.db
    const kept = walSize();
    expect(kept).toBeGreaterThanOrEqual(WAL_CHECKPOINT_BYTES); // restarted, not truncated
    // About half the file's worth of commits: written over its start, the file does not grow.
    for (let b = 0; b < batches / 2; b++) batch(vault, 'c', 50);
    expect(walSize()).toBeLessThanOrEqual(kept);
    const total = Math.ceil(batches / 2) * 50 + batches * 50;
    expect(vault.countMessages('c')).toBe(total);
    // Everything is in vault.db and the restarted WAL: a reopen finds every message.
    vault.lock();
    const again = await Vault.unlock(dir, 'pw-wal-bound');
    cleanups.unshift(() => again.lock());
    expect(again.countMessages('c')).toBe(total);
  });

  it('a burst well past the checkpoint size in one turn is checkpointed in the next turns, every time', async () => {
    const { vault, walSize, dbSize } = await freshVault();
    for (let round = 0; round < 5; round++) {
      // A burst in one turn (a catch-up's between two turns) that takes the file to 1.5x the
      // checkpoint size, still under the limit (whose at-once TRUNCATE would hide the bug).
      for (let b = 0; b < 1000 && (b === 0 || walSize() < 1.5 * WAL_CHECKPOINT_BYTES); b++) batch(vault, 'c', 50);
      const db = dbSize();
      const wal = walSize();
      expect(wal).toBeGreaterThanOrEqual(1.5 * WAL_CHECKPOINT_BYTES);
      expect(wal).toBeLessThan(WAL_LIMIT_BYTES);
      for (let i = 0; i < 500 && dbSize() === db && walSize() >= wal; i++) await turns(1);
      // The scheduled checkpoint ran (its interval did not grow to the burst's size: review s21 R7).
      expect({ round, ran: dbSize() > db || walSize() < wal }).toEqual({ round, ran: true });
    }
  }, 120_000);

  it('never exceeds the limit (plus one batch) over many batches with no turn in between', async () => {
    const { vault, walSize } = await freshVault();
    let max = 0;
    let written = 0;
    // Twice the limit's worth of message bytes, synchronously: no scheduled checkpoint can run.
    for (let b = 0; written < 2 * WAL_LIMIT_BYTES; b++) {
      batch(vault, `c${b % 7}`, 100);
      written += 100 * 1024;
      max = Math.max(max, walSize());
    }
    expect(max).toBeGreaterThanOrEqual(WAL_CHECKPOINT_BYTES);
    expect(max).toBeLessThan(WAL_LIMIT_BYTES + ONE_BATCH_SLACK);
    // And after some turns the scheduled checkpoint restarts it: the next commit trims the file
    // back to the checkpoint size (journal_size_limit) and writes from its start.
    for (let i = 0; i < 500 && walSize() > WAL_CHECKPOINT_BYTES; i++) {
      await turns(1);
      batch(vault, 'd', 1);
    }
    expect(walSize()).toBeLessThanOrEqual(WAL_CHECKPOINT_BYTES);
  });
});
