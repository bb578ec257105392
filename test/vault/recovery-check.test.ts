import { afterEach, describe, expect, it } from 'vitest';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { snapshotDir, tempProfile } from './helpers.ts';

// checkRecoveryPhrase lets the app confirm the user wrote the phrase down, in any session,
// without keeping the phrase in memory and without changing the vault.
describe('vault.checkRecoveryPhrase', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('accepts only this vault’s phrase, after a reopen too, and writes nothing', async () => {
    const a = tempProfile();
    const b = tempProfile();
    cleanups.push(a.cleanup, b.cleanup);
    const created = await Vault.create(a.dir, 'pw-a', { kdf: TEST_KDF });
    const other = await Vault.create(b.dir, 'pw-b', { kdf: TEST_KDF });
    other.vault.lock();
    created.vault.lock();

    const vault = await Vault.unlock(a.dir, 'pw-a');
    cleanups.unshift(() => vault.isUnlocked && vault.lock());
    const before = snapshotDir(a.dir);
    expect(vault.checkRecoveryPhrase(created.recoveryPhrase)).toBe(true);
    expect(vault.checkRecoveryPhrase(`  ${created.recoveryPhrase.toUpperCase()}  `)).toBe(true);
    // A valid phrase of another vault, a phrase with a bad checksum, and noise.
    expect(vault.checkRecoveryPhrase(other.recoveryPhrase)).toBe(false);
    expect(vault.checkRecoveryPhrase('abandon '.repeat(24).trim())).toBe(false);
    expect(vault.checkRecoveryPhrase('not a phrase')).toBe(false);
    const words = created.recoveryPhrase.split(' ');
    expect(vault.checkRecoveryPhrase([...words.slice(1), words[0]].join(' '))).toBe(false);
    expect(snapshotDir(a.dir)).toEqual(before);

    vault.lock();
    expect(() => vault.checkRecoveryPhrase(created.recoveryPhrase)).toThrow(/locked/i);
  });
});
