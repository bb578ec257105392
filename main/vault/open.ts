// Opening vault.db: cheap pre-checks of the file, the connection's pragmas, the checks of an
// existing database (key check, sealed schema version, schema) before anything writes, then
// migrations and the recovery copy. Also the error mapping every vault query uses.
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync, readSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateFile } from '../../shared/private-files.ts';
import { open, seal } from './aead.ts';
import { ProfileLocked, UnsupportedVersion, VaultCorrupt, VaultError } from './errors.ts';
import { HEADER_FILE, type VaultHeader } from './header.ts';
import { blobColumn, checkSchema, latestSchema, SCHEMA_VERSION_ROW } from './integrity.ts';
import { SALT_BYTES } from './kdf.ts';
import type { VaultKeys } from './keys.ts';
import { ad } from './records.ts';
import { encodeRecoveryCopy, probeRecoveryCopy, RECOVERY_COPY_ROW } from './recovery-copy.ts';
import { migrate, schemaVersion } from './schema.ts';
import { sqliteOptions } from './sqlite-binding.ts';

export const DB_FILE = 'vault.db';
const KEY_CHECK_PLAINTEXT = Buffer.from('ephemera vault key check v1', 'utf8');

function isSqliteCorruption(err: unknown): boolean {
  if (!(err instanceof Database.SqliteError)) return false;
  return err.code.startsWith('SQLITE_CORRUPT') || err.code === 'SQLITE_NOTADB' || err.code === 'SQLITE_IOERR_SHORT_READ' || err.code === 'SQLITE_FORMAT';
}

/** SQLite corruption becomes VaultCorrupt; with `profileDir`, a busy database is ProfileLocked. */
export function mapError(err: unknown, profileDir?: string): unknown {
  if (err instanceof VaultError) return err;
  if (profileDir !== undefined && err instanceof Database.SqliteError && err.code.startsWith('SQLITE_BUSY')) return new ProfileLocked(profileDir);
  if (isSqliteCorruption(err)) return new VaultCorrupt(`database error ${(err as { code: string }).code}`, { cause: err });
  return err;
}

/**
 * Cheap structural check of vault.db before SQLite opens it (O(1), unlike PRAGMA quick_check):
 * the magic string, a sane page size, and a file at least as long as the page count its
 * header declares. Catches truncation and non-database files up front.
 */
function checkDatabaseFile(path: string): void {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new VaultCorrupt(`${DB_FILE} is missing`);
  }
  if (size < 100) throw new VaultCorrupt(`${DB_FILE} is truncated`);
  const head = Buffer.alloc(100);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 100, 0);
  } finally {
    closeSync(fd);
  }
  if (!head.subarray(0, 16).equals(Buffer.from('SQLite format 3\0', 'latin1'))) throw new VaultCorrupt(`${DB_FILE} is not a database`);
  const rawPageSize = head.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) throw new VaultCorrupt(`${DB_FILE} has a bad header`);
  if (size % pageSize !== 0) throw new VaultCorrupt(`${DB_FILE} is truncated`);
  const pageCount = head.readUInt32BE(28);
  const headerCountValid = head.readUInt32BE(24) === head.readUInt32BE(92) && pageCount > 0;
  if (headerCountValid && pageCount * pageSize > size) throw new VaultCorrupt(`${DB_FILE} is truncated`);
}

/** The recovery part of a lost header, from vault.db's copy; the caller makes a new password wrap. */
export function headerFromCopy(profileDir: string): VaultHeader {
  const probe = probeRecoveryCopy(join(profileDir, DB_FILE));
  if (probe.kind === 'unreadable') throw probe.cause instanceof VaultError ? probe.cause : new VaultCorrupt(`${DB_FILE} cannot be read`, { cause: probe.cause });
  if (probe.kind === 'none') throw new VaultCorrupt(`${HEADER_FILE} is missing and ${DB_FILE} holds no copy of the recovery data (made by an older version): restore ${HEADER_FILE}`);
  const { format, vaultId, kdf, recoveryWrap } = probe.copy;
  return { format, vaultId, kdf: { ...kdf, salt: randomBytes(SALT_BYTES) }, passwordWrap: Buffer.alloc(0), recoveryWrap };
}

export function removeDatabaseFiles(profileDir: string): void {
  for (const f of [DB_FILE, `${DB_FILE}-wal`, `${DB_FILE}-shm`]) {
    try {
      unlinkSync(join(profileDir, f));
    } catch {
      // not there
    }
  }
}

/**
 * Renames vault.db (and its -wal / -shm) aside to `vault.db.orphaned-<time>` (mode 0600) and
 * returns that path, or undefined when there is no vault.db. For a header-less database that
 * create cannot tell from an interrupted create's leftover: it may be an older vault whose
 * header was lost, so it is kept for the user rather than deleted.
 */
export function setAsideDatabaseFiles(profileDir: string): string | undefined {
  const db = join(profileDir, DB_FILE);
  if (!existsSync(db)) {
    removeDatabaseFiles(profileDir);
    return undefined;
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let aside = `${db}.orphaned-${stamp}`;
  for (let n = 2; existsSync(aside); n++) aside = `${db}.orphaned-${stamp}-${n}`;
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      renameSync(`${db}${suffix}`, `${aside}${suffix}`);
    } catch {
      continue; // not there
    }
    chmodSync(`${aside}${suffix}`, 0o600);
  }
  return aside;
}

/**
 * Opens (or, `creating`, makes) vault.db, checks an existing one before anything is written,
 * sets the pragmas and migrates. The caller closes the returned connection.
 */
export function openDatabase(profileDir: string, header: VaultHeader, keys: VaultKeys, creating: boolean): Database.Database {
  const path = join(profileDir, DB_FILE);
  if (!creating) checkDatabaseFile(path);
  // SQLite would create the file (and then its WAL) with 0644 minus the umask.
  else ensurePrivateFile(path);
  let db: Database.Database | undefined;
  try {
    // timeout 0: another process holding the database must fail fast, not wait 5 s.
    db = new Database(path, { fileMustExist: !creating, timeout: 0, ...sqliteOptions() });
    const conn = db;
    // Second guard behind vault.lock: an OS-level exclusive lock held for the connection's
    // life (released by the kernel if the process dies). In WAL mode this also means no -shm.
    conn.pragma('locking_mode = EXCLUSIVE');
    conn.pragma('trusted_schema = OFF');
    conn.pragma('cell_size_check = ON');
    const vaultIdHex = header.vaultId.toString('hex');
    const checkAd = ad('vault_meta', 'key_check', vaultIdHex);
    const versionAd = ad('vault_meta', SCHEMA_VERSION_ROW, vaultIdHex);
    // An existing database is checked before the pragmas and migrations below write anything.
    const sealedVersion = creating ? undefined : checkExisting(conn, keys, checkAd, versionAd);
    conn.pragma('journal_mode = WAL');
    conn.pragma('synchronous = FULL');
    conn.pragma('secure_delete = ON');
    // SQLite's own checkpoint would run inside whichever commit crosses its threshold (up to
    // 91 ms of a catch-up's main thread at load): the gate checkpoints in a turn of its own
    // instead, with a hard bound on the WAL (WriteGate, WAL_CHECKPOINT_BYTES).
    conn.pragma('wal_autocheckpoint = 0');
    conn.transaction(() => {
      migrate(conn);
      if (creating) conn.prepare("INSERT INTO vault_meta (name, sealed) VALUES ('key_check', ?)").run(seal(keys.key('meta'), KEY_CHECK_PLAINTEXT, checkAd));
      // The schema version, sealed, so an edited user_version is found (checkExisting).
      const latest = latestSchema();
      if (sealedVersion !== latest) {
        conn.prepare('INSERT OR REPLACE INTO vault_meta (name, sealed) VALUES (?, ?)').run(SCHEMA_VERSION_ROW, seal(keys.key('meta'), Buffer.from(String(latest)), versionAd));
      }
      // Vaults made before the copy existed get it here; create stores it after the header.
      if (!creating) storeRecoveryCopy(conn, header);
    })();
    return conn;
  } catch (err) {
    db?.close();
    throw mapError(err, profileDir);
  }
}

/**
 * Reads only: the key check (does this database belong to the header?), the sealed schema
 * version against user_version, and the schema itself. Returns the sealed version, if any.
 */
function checkExisting(db: Database.Database, keys: VaultKeys, checkAd: Buffer, versionAd: Buffer): number | undefined {
  const found = schemaVersion(db);
  let rows: { name: unknown; sealed: unknown }[];
  try {
    rows = db.prepare<[string], { name: unknown; sealed: unknown }>("SELECT name, sealed FROM vault_meta WHERE name IN ('key_check', ?)").all(SCHEMA_VERSION_ROW);
  } catch (err) {
    if (err instanceof Database.SqliteError && err.code === 'SQLITE_ERROR') throw new VaultCorrupt('the database has no vault_meta table', { cause: err });
    throw err;
  }
  const keyCheck = rows.find((r) => r.name === 'key_check');
  if (!keyCheck) throw new VaultCorrupt('the database has no key check');
  let plain: Buffer;
  try {
    plain = open(keys.key('meta'), blobColumn(keyCheck.sealed, 'the key check'), checkAd);
  } catch {
    throw new VaultCorrupt('the database does not belong to this key header');
  }
  if (!plain.equals(KEY_CHECK_PLAINTEXT)) throw new VaultCorrupt('the key check does not match');
  const versionRow = rows.find((r) => r.name === SCHEMA_VERSION_ROW);
  let sealed: number | undefined;
  if (versionRow) {
    sealed = Number(keys.openSealed('meta', blobColumn(versionRow.sealed, 'the schema version'), versionAd, 'the schema version').toString('utf8'));
    if (sealed !== found) throw new VaultCorrupt(`user_version ${found} is not the sealed schema version`);
    if (sealed > latestSchema()) throw new UnsupportedVersion(sealed, latestSchema());
  } else if (found > latestSchema()) {
    // Every build that writes a newer schema seals its version: an unsealed one was edited.
    throw new VaultCorrupt(`user_version ${found} is not sealed`);
  }
  checkSchema(db, found);
  return sealed;
}

/** Keeps vault.db's copy of the header's recovery data equal to the header (recovery-copy.ts). */
export function storeRecoveryCopy(db: Database.Database, header: VaultHeader): void {
  const copy = encodeRecoveryCopy(header);
  const row = db.prepare<[string], { sealed: unknown }>('SELECT sealed FROM vault_meta WHERE name = ?').get(RECOVERY_COPY_ROW);
  if (Buffer.isBuffer(row?.sealed) && row.sealed.equals(copy)) return;
  db.prepare('INSERT OR REPLACE INTO vault_meta (name, sealed) VALUES (?, ?)').run(RECOVERY_COPY_ROW, copy);
}
