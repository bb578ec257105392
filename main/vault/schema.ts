// Numbered schema migrations, applied in order inside one transaction each.
// PRAGMA user_version records the last applied one. A database newer than LATEST_SCHEMA is
// refused with UnsupportedVersion rather than opened.
//
// Plaintext columns are limited to opaque ids, keyed tags and ordering numbers; every secret
// field lives in a `sealed` BLOB (nonce || ciphertext || tag).
import type Database from 'better-sqlite3';
import { UnsupportedVersion } from './errors.ts';

export interface Migration {
  version: number;
  sql: string;
}

/** Rows of snapshot_keys (kv.ts), as migration 3 makes them: the current search snapshot generation's key and the next one's. */
export const SNAPSHOT_KEY_SLOTS = 2;
/** Size of every snapshot_keys value, as migration 3 makes them: nonce(24) || (4 + 32-digit generation + 32-byte key) || tag(16); all zero when empty. */
export const SNAPSHOT_KEY_ROW_BYTES = 108;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE vault_meta (name TEXT PRIMARY KEY, sealed BLOB NOT NULL) WITHOUT ROWID;
      CREATE TABLE account_secrets (name_tag BLOB PRIMARY KEY, sealed BLOB NOT NULL) WITHOUT ROWID;
      CREATE TABLE kv (
        ns_tag BLOB NOT NULL, key_tag BLOB NOT NULL, sealed BLOB NOT NULL,
        PRIMARY KEY (ns_tag, key_tag)
      ) WITHOUT ROWID;
      CREATE TABLE contacts (id TEXT PRIMARY KEY, sealed BLOB NOT NULL);
      CREATE TABLE conversations (id TEXT PRIMARY KEY, last_activity INTEGER NOT NULL, sealed BLOB NOT NULL);
      CREATE INDEX conversations_by_activity ON conversations (last_activity DESC, id);
      CREATE TABLE messages (
        rid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        conversation_id TEXT NOT NULL,
        order_key INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        segment INTEGER NOT NULL,
        slot INTEGER NOT NULL
      );
      CREATE TABLE message_segments (id INTEGER PRIMARY KEY, conversation_id TEXT NOT NULL, sealed BLOB NOT NULL);
      CREATE UNIQUE INDEX messages_by_conversation ON messages (conversation_id, order_key);
      CREATE INDEX messages_by_seq ON messages (seq);
      CREATE TABLE message_state (message_id TEXT PRIMARY KEY, sealed BLOB NOT NULL) WITHOUT ROWID;
      CREATE TABLE tombstones (id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX tombstones_by_seq ON tombstones (seq);
      CREATE TABLE outbox (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, sealed BLOB NOT NULL);
    `,
  },
  {
    // Ordering keys must never be reused: when the newest message of a conversation is
    // deleted, its key is remembered here so the next append continues above it.
    version: 2,
    sql: `
      CREATE TABLE order_high (conversation_id TEXT PRIMARY KEY, last INTEGER NOT NULL) WITHOUT ROWID;
    `,
  },
  {
    // The search snapshot generations' file keys, out of kv (kv.ts "search snapshot key slots"):
    // a fixed set of fixed-size rows, made here and only ever overwritten in place, so that
    // forgetting a key owes no scrub. A profile's older keys in kv are forgotten there once
    // (main/search/snapshot-store.ts).
    version: 3,
    sql: `
      CREATE TABLE snapshot_keys (slot INTEGER PRIMARY KEY CHECK (slot IN (0, 1)), sealed BLOB NOT NULL);
      INSERT INTO snapshot_keys (slot, sealed) VALUES (0, zeroblob(108)), (1, zeroblob(108));
    `,
  },
];

export const LATEST_SCHEMA = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Applies pending migrations; throws UnsupportedVersion for a newer database. */
export function migrate(db: Database.Database): void {
  const current = schemaVersion(db);
  if (current > LATEST_SCHEMA) throw new UnsupportedVersion(current, LATEST_SCHEMA);
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
}
