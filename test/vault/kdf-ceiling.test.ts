// The KDF ceiling: a crafted vault header or backup can make one unlock attempt cost
// at most 4x the default's work (Argon2id: 1 GiB, 4x the passes; age scrypt: 2^20), refused
// with the typed error before any work and without changing a file.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_KDF, KDF_LIMITS, TEST_KDF, Vault } from '../../main/vault/index.ts';
import { BadParameters } from '../../main/vault/errors.ts';
import { readHeader } from '../../main/vault/header.ts';
import { checkWorkFactor, DEFAULT_WORK_FACTOR, MAX_WORK_FACTOR } from '../../main/backup/scrypt.ts';
import { BackupBadParameters } from '../../main/backup/errors.ts';
import { msg, snapshotDir, tempProfile } from './helpers.ts';

const PW = 'ceiling password';

describe('KDF ceiling', () => {
  const profiles: ReturnType<typeof tempProfile>[] = [];
  afterEach(() => {
    for (const p of profiles.splice(0)) p.cleanup();
  });

  async function vaultWithHeader(): Promise<{ dir: string; headerPath: string; header: { kdf: { memoryKiB: number; iterations: number; parallelism: number } } }> {
    const profile = tempProfile();
    profiles.push(profile);
    const { vault } = await Vault.create(profile.dir, PW, { kdf: TEST_KDF });
    vault.appendMessages([msg('c', 'kept')]);
    vault.lock();
    const headerPath = join(profile.dir, 'vault.header.json');
    return { dir: profile.dir, headerPath, header: JSON.parse(readFileSync(headerPath, 'utf8')) };
  }

  it('is at most 4x the default: 1 GiB of memory, memory x passes at most 4x the default', () => {
    expect(KDF_LIMITS.maxMemoryKiB).toBe(1024 * 1024);
    expect(KDF_LIMITS.maxWork).toBe(4 * DEFAULT_KDF.memoryKiB * DEFAULT_KDF.iterations);
    expect(2 ** (MAX_WORK_FACTOR - DEFAULT_WORK_FACTOR)).toBeLessThanOrEqual(4);
  });

  it('a crafted header above the ceiling is refused on unlock with BadParameters, every file unchanged', async () => {
    const { dir, headerPath, header } = await vaultWithHeader();
    // Each was accepted by the old ceiling (4 GiB, 20 passes): 8x, 10x and 6.7x the default's work.
    const crafted = [
      { memoryKiB: 2 * 1024 * 1024, iterations: 3, parallelism: 4 },
      { memoryKiB: 256 * 1024, iterations: 20, parallelism: 4 },
      { memoryKiB: 1024 * 1024, iterations: 5, parallelism: 4 },
    ];
    for (const kdf of crafted) {
      writeFileSync(headerPath, JSON.stringify({ ...header, kdf: { ...header.kdf, ...kdf } }));
      const before = snapshotDir(dir);
      // BadParameters (not WrongPassword) shows Argon2 never ran: the wrap's AD binds the
      // parameters, so running it would end in a wrong password after seconds of work.
      await expect(Vault.unlock(dir, PW)).rejects.toBeInstanceOf(BadParameters);
      expect(() => readHeader(dir)).toThrow(BadParameters);
      expect(snapshotDir(dir)).toEqual(before);
    }
  });

  it('a header at the ceiling passes validation (no slow KDF run here)', async () => {
    const { dir, headerPath, header } = await vaultWithHeader();
    for (const kdf of [
      { memoryKiB: 1024 * 1024, iterations: 3, parallelism: 4 },
      { memoryKiB: 256 * 1024, iterations: 12, parallelism: 16 },
    ]) {
      writeFileSync(headerPath, JSON.stringify({ ...header, kdf: { ...header.kdf, ...kdf } }));
      expect(readHeader(dir).kdf).toMatchObject(kdf);
    }
  });

  it('a backup scrypt work factor: the ceiling passes, one above is refused', () => {
    expect(() => checkWorkFactor(MAX_WORK_FACTOR)).not.toThrow();
    expect(() => checkWorkFactor(MAX_WORK_FACTOR + 1)).toThrow(BackupBadParameters);
  });
});
