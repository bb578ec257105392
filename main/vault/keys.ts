// The unlocked vault's keys: the data key and the per-table subkeys derived from it, held only
// while unlocked and zeroed on lock. Everything that seals or opens a row asks here, so a locked
// vault fails with VaultLocked wherever it is touched.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { open, SealOpenError } from './aead.ts';
import { VaultCorrupt, VaultLocked, WrongPassword, WrongRecoveryPhrase } from './errors.ts';
import { unwrapWithPassword, unwrapWithRecovery, wrapWithPassword, type VaultHeader } from './header.ts';
import { checkNewPassword, derivePasswordKey, deriveRecoveryKey, phraseEntropy, SALT_BYTES } from './kdf.ts';
import { blobColumn } from './integrity.ts';
import { observeKey } from '../../shared/protocol/key-observer.ts';
import { hkdfSha256 } from '../../shared/protocol/secret-bytes.ts';

export type SubkeyName = 'meta' | 'account_secrets' | 'kv' | 'contacts' | 'conversations' | 'messages' | 'message_state' | 'outbox' | 'sealed_files' | 'tags';
const SUBKEYS: readonly SubkeyName[] = ['meta', 'account_secrets', 'kv', 'contacts', 'conversations', 'messages', 'message_state', 'outbox', 'sealed_files', 'tags'];

const TAG_MEMO = 4096;

export class VaultKeys {
  #dataKey: Buffer | undefined;
  readonly #subkeys = new Map<SubkeyName, Buffer>();
  // Tags are a pure function of the tags subkey and the name, and the same few (session,
  // identity, namespace) are asked for on every received message: one HMAC each, then memoized.
  // A plain Map emptied when full (cheaper per hit than an LRU). Dropped on lock with the keys.
  readonly #tags = new Map<string, Buffer>();

  /** Takes ownership of `dataKey` (zeroed by `zero`). */
  constructor(dataKey: Buffer, vaultId: Buffer) {
    this.#dataKey = dataKey;
    observeKey('vault.data', dataKey);
    for (const name of SUBKEYS) {
      const subkey = hkdfSha256(dataKey, vaultId, `ephemera/vault/v1/subkey/${name}`, 32);
      observeKey(`vault.subkey.${name}`, subkey);
      this.#subkeys.set(name, subkey);
    }
  }

  get unlocked(): boolean {
    return this.#dataKey !== undefined;
  }

  /** Zeroes the data key and every subkey; afterwards every use throws VaultLocked. */
  zero(): void {
    this.#dataKey?.fill(0);
    this.#dataKey = undefined;
    for (const k of this.#subkeys.values()) k.fill(0);
    this.#subkeys.clear();
    this.#tags.clear();
  }

  key(name: SubkeyName): Buffer {
    const k = this.#subkeys.get(name);
    if (!k || !this.#dataKey) throw new VaultLocked();
    return k;
  }

  /** Opens a sealed column; a failed authentication is VaultCorrupt naming `what`. */
  openSealed(name: SubkeyName, blob: unknown, rowAd: Buffer, what: string): Buffer {
    try {
      return open(this.key(name), blobColumn(blob, what), rowAd);
    } catch (err) {
      if (err instanceof SealOpenError) throw new VaultCorrupt(`${what} failed authentication (tampered, swapped or damaged)`);
      throw err;
    }
  }

  /** Keyed tag for names whose clear text must not reach disk (kv keys, secret names). Read-only: it may be shared. */
  tag(...parts: string[]): Readonly<Buffer> {
    const key = this.key('tags');
    const name = JSON.stringify(parts);
    const cached = this.#tags.get(name);
    if (cached) return cached;
    const tag = createHmac('sha256', key).update(name).digest().subarray(0, 16);
    if (this.#tags.size >= TAG_MEMO) this.#tags.clear();
    this.#tags.set(name, tag);
    return tag;
  }

  /** True when `candidate` is this data key (constant time). */
  isDataKey(candidate: Buffer): boolean {
    const current = this.#dataKey;
    return current !== undefined && candidate.length === current.length && timingSafeEqual(candidate, current);
  }

  /** The password wrap of this data key under `passwordKey` (throws VaultLocked once locked). */
  wrapForPassword(passwordKey: Buffer, header: VaultHeader, kdf: VaultHeader['kdf']): Buffer {
    const dataKey = this.#dataKey;
    if (!dataKey) throw new VaultLocked();
    return wrapWithPassword(passwordKey, dataKey, header.vaultId, kdf);
  }
}

/** A copy of the header's KDF parameters with a fresh salt (each password wrap gets its own). */
export function freshKdf(header: VaultHeader): VaultHeader['kdf'] {
  return { memoryKiB: header.kdf.memoryKiB, iterations: header.kdf.iterations, parallelism: header.kdf.parallelism, salt: randomBytes(SALT_BYTES) };
}

/** The header with a new password wrap, after checking the old password. Writes nothing. */
export async function rewrapPassword(keys: VaultKeys, header: VaultHeader, oldPassword: string, newPassword: string): Promise<VaultHeader> {
  checkNewPassword(newPassword);
  const oldKey = await derivePasswordKey(oldPassword, header.kdf.salt, header.kdf);
  const unwrapped = unwrapWithPassword(oldKey, header);
  oldKey.fill(0);
  if (!keys.unlocked) {
    unwrapped?.fill(0);
    throw new VaultLocked();
  }
  const matches = unwrapped !== undefined && keys.isDataKey(unwrapped);
  unwrapped?.fill(0);
  if (!matches) throw new WrongPassword();
  const kdf = freshKdf(header);
  const newKey = await derivePasswordKey(newPassword, kdf.salt, kdf);
  try {
    return { ...header, kdf, passwordWrap: keys.wrapForPassword(newKey, header, kdf) };
  } finally {
    newKey.fill(0);
  }
}

/** True when the phrase opens the header's recovery wrap to this data key. Changes nothing. */
export function recoveryPhraseOpens(keys: VaultKeys, header: VaultHeader, phrase: string): boolean {
  let entropy: Uint8Array;
  try {
    entropy = phraseEntropy(phrase);
  } catch (err) {
    if (err instanceof WrongRecoveryPhrase) return false;
    throw err;
  }
  const recoveryKey = deriveRecoveryKey(entropy, header.vaultId);
  entropy.fill(0);
  const unwrapped = unwrapWithRecovery(recoveryKey, header);
  recoveryKey.fill(0);
  if (!unwrapped) return false;
  const same = keys.isDataKey(unwrapped);
  unwrapped.fill(0);
  return same;
}
