// Vault.batchedTransaction (issue 18): received envelopes share one commit per event-loop turn,
// each in its own savepoint. A process killed before the batch commits loses the whole batch
// (none of it was acknowledged: the mailbox acknowledges after syncCommitted, which commits
// first); once the turn passed, or any other write ended the batch, all of it is on disk; a
// failed envelope's savepoint is rolled back alone.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { tempProfile } from './helpers.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const writer = fileURLToPath(new URL('./fixtures/batch-writer.ts', import.meta.url));
const PASSWORD = 'pw-batch';
const text = (v: Uint8Array | undefined): string | undefined => (v ? new TextDecoder().decode(v) : undefined);

async function killedWriter(mode: 'open' | 'other' | 'turn'): Promise<Record<string, string | undefined>> {
  const profile = tempProfile();
  cleanups.push(profile.cleanup);
  (await Vault.create(profile.dir, PASSWORD, { kdf: TEST_KDF })).vault.lock();
  const child = spawn(process.execPath, ['--import', 'tsx', writer, profile.dir, PASSWORD, mode], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.on('exit', () => reject(new Error(`writer exited: ${stderr}`)));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await exited;
  const vault = await Vault.unlock(profile.dir, PASSWORD);
  try {
    return Object.fromEntries(['a', 'b', 'c', 'd'].map((k) => [k, text(vault.kvGet('batch', k))]));
  } finally {
    vault.lock();
  }
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('batchedTransaction', () => {
  it('a process killed before the turn ends leaves none of the batch', async () => {
    expect(await killedWriter('open')).toEqual({ a: undefined, b: undefined, c: undefined, d: undefined });
  });

  it('after the turn the whole batch is on disk, except the envelope that failed', async () => {
    expect(await killedWriter('turn')).toEqual({ a: 'kept a', b: undefined, c: 'kept c', d: undefined });
  });

  it('another write commits the batch before its own (never joins it)', async () => {
    expect(await killedWriter('other')).toEqual({ a: 'kept a', b: undefined, c: 'kept c', d: 'other write' });
  });

  it('syncCommitted and lock commit an open batch; reads inside the process see it at once', async () => {
    const profile = tempProfile();
    cleanups.push(profile.cleanup);
    const { vault } = await Vault.create(profile.dir, PASSWORD, { kdf: TEST_KDF });
    vault.batchedTransaction(() => vault.kvSet('batch', 'a', new Uint8Array([1])));
    expect(vault.kvGet('batch', 'a')).toEqual(new Uint8Array([1]));
    expect(vault.syncCommitted()).toBe(true);
    vault.batchedTransaction(() => vault.kvSet('batch', 'b', new Uint8Array([2])));
    vault.lock();
    const again = await Vault.unlock(profile.dir, PASSWORD);
    try {
      expect(again.kvGet('batch', 'a')).toEqual(new Uint8Array([1]));
      expect(again.kvGet('batch', 'b')).toEqual(new Uint8Array([2]));
    } finally {
      again.lock();
    }
  });
});
