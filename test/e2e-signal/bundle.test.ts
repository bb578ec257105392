import { beforeAll, describe, expect, it } from 'vitest';
import {
  chunkOneTimePreKeys,
  decodeIdentityUpload,
  decodeOneTimePreKeysUpload,
  decodePreKeyBundle,
  encodeIdentityUpload,
  encodeOneTimePreKeysUpload,
} from '../../shared/protocol/prekey-bundle.ts';
import { E2e, type RegistrationResult } from '../../main/e2e/index.ts';
import { BadBundle } from '../../shared/protocol/e2e-errors.ts';
import { MemoryVault, PreKeyDirectory } from './helpers.ts';

describe('prekey wire formats', () => {
  let registration: RegistrationResult;
  beforeAll(async () => {
    ({ registration } = await E2e.register(new MemoryVault(), 'carol', { oneTimeCount: 100 }));
  });

  it('registration has 100 + 100 one-time keys with distinct ids and signed public parts', () => {
    const { identity, oneTimePreKeys } = registration;
    expect(oneTimePreKeys.preKeys).toHaveLength(100);
    expect(oneTimePreKeys.kyberPreKeys).toHaveLength(100);
    expect(new Set(oneTimePreKeys.preKeys.map((k) => k.id)).size).toBe(100);
    const kyberIds = new Set([...oneTimePreKeys.kyberPreKeys.map((k) => k.id), identity.kyberLastResort.id]);
    expect(kyberIds.size).toBe(101); // one-time and last-resort Kyber keys share the id space
    expect(identity.identityKey).toHaveLength(33);
    expect(identity.registrationId).toBeGreaterThanOrEqual(1);
    expect(identity.registrationId).toBeLessThanOrEqual(16380);
  });

  it('round-trips through bytes', () => {
    const id = decodeIdentityUpload(encodeIdentityUpload(registration.identity));
    expect(id).toEqual(registration.identity);
    const ot = decodeOneTimePreKeysUpload(encodeOneTimePreKeysUpload(registration.oneTimePreKeys));
    expect(ot).toEqual(registration.oneTimePreKeys);
  });

  it('chunks one-time keys under the byte budget without losing any', () => {
    for (const max of [16 * 1024, 64 * 1024, 1024 * 1024]) {
      const chunks = chunkOneTimePreKeys(registration.oneTimePreKeys, max);
      for (const c of chunks) expect(encodeOneTimePreKeysUpload(c).length).toBeLessThanOrEqual(max);
      expect(chunks.flatMap((c) => c.preKeys)).toEqual(registration.oneTimePreKeys.preKeys);
      expect(chunks.flatMap((c) => c.kyberPreKeys)).toEqual(registration.oneTimePreKeys.kyberPreKeys);
    }
    expect(() => chunkOneTimePreKeys(registration.oneTimePreKeys, 1000)).toThrow(RangeError);
  });

  it('rejects wrong lengths, non-canonical base64, extra fields, bad JSON, wrong version', () => {
    const dir = new PreKeyDirectory();
    dir.register('carol', registration.identity, registration.oneTimePreKeys);
    const good = JSON.parse(new TextDecoder().decode(dir.fetchBundle('carol'))) as Record<string, unknown>;
    expect(() => decodePreKeyBundle(new TextEncoder().encode(JSON.stringify(good)))).not.toThrow();
    const variants: Record<string, unknown>[] = [
      { ...good, identityKey: Buffer.alloc(32).toString('base64') },
      { ...good, identityKey: `${good.identityKey as string}\n` },
      { ...good, signedPreKey: { ...(good.signedPreKey as object), signature: (good.signedPreKey as { signature: string }).signature.replace(/=+$/, '') } },
      { ...good, extra: 1 },
      { ...good, v: 2 },
      { ...good, registrationId: 0 },
      { ...good, deviceId: 128 },
      { ...good, preKey: { id: 0, publicKey: (good.preKey as { publicKey: string }).publicKey } },
      { ...good, kyberPreKey: undefined },
    ];
    for (const v of variants) {
      expect(() => decodePreKeyBundle(new TextEncoder().encode(JSON.stringify(v)))).toThrow(BadBundle);
    }
    expect(() => decodePreKeyBundle(new TextEncoder().encode('{'))).toThrow(BadBundle);
    expect(() => decodePreKeyBundle(new Uint8Array([0xff, 0xfe]))).toThrow(BadBundle);
    expect(() => decodePreKeyBundle(new Uint8Array(1024 * 1024))).toThrow(BadBundle);
  });
});
