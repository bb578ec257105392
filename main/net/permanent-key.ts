// The device's permanent Ed25519 key. It never encrypts traffic; it only signs bind messages.
import type { KeyObject } from 'node:crypto';
import { permKeyIdOf, signBind, type BindFields } from '../../shared/protocol/bind.ts';
import { ed25519PrivateKey, newEd25519Seed, rawPublicKey } from '../../shared/protocol/keys.ts';
import type { PermanentKeyStore } from './stores.ts';
import { observeKey } from '../../shared/protocol/key-observer.ts';

export class PermanentKey {
  readonly publicRaw: Buffer;
  readonly permKeyId: Buffer;
  readonly #privateKey: KeyObject;

  private constructor(privateKey: KeyObject) {
    this.#privateKey = privateKey;
    this.publicRaw = rawPublicKey(privateKey);
    this.permKeyId = permKeyIdOf(this.publicRaw);
  }

  /** The seed buffer is zeroed after the native key object is made. */
  static fromSeed(seed: Uint8Array): PermanentKey {
    try {
      observeKey('permanent', seed);
      return new PermanentKey(ed25519PrivateKey(seed));
    } finally {
      seed.fill(0);
    }
  }

  static async loadOrCreate(store: PermanentKeyStore): Promise<PermanentKey> {
    const existing = await store.load();
    if (existing) {
      if (existing.length !== 32) throw new Error('stored permanent key has the wrong length');
      return PermanentKey.fromSeed(existing);
    }
    const seed = newEd25519Seed();
    await store.save(seed);
    return PermanentKey.fromSeed(seed);
  }

  signBind(fields: Omit<BindFields, 'permKeyId' | 'permPub'>): { message: Buffer; signature: Buffer } {
    return signBind({ ...fields, permKeyId: this.permKeyId, permPub: this.publicRaw }, this.#privateKey);
  }
}
