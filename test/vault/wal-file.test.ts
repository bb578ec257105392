// The -wal kept open for the fsyncs on libuv's pool (shared/wal-file.ts): one open per unlock,
// so an ack's or a send's sync is one pool trip (each trip waits for a turn between the mailbox's
// slices during a catch-up). A -wal replaced since it was opened is opened again (an fsync of the
// old file would prove nothing about the new one); none means nothing to sync; after the lock a
// sync is refused and the handle is closed.
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { VaultLocked } from '../../main/vault/errors.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { WalFile } from '../../shared/wal-file.ts';
import { tempProfile } from './helpers.ts';

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const open = vi.fn(actual.open);
  return { ...actual, open, default: { ...actual, open } };
});

const walOpens = (): string[] => vi.mocked(fsp.open).mock.calls.map((c) => String(c[0])).filter((p) => p.endsWith('-wal'));
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  vi.mocked(fsp.open).mockClear();
});

describe('the -wal kept open per unlock', () => {
  it('one open for many syncs; reopened when the file was replaced; none: false; after close: VaultLocked, handle closed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ephemera-wal-file-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const db = join(dir, 'vault.db');
    const wal = new WalFile(db, () => new VaultLocked());
    expect(await wal.sync()).toBe(false); // no -wal yet
    writeFileSync(`${db}-wal`, 'frames');
    for (let i = 0; i < 5; i++) expect(await wal.sync()).toBe(true);
    expect(walOpens()).toHaveLength(1);
    // Replaced (deleted and made anew): the handle to the old file is not enough.
    unlinkSync(`${db}-wal`);
    writeFileSync(`${db}-wal`, 'new frames');
    expect(await wal.sync()).toBe(true);
    expect(await wal.sync()).toBe(true);
    expect(walOpens()).toHaveLength(2);
    const handle = (await vi.mocked(fsp.open).mock.results.at(-1)?.value) as fsp.FileHandle;
    wal.close();
    await expect(wal.sync()).rejects.toBeInstanceOf(VaultLocked);
    await vi.waitFor(() => expect(handle.fd).toBe(-1)); // closed
  });

  it('a vault opens its -wal at unlock, not per sync, and again after the next unlock', async () => {
    const profile = tempProfile();
    cleanups.push(profile.cleanup);
    let vault = (await Vault.create(profile.dir, 'pw-wal-file', { kdf: TEST_KDF })).vault;
    try {
      const atUnlock = walOpens().length; // opened ahead of the first sync (WalFile.prepare)
      expect(atUnlock).toBeGreaterThanOrEqual(1);
      for (let i = 0; i < 4; i++) {
        vault.relaxedTransaction(() => vault.kvSet('t', `k${i}`, new Uint8Array([i])));
        expect(await vault.syncCommittedForAcks()).toBe(true);
        await vault.syncCommittedAsync();
      }
      expect(walOpens()).toHaveLength(atUnlock);
      vault.lock();
      vault = await Vault.unlock(profile.dir, 'pw-wal-file');
      vault.relaxedTransaction(() => vault.kvSet('t', 'after', new Uint8Array([9])));
      expect(await vault.syncCommittedForAcks()).toBe(true);
      expect(walOpens()).toHaveLength(atUnlock + 1);
    } finally {
      vault.lock();
    }
  });
});
