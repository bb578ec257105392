// A copy, inside vault.db, of what recovery with the phrase needs from the key header: the vault
// id, the KDF parameters and the recovery-wrapped data key. A lost vault.header.json then costs
// nothing but the password: the phrase still opens the vault (Vault.unlockWithRecovery) and
// writes a new header, and `create` refuses to clear a database that holds such a copy.
// Nothing here is secret: the wrap is sealed under the recovery key (its AD binds the vault
// id), exactly as in the header file. The password wrap is not copied: after a password change
// an old copy would keep opening with the old password.
import Database from 'better-sqlite3';
import { closeSync, openSync, readSync } from 'node:fs';
import { z } from 'zod';
import { KEY_BYTES, SEAL_OVERHEAD } from './aead.ts';
import { VaultCorrupt } from './errors.ts';
import { b64, HEADER_FORMAT, HEADER_FILE, type VaultHeader } from './header.ts';
import { checkKdfParams, type KdfParams } from './kdf.ts';
import { sqliteOptions } from './sqlite-binding.ts';

/** Its vault_meta row (the `sealed` column holds this plain JSON: the wrap inside is sealed). */
export const RECOVERY_COPY_ROW = 'recovery_copy';

export interface RecoveryCopy {
  format: number;
  vaultId: Buffer;
  kdf: KdfParams;
  recoveryWrap: Buffer;
}

const copySchema = z.strictObject({
  format: z.number().int(),
  vaultId: b64,
  kdf: z.strictObject({ memoryKiB: z.number(), iterations: z.number(), parallelism: z.number() }),
  recoveryWrap: b64,
});

export function encodeRecoveryCopy(header: VaultHeader): Buffer {
  const { memoryKiB, iterations, parallelism } = header.kdf;
  return Buffer.from(
    JSON.stringify({
      format: header.format,
      vaultId: header.vaultId.toString('base64'),
      kdf: { memoryKiB, iterations, parallelism },
      recoveryWrap: header.recoveryWrap.toString('base64'),
    }),
    'utf8',
  );
}

/** Validates like readHeader does, KDF ceiling included. */
export function decodeRecoveryCopy(raw: unknown): RecoveryCopy {
  if (!Buffer.isBuffer(raw) || raw.length > 16 * 1024) throw new VaultCorrupt('the recovery copy in vault.db is damaged');
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new VaultCorrupt('the recovery copy in vault.db is damaged', { cause: err });
  }
  const parsed = copySchema.safeParse(json);
  if (!parsed.success || parsed.data.format !== HEADER_FORMAT) throw new VaultCorrupt('the recovery copy in vault.db is damaged');
  const vaultId = Buffer.from(parsed.data.vaultId, 'base64');
  const recoveryWrap = Buffer.from(parsed.data.recoveryWrap, 'base64');
  if (vaultId.length !== 16 || recoveryWrap.length !== KEY_BYTES + SEAL_OVERHEAD) throw new VaultCorrupt('the recovery copy in vault.db is damaged');
  return { format: parsed.data.format, vaultId, kdf: checkKdfParams(parsed.data.kdf), recoveryWrap };
}

function looksLikeSqlite(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(16);
    return readSync(fd, head, 0, 16, 0) === 16 && head.equals(Buffer.from('SQLite format 3\0', 'latin1'));
  } finally {
    closeSync(fd);
  }
}

/**
 * What a database left without its header holds: 'none' (no SQLite file, or one without a copy:
 * the leftover of an interrupted create, which never showed its phrase), 'copy' (recoverable
 * with the phrase), or 'unreadable' (SQLite, but it cannot be read: kept, it may be restorable).
 * The caller holds the profile lock. Reading changes no byte of vault.db.
 */
export function probeRecoveryCopy(dbPath: string): { kind: 'none' } | { kind: 'copy'; copy: RecoveryCopy } | { kind: 'unreadable'; cause: unknown } {
  if (!looksLikeSqlite(dbPath)) return { kind: 'none' };
  let db: Database.Database | undefined;
  try {
    db = new Database(dbPath, { fileMustExist: true, timeout: 0, ...sqliteOptions() });
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('trusted_schema = OFF');
    const hasTable = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'vault_meta'").get() !== undefined;
    const row = hasTable ? db.prepare<[string], { sealed: unknown }>('SELECT sealed FROM vault_meta WHERE name = ?').get(RECOVERY_COPY_ROW) : undefined;
    return row ? { kind: 'copy', copy: decodeRecoveryCopy(row.sealed) } : { kind: 'none' };
  } catch (cause) {
    return { kind: 'unreadable', cause };
  } finally {
    db?.close();
  }
}

export function headerMissingMessage(profileDir: string): string {
  return (
    `vault.db exists in ${profileDir} but ${HEADER_FILE} is missing; nothing was changed. ` +
    `Restore ${HEADER_FILE} from a copy, or recover with your recovery phrase ("Forgot password" in the app, or ephemera recover --profile ${profileDir}).`
  );
}
