// A relay store from before the recipients' charge (relay/blobs.ts BLOB_RECIPIENT_CHARGE_BYTES):
// the blobs it holds are charged, after the upgrade, for the recipients they still name, in
// relay.db (the column added at open) and in PostgreSQL (migration 7).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { BLOB_RECIPIENT_CHARGE_BYTES, BlobStore, MIN_BLOB_CHARGE_BYTES } from '../../relay/blobs.ts';
import { PgBlobStore } from '../../relay/blobs-pg.ts';
import { PgStoreBackend } from '../../relay/store-pg.ts';
import { tempDir } from '../net/harness.ts';
import { databaseAtSchema, startPostgres, type TestPostgres } from './pg-harness.ts';

const T0 = 1_700_000_000_000;
const owner = randomBytes(8);
const [small, large] = [randomBytes(16), randomBytes(16)];
/** A never-uploaded blob naming three recipients, and a 1 MB one naming one. */
const expected = MIN_BLOB_CHARGE_BYTES + 3 * BLOB_RECIPIENT_CHARGE_BYTES + 1_000_000 + BLOB_RECIPIENT_CHARGE_BYTES;

let pgServer: TestPostgres | undefined;
afterAll(async () => {
  await pgServer?.stop();
});

describe('the recipients\' charge on an upgraded relay store', () => {
  it('SQLite: the recipients column is added and filled from blob_recipients', () => {
    const t = tempDir('blob-charge-upgrade');
    try {
      const db = new Database(join(t.dir, 'relay.db'));
      // The tables as relay/blobs.ts made them before the column.
      db.exec(`
        CREATE TABLE blobs (
          id BLOB PRIMARY KEY, owner BLOB NOT NULL, size INTEGER NOT NULL, length INTEGER NOT NULL,
          expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE blob_recipients (
          blob_id BLOB NOT NULL, recipient BLOB NOT NULL, PRIMARY KEY (blob_id, recipient)
        ) WITHOUT ROWID;
      `);
      db.prepare('INSERT INTO blobs VALUES (?, ?, 1, 0, ?)').run(small, owner, T0 + 1000);
      db.prepare('INSERT INTO blobs VALUES (?, ?, 1000000, 0, ?)').run(large, owner, T0 + 1000);
      for (let i = 0; i < 3; i++) db.prepare('INSERT INTO blob_recipients VALUES (?, ?)').run(small, randomBytes(8));
      db.prepare('INSERT INTO blob_recipients VALUES (?, ?)').run(large, randomBytes(8));
      const blobs = new BlobStore(db, () => undefined, {}, () => T0);
      try {
        expect(blobs.usedBytes(owner)).toBe(expected);
      } finally {
        blobs.close();
      }
      // Opened again (the column is there now): nothing changes.
      const again = new BlobStore(db, () => undefined, {}, () => T0);
      again.close();
      expect(db.prepare('SELECT recipients FROM blobs ORDER BY size').all()).toEqual([{ recipients: 3 }, { recipients: 1 }]);
      db.close();
    } finally {
      t.cleanup();
    }
  });

  it('PostgreSQL: migration 7 fills the column from blob_recipients', async () => {
    pgServer ??= await startPostgres();
    // A database at schema version 6 holding the two blobs.
    const { url, client: c } = await databaseAtSchema(pgServer, 6);
    try {
      await c.query("INSERT INTO devices (perm_key_id, perm_pub, handle, created_at) VALUES ($1, $2, 'alice', 1)", [owner, randomBytes(32)]);
      await c.query('INSERT INTO blobs (id, owner, size, length, expires_at) VALUES ($1, $3, 1, 0, $4), ($2, $3, 1000000, 0, $4)', [small, large, owner, T0 + 1000]);
      await c.query('INSERT INTO blob_recipients SELECT $1, r FROM unnest($2::bytea[]) AS r', [small, [randomBytes(8), randomBytes(8), randomBytes(8)]]);
      await c.query('INSERT INTO blob_recipients VALUES ($1, $2)', [large, randomBytes(8)]);
      const store = await PgStoreBackend.open({ url });
      const blobs = new PgBlobStore(store, {}, () => T0);
      try {
        await blobs.started;
        expect(await blobs.usedBytes(owner)).toBe(expected);
      } finally {
        blobs.close();
        await store.close();
      }
    } finally {
      await c.end();
    }
  });
});
