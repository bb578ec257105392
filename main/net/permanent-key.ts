// The device's permanent Ed25519 key. It never encrypts traffic; it only signs bind messages.
import type { KeyObject } from 'node:crypto';
import { permKeyIdOf, signBind, type BindFields } from '../../shared/protocol/bind.ts';
import { ed25519PrivateKey, newEd25519Seed, rawPublicKey } from '../../shared/protocol/keys.ts';
import type { PermanentKeyStore } from './stores.ts';
import { observeKey } from '../../shared/protocol/key-observer.ts';
import { CodedError } from '../../shared/errors.ts';

/** signBind after dispose (the vault was locked): a bug in the caller, never a relay's doing. */
export class PermanentKeyDisposed extends CodedError<'PERMANENT_KEY_DISPOSED'> {
  constructor() {
    super('PERMANENT_KEY_DISPOSED', 'the permanent key was disposed (vault locked)');
  }
}

export class PermanentKey {
  readonly publicRaw: Buffer;
  readonly permKeyId: Buffer;
  #privateKey: KeyObject | undefined;

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
    const key = this.#privateKey;
    if (!key) throw new PermanentKeyDisposed();
    return signBind({ ...fields, permKeyId: this.permKeyId, permPub: this.publicRaw }, key);
  }

  /**
   * Lets go of the native key object (on lock). JS cannot zero it; OpenSSL cleanses the private
   * key when the garbage collector frees it, which needs the object to be unreachable even while
   * something still holds this PermanentKey (a closing socket's listeners, a pending promise).
   */
  dispose(): void {
    this.#privateKey = undefined;
  }
}
