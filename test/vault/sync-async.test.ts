// Vault.syncCommittedAsync (issue 18, for the sequential sends' group commit): the fsync that
// makes relaxed commits durable runs on libuv's thread pool instead of the main thread. Once it
// resolved, every commit made before the call is durable, so a following syncCommitted has
// nothing left to sync; a relaxed commit made while it ran is not covered and stays to sync.
import * as fs from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { tempProfile } from './helpers.ts';

vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  return { ...actual, fsyncSync: vi.fn(actual.fsyncSync) };
});

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function fresh(): Promise<Vault> {
  const profile = tempProfile();
  cleanups.push(profile.cleanup);
  const { vault } = await Vault.create(profile.dir, 'pw-sync-async', { kdf: TEST_KDF });
  cleanups.unshift(() => vault.lock());
  return vault;
}

const syncFsyncs = (): number => vi.mocked(fs.fsyncSync).mock.calls.length;

describe('syncCommittedAsync', () => {
  it('makes the relaxed commits before it durable off the main thread: syncCommitted then has nothing to sync', async () => {
    const vault = await fresh();
    vault.relaxedTransaction(() => vault.kvSet('t', 'a', enc('1')));
    const before = syncFsyncs();
    await vault.syncCommittedAsync();
    expect(vault.syncCommitted()).toBe(true);
    expect(syncFsyncs()).toBe(before);
  });

  it('a relaxed commit made while its fsync runs is not covered: the next syncCommitted syncs it', async () => {
    const vault = await fresh();
    vault.relaxedTransaction(() => vault.kvSet('t', 'a', enc('1')));
    const pending = vault.syncCommittedAsync();
    vault.relaxedTransaction(() => vault.kvSet('t', 'b', enc('2')));
    await pending;
    const before = syncFsyncs();
    expect(vault.syncCommitted()).toBe(true);
    expect(syncFsyncs()).toBe(before + 1);
  });

  it('commits an open batch first', async () => {
    const vault = await fresh();
    vault.batchedTransaction(() => vault.kvSet('t', 'batched', enc('b')));
    await vault.syncCommittedAsync();
    const before = syncFsyncs();
    expect(vault.syncCommitted()).toBe(true);
    expect(syncFsyncs()).toBe(before);
    expect(new TextDecoder().decode(vault.kvGet('t', 'batched'))).toBe('b');
  });
});

// The mailbox's acknowledgements (net/mailbox.ts): the same guarantees as syncCommitted, which
// they used, with the fsync off the main thread.
describe('syncCommittedForAcks', () => {
  it('commits the open batch and makes it durable without a main-thread fsync', async () => {
    const vault = await fresh();
    vault.batchedTransaction(() => vault.kvSet('t', 'received', enc('r')));
    const before = syncFsyncs();
    await expect(vault.syncCommittedForAcks()).resolves.toBe(true);
    expect(vault.syncCommitted()).toBe(true);
    expect(syncFsyncs()).toBe(before);
    expect(new TextDecoder().decode(vault.kvGet('t', 'received'))).toBe('r');
  });

  it('a batch that failed to commit rejects it, once: nothing handled before it is acknowledged', async () => {
    const vault = await fresh();
    const lost = new Error('the disk is full');
    vault.batchedTransaction(() => {
      vault.kvSet('t', 'lost', enc('x'));
      vault.deferToBatch({
        flush: () => {
          throw lost;
        },
        drop: () => undefined,
      });
    });
    await expect(vault.syncCommittedForAcks()).rejects.toThrow('the disk is full');
    expect(vault.kvGet('t', 'lost')).toBeUndefined();
    await expect(vault.syncCommittedForAcks()).resolves.toBe(true);
  });

  it('inside a transaction it is not durable yet: false', async () => {
    const vault = await fresh();
    let inside: Promise<boolean> | undefined;
    vault.transaction(() => {
      vault.kvSet('t', 'open', enc('o'));
      inside = vault.syncCommittedForAcks();
    });
    await expect(inside).resolves.toBe(false);
  });
});
