// Key lifecycle of a profile: create (new data key, both wraps, the database, then the header
// as the commit point), unlock with the password, unlock with the recovery phrase (from the
// header or, when it is lost, from vault.db's recovery copy). Whatever fails leaves the profile
// as it was and every key zeroed. Generic over the vault being made (index.ts makes a Vault).
import type Database from 'better-sqlite3';
import { randomBytes, randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir } from '../../shared/private-files.ts';
import { keyBuffer } from '../../shared/protocol/secret-bytes.ts';
import { NoVault, VaultCorrupt, VaultExists, WrongPassword, WrongRecoveryPhrase } from './errors.ts';
import { HEADER_FILE, HEADER_FORMAT, readHeader, unwrapWithPassword, unwrapWithRecovery, wrapWithPassword, wrapWithRecovery, writeHeader, type VaultHeader } from './header.ts';
import { checkKdfParams, checkNewPassword, DEFAULT_KDF, deriveRecoveryKey, derivePasswordKey, newRecoveryPhrase, phraseEntropy, SALT_BYTES, type KdfParams } from './kdf.ts';
import { freshKdf } from './keys.ts';
import type { ProfileLock } from './lockfile.ts';
import { DB_FILE, headerFromCopy, mapError, removeDatabaseFiles, setAsideDatabaseFiles, storeRecoveryCopy } from './open.ts';
import { headerMissingMessage, probeRecoveryCopy } from './recovery-copy.ts';
import { acquireProfile, scrubbed } from './scrub.ts';

/** A vault being made around a data key. */
export interface Opening<V> {
  readonly vault: V;
  /** Opens (or, `creating`, makes) vault.db behind the vault's gate; returns the connection. */
  open(creating: boolean): Database.Database;
  /** Throws VaultLocked unless the vault is still open. */
  checkOpen(): void;
  /** Locks the vault: keys zeroed, database closed, profile lock released. */
  close(): void;
}

/** Makes the vault object; it owns `dataKey` and `lock` from then on. */
export type MakeVault<V> = (profileDir: string, header: VaultHeader, dataKey: Buffer, lock: ProfileLock) => Opening<V>;

export function vaultExists(profileDir: string): boolean {
  return existsSync(join(profileDir, HEADER_FILE));
}

/** vault.db without vault.header.json: unlock says so; recovery with the phrase still works. */
export function headerMissing(profileDir: string): boolean {
  return !vaultExists(profileDir) && existsSync(join(profileDir, DB_FILE));
}

/** A header-less vault.db that `create` keeps (and refuses): one holding a recovery copy, or unreadable. */
export function headerLost(profileDir: string): boolean {
  return headerMissing(profileDir) && probeRecoveryCopy(join(profileDir, DB_FILE)).kind !== 'none';
}

/** `setAside`: where a header-less vault.db without a recovery copy was moved (see below). */
export async function createVault<V>(profileDir: string, password: string, options: { kdf?: KdfParams } | undefined, make: MakeVault<V>): Promise<{ vault: V; recoveryPhrase: string; setAside?: string }> {
  const params = checkKdfParams(options?.kdf ?? DEFAULT_KDF);
  checkNewPassword(password);
  ensurePrivateDir(profileDir);
  if (vaultExists(profileDir)) throw new VaultExists(profileDir);
  // A scrub at the last lock (this process's or another's) still holds the profile (scrub.ts).
  const lock = await acquireProfile(profileDir);
  // A database without its header: one holding a recovery copy (recovery-copy.ts), or
  // unreadable, is a vault whose header was lost, and is kept in place (create refuses). One
  // without a copy is an interrupted create's leftover (which never showed its phrase) or a
  // vault made before the copy existed whose header was lost: it is renamed aside, not deleted.
  if (probeRecoveryCopy(join(profileDir, DB_FILE)).kind !== 'none') {
    lock.release();
    throw new VaultExists(profileDir, headerMissingMessage(profileDir));
  }
  const setAside = setAsideDatabaseFiles(profileDir);
  // Outside the V8 heap, where the GC could leave moved copies (secret-bytes.ts).
  const dataKey = randomFillSync(keyBuffer(32));
  const entropy = randomFillSync(keyBuffer(32));
  let passwordKey: Buffer | undefined;
  let recoveryKey: Buffer | undefined;
  let opening: Opening<V> | undefined;
  try {
    const vaultId = randomBytes(16);
    const kdf = { ...params, salt: randomBytes(SALT_BYTES) };
    passwordKey = await derivePasswordKey(password, kdf.salt, kdf);
    recoveryKey = deriveRecoveryKey(entropy, vaultId);
    const header: VaultHeader = {
      format: HEADER_FORMAT,
      vaultId,
      kdf,
      passwordWrap: wrapWithPassword(passwordKey, dataKey, vaultId, kdf),
      recoveryWrap: wrapWithRecovery(recoveryKey, dataKey, vaultId),
    };
    opening = make(profileDir, header, dataKey, lock);
    const db = opening.open(true);
    // The header is the commit point of create: without it the database cannot be opened.
    writeHeader(profileDir, header);
    // Only now: a database with a recovery copy is never cleared (see above).
    opening.checkOpen();
    storeRecoveryCopy(db, header);
    return { vault: opening.vault, recoveryPhrase: newRecoveryPhrase(entropy), ...(setAside === undefined ? {} : { setAside }) };
  } catch (err) {
    if (opening) opening.close();
    else {
      dataKey.fill(0);
      lock.release();
    }
    if (!vaultExists(profileDir)) removeDatabaseFiles(profileDir);
    throw mapError(err);
  } finally {
    entropy.fill(0);
    passwordKey?.fill(0);
    recoveryKey?.fill(0);
  }
}

export async function unlockVault<V>(profileDir: string, password: string, make: MakeVault<V>): Promise<V> {
  if (typeof password !== 'string') throw new TypeError('password must be a string');
  // A scrub this process started at the last lock still holds the profile and vault.db (scrub.ts):
  // waited for before anything reads the files (headerMissing opens vault.db).
  await scrubbed(profileDir);
  if (!vaultExists(profileDir)) throw headerMissing(profileDir) ? new VaultCorrupt(headerMissingMessage(profileDir)) : new NoVault(profileDir);
  // Profiles made by older versions (or under a loose umask) become owner-only here.
  ensurePrivateDir(profileDir);
  const lock = await acquireProfile(profileDir);
  let dataKey: Buffer | undefined;
  try {
    const header = readHeader(profileDir);
    const passwordKey = await derivePasswordKey(password, header.kdf.salt, header.kdf);
    dataKey = unwrapWithPassword(passwordKey, header);
    passwordKey.fill(0);
    if (!dataKey) throw new WrongPassword();
    const opening = make(profileDir, header, dataKey, lock);
    try {
      opening.open(false);
    } catch (err) {
      opening.close();
      throw err;
    }
    return opening.vault;
  } catch (err) {
    dataKey?.fill(0);
    lock.release();
    throw mapError(err);
  }
}

/** Opens with the recovery phrase and sets a new password (re-wraps the data key). */
export async function unlockVaultWithRecovery<V>(profileDir: string, phrase: string, newPassword: string, make: MakeVault<V>): Promise<V> {
  checkNewPassword(newPassword);
  const entropy = phraseEntropy(phrase);
  // A scrub this process started at the last lock still holds the profile and vault.db (scrub.ts).
  await scrubbed(profileDir);
  // Without the header, vault.db's recovery copy serves (recovery-copy.ts).
  const fromCopy = !vaultExists(profileDir);
  if (fromCopy && !headerMissing(profileDir)) throw new NoVault(profileDir);
  // Profiles made by older versions (or under a loose umask) become owner-only here.
  ensurePrivateDir(profileDir);
  const lock = await acquireProfile(profileDir);
  let dataKey: Buffer | undefined;
  try {
    const header = fromCopy ? headerFromCopy(profileDir) : readHeader(profileDir);
    const recoveryKey = deriveRecoveryKey(entropy, header.vaultId);
    entropy.fill(0);
    dataKey = unwrapWithRecovery(recoveryKey, header);
    recoveryKey.fill(0);
    if (!dataKey) throw new WrongRecoveryPhrase();
    const kdf = freshKdf(header);
    const passwordKey = await derivePasswordKey(newPassword, kdf.salt, kdf);
    const newHeader: VaultHeader = { ...header, kdf, passwordWrap: wrapWithPassword(passwordKey, dataKey, header.vaultId, kdf) };
    passwordKey.fill(0);
    const opening = make(profileDir, newHeader, dataKey, lock);
    try {
      opening.open(false);
      writeHeader(profileDir, newHeader);
    } catch (err) {
      opening.close();
      throw err;
    }
    return opening.vault;
  } catch (err) {
    entropy.fill(0);
    dataKey?.fill(0);
    lock.release();
    throw mapError(err);
  }
}
