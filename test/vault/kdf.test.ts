// Key derivation: Argon2id runs off the event loop, parameters are checked before any work,
// and the recovery phrase is normalized and validated.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { checkKdfParams, derivePasswordKey, DEFAULT_KDF, newRecoveryPhrase, phraseEntropy, TEST_KDF } from '../../main/vault/kdf.ts';
import { BadParameters, WrongRecoveryPhrase } from '../../main/vault/errors.ts';

describe('key derivation', () => {
  it('Argon2id does not block the event loop', async () => {
    let turns = 0;
    let done = false;
    const spin = () => {
      if (done) return;
      turns += 1;
      setImmediate(spin);
    };
    setImmediate(spin);
    const key = await derivePasswordKey('pw', randomBytes(16), TEST_KDF);
    done = true;
    expect(key.length).toBe(32);
    // A synchronous derivation would resolve before the loop turned even once.
    expect(turns).toBeGreaterThan(0);
  });

  it('is deterministic for the same inputs and NFC-normalizes the password', async () => {
    const salt = randomBytes(16);
    const a = await derivePasswordKey('caf\u00e9', salt, TEST_KDF);
    const b = await derivePasswordKey('cafe\u0301', salt, TEST_KDF);
    const c = await derivePasswordKey('cafe', salt, TEST_KDF);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('refuses parameters outside the floor/ceiling and short salts before any work', async () => {
    expect(checkKdfParams(DEFAULT_KDF)).toEqual(DEFAULT_KDF);
    // The ceiling: 1 GiB at the default's passes, or the default's memory at 4x its passes.
    expect(() => checkKdfParams({ memoryKiB: 1024 * 1024, iterations: 3, parallelism: 16 })).not.toThrow();
    expect(() => checkKdfParams({ memoryKiB: 256 * 1024, iterations: 12, parallelism: 4 })).not.toThrow();
    for (const over of [
      { memoryKiB: 1024 * 1024 + 1, iterations: 1, parallelism: 1 },
      { memoryKiB: 19 * 1024, iterations: 13, parallelism: 1 },
      { memoryKiB: 1024 * 1024, iterations: 4, parallelism: 4 },
      { memoryKiB: 512 * 1024, iterations: 7, parallelism: 4 },
      { memoryKiB: 4 * 1024 * 1024, iterations: 20, parallelism: 16 },
    ]) {
      expect(() => checkKdfParams(over)).toThrow(BadParameters);
    }
    for (const bad of [null, {}, { memoryKiB: '19456', iterations: 1, parallelism: 1 }, { memoryKiB: 19455, iterations: 1, parallelism: 1 }]) {
      expect(() => checkKdfParams(bad)).toThrow(BadParameters);
    }
    await expect(derivePasswordKey('pw', randomBytes(15), TEST_KDF)).rejects.toBeInstanceOf(BadParameters);
  });

  it('accepts a phrase in any case and spacing, refuses a wrong checksum or word count', () => {
    // Fixed entropy keeps the checksum case deterministic (a random swap passes 1 time in 256).
    const entropy = Buffer.alloc(32, 0x5a);
    const phrase = newRecoveryPhrase(entropy);
    expect(phrase.split(' ')).toHaveLength(24);
    expect(Buffer.from(phraseEntropy(`\n ${phrase.toUpperCase().split(' ').join('   ')}\t`))).toEqual(entropy);
    const words = phrase.split(' ');
    const swapped = [...words.slice(0, 22), words[23], words[22]].join(' ');
    expect(swapped).not.toBe(phrase);
    expect(() => phraseEntropy(swapped)).toThrow(WrongRecoveryPhrase);
    expect(() => phraseEntropy(words.slice(0, 12).join(' '))).toThrow(WrongRecoveryPhrase);
    expect(() => phraseEntropy(`${words.slice(0, 23).join(' ')} notaword`)).toThrow(WrongRecoveryPhrase);
  });
});
