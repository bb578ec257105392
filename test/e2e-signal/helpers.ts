// Test helpers for the E2E layer: an in-memory stand-in for the vault's kv/secret surface and a
// minimal relay-side prekey directory that hands out each one-time key at most once.
import type { E2eVault } from '../../main/e2e/kv.ts';
import {
  decodeIdentityUpload,
  decodeOneTimePreKeysUpload,
  encodeIdentityUpload,
  encodeOneTimePreKeysUpload,
  encodePreKeyBundle,
  chunkOneTimePreKeys,
  type IdentityUpload,
  type KyberPublicPreKey,
  type OneTimePreKeysUpload,
  type PublicPreKey,
} from '../../shared/protocol/prekey-bundle.ts';

export class MemoryVault implements E2eVault {
  private readonly kv = new Map<string, Map<string, Uint8Array>>();
  private readonly secrets = new Map<string, Uint8Array>();
  writes = 0;

  kvGet(ns: string, key: string): Uint8Array | undefined {
    return this.kv.get(ns)?.get(key)?.slice();
  }
  kvSet(ns: string, key: string, value: Uint8Array): void {
    this.writes++;
    let m = this.kv.get(ns);
    if (!m) this.kv.set(ns, (m = new Map()));
    m.set(key, value.slice());
  }
  kvDelete(ns: string, key: string): void {
    this.writes++;
    this.kv.get(ns)?.delete(key);
  }
  kvKeys(ns: string): string[] {
    return [...(this.kv.get(ns)?.keys() ?? [])];
  }
  getAccountSecret(name: string): Uint8Array | undefined {
    return this.secrets.get(name)?.slice();
  }
  setAccountSecret(name: string, value: Uint8Array): void {
    this.secrets.set(name, value.slice());
  }
}

/** What relay/ is expected to do with uploads: store them, hand out each one-time key once. */
export class PreKeyDirectory {
  private readonly accounts = new Map<string, { identity: IdentityUpload; preKeys: PublicPreKey[]; kyberPreKeys: KyberPublicPreKey[] }>();

  /** Uploads go through the byte encoding, as over the wire. */
  register(handle: string, identity: IdentityUpload, oneTime: OneTimePreKeysUpload): void {
    this.accounts.set(handle, { identity: decodeIdentityUpload(encodeIdentityUpload(identity)), preKeys: [], kyberPreKeys: [] });
    for (const chunk of chunkOneTimePreKeys(oneTime)) this.addOneTime(handle, encodeOneTimePreKeysUpload(chunk));
  }

  updateIdentity(handle: string, identity: IdentityUpload): void {
    const account = this.must(handle);
    account.identity = decodeIdentityUpload(encodeIdentityUpload(identity));
  }

  addOneTime(handle: string, bytes: Uint8Array): void {
    const upload = decodeOneTimePreKeysUpload(bytes);
    const account = this.must(handle);
    account.preKeys.push(...upload.preKeys);
    account.kyberPreKeys.push(...upload.kyberPreKeys);
  }

  counts(handle: string): { preKeys: number; kyberPreKeys: number } {
    const a = this.must(handle);
    return { preKeys: a.preKeys.length, kyberPreKeys: a.kyberPreKeys.length };
  }

  fetchBundle(handle: string): Uint8Array {
    const a = this.must(handle);
    const preKey = a.preKeys.shift() ?? null;
    const kyberPreKey = a.kyberPreKeys.shift() ?? a.identity.kyberLastResort;
    return encodePreKeyBundle({
      v: 1,
      registrationId: a.identity.registrationId,
      deviceId: a.identity.deviceId,
      identityKey: a.identity.identityKey,
      signedPreKey: a.identity.signedPreKey,
      preKey,
      kyberPreKey,
    });
  }

  /** A cheating relay: the next bundle without consuming the one-time keys. */
  peekBundle(handle: string): Uint8Array {
    const a = this.must(handle);
    return encodePreKeyBundle({
      v: 1,
      registrationId: a.identity.registrationId,
      deviceId: a.identity.deviceId,
      identityKey: a.identity.identityKey,
      signedPreKey: a.identity.signedPreKey,
      preKey: a.preKeys[0] ?? null,
      kyberPreKey: a.kyberPreKeys[0] ?? a.identity.kyberLastResort,
    });
  }

  private must(handle: string) {
    const a = this.accounts.get(handle);
    if (!a) throw new Error(`unknown handle ${handle}`);
    return a;
  }
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);
