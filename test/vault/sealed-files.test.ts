// Sealed files: large snapshots (100+ MB) round-trip through the chunked format, writes are
// atomic (temp + rename), and leftovers of an interrupted write are cleaned up on unlock.
import { afterEach, describe, expect, it } from 'vitest';
import { readdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import { tempProfile } from './helpers.ts';

describe('sealed files', () => {
  let cleanup: (() => void) | undefined;
  afterEach(() => cleanup?.());

  it('round-trips a 110 MB snapshot and an empty one; replaces atomically; removes stale temps', async () => {
    const profile = tempProfile();
    cleanup = profile.cleanup;
    let vault = (await Vault.create(profile.dir, 'pw', { kdf: TEST_KDF })).vault;
    const big = new Uint8Array(110 * 1024 * 1024 + 123);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
    const digest = createHash('sha256').update(big).digest('hex');
    vault.sealedFiles.write('snapshot', big);
    vault.sealedFiles.write('empty', new Uint8Array(0));
    expect(readdirSync(profile.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    writeFileSync(join(profile.dir, 'snapshot.sealed.tmp-0123456789ab'), 'half-written');
    vault.lock();

    vault = await Vault.unlock(profile.dir, 'pw');
    expect(readdirSync(profile.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const back = vault.sealedFiles.read('snapshot')!;
    expect(back.length).toBe(big.length);
    expect(createHash('sha256').update(back).digest('hex')).toBe(digest);
    expect(vault.sealedFiles.read('empty')).toEqual(new Uint8Array(0));
    vault.sealedFiles.write('snapshot', new Uint8Array([5]));
    expect(vault.sealedFiles.read('snapshot')).toEqual(new Uint8Array([5]));
    vault.lock();
  });
});
