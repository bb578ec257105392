// Structural checks of vault.db before it is used: damage to the file (a dropped table or index,
// an added trigger, a changed user_version, a column holding the wrong type) must surface as
// VaultCorrupt, the same error as a failed tag, never as a TypeError or a raw SQLite error.
import Database from 'better-sqlite3';
import { MIGRATIONS } from './schema.ts';
import { VaultCorrupt } from './errors.ts';
import { sqliteOptions } from './sqlite-binding.ts';

/** Name of the sealed vault_meta row that holds the schema version (its AD binds the vault id). */
export const SCHEMA_VERSION_ROW = 'schema_version';

type SchemaRow = { type: string; name: string; tbl_name: string; sql: string | null };
// sqlite_stat* appear after ANALYZE / PRAGMA optimize and hold no schema.
const SCHEMA_QUERY = "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name";
const expected = new Map<number, string>();

function describe(rows: SchemaRow[]): string {
  return JSON.stringify(rows.map((r) => [r.type, r.name, r.tbl_name, r.sql]));
}

/** The schema the migrations up to `version` create, computed once on an in-memory database. */
function expectedSchema(version: number): string {
  let s = expected.get(version);
  if (s === undefined) {
    const mem = new Database(':memory:', sqliteOptions());
    try {
      for (const m of MIGRATIONS) if (m.version <= version) mem.exec(m.sql);
      s = describe(mem.prepare<[], SchemaRow>(SCHEMA_QUERY).all());
    } finally {
      mem.close();
    }
    expected.set(version, s);
  }
  return s;
}

/**
 * Refuses a database whose tables, indexes and triggers are not exactly what the migrations up
 * to `version` make (a dropped table or index, an added trigger or table, a changed column).
 */
export function checkSchema(db: Database.Database, version: number): void {
  if (!MIGRATIONS.some((m) => m.version === version)) throw new VaultCorrupt(`the database claims schema version ${version}, which no build made`);
  if (describe(db.prepare<[], SchemaRow>(SCHEMA_QUERY).all()) !== expectedSchema(version)) {
    throw new VaultCorrupt(`the database's tables or indexes are not those of schema version ${version}`);
  }
}

/** The newest schema version this build knows (read when used, like MIGRATIONS itself). */
export function latestSchema(): number {
  return MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
}

/** A sealed or tag column read back: anything but a BLOB means the row was edited. */
export function blobColumn(value: unknown, what: string): Buffer {
  if (!Buffer.isBuffer(value)) throw new VaultCorrupt(`${what} is not a blob`);
  return value;
}

/** A counter or ordering column read back as a number. */
export function integerColumn(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new VaultCorrupt(`${what} is not an integer`);
  return value;
}
