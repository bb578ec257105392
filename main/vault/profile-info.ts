// What can be said about a profile without its password (CLI `status`): the header and the lock
// file only, never the database.
import { VaultCorrupt } from './errors.ts';
import { readHeader } from './header.ts';
import type { KdfParams } from './kdf.ts';
import { headerMissing, vaultExists } from './lifecycle.ts';
import { liveLockOwner } from './lockfile.ts';
import { headerMissingMessage } from './recovery-copy.ts';

export interface ProfileInfo {
  exists: boolean;
  format?: number;
  schemaVersion?: number;
  kdf?: KdfParams;
  /** pid of the live process holding the profile, if any. */
  lockedBy?: number;
}

/** Reads only the header and the lock file; never opens the database. Throws header errors. */
export function inspectProfile(profileDir: string): ProfileInfo {
  if (!vaultExists(profileDir)) {
    if (headerMissing(profileDir)) throw new VaultCorrupt(headerMissingMessage(profileDir));
    return { exists: false };
  }
  const header = readHeader(profileDir);
  const info: ProfileInfo = {
    exists: true,
    format: header.format,
    kdf: { memoryKiB: header.kdf.memoryKiB, iterations: header.kdf.iterations, parallelism: header.kdf.parallelism },
  };
  const owner = liveLockOwner(profileDir);
  if (owner !== undefined) info.lockedBy = owner;
  return info;
}
