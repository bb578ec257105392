// The relay's public prekey material (SQLite, the same database as devices and the queue):
// per device the identity upload (identity key, signed prekey, Kyber last-resort prekey) and
// pools of one-time EC and Kyber prekeys. Public keys only; each one-time key is handed out at
// most once (taken and deleted in one transaction).
import type Database from 'better-sqlite3';

/** Most one-time keys of each kind kept per device; further uploads are ignored beyond this. */
export const MAX_ONE_TIME_KEYS = 500;

export interface StoredIdentity {
  registrationId: number;
  deviceId: number;
  identityKey: Buffer;
  signedPreKey: { id: number; publicKey: Buffer; signature: Buffer };
  kyberLastResort: { id: number; publicKey: Buffer; signature: Buffer };
}

export interface OneTimeKey {
  id: number;
  publicKey: Buffer;
  signature?: Buffer;
}

/** A prekey_identity row as both backends read it (the same columns in SQLite and PostgreSQL). */
export interface IdentityRow {
  registration_id: number;
  device_id: number;
  identity_key: Buffer;
  signed_id: number;
  signed_pub: Buffer;
  signed_sig: Buffer;
  kyber_id: number;
  kyber_pub: Buffer;
  kyber_sig: Buffer;
}

export function identityFromRow(r: IdentityRow): StoredIdentity {
  return {
    registrationId: r.registration_id,
    deviceId: r.device_id,
    identityKey: r.identity_key,
    signedPreKey: { id: r.signed_id, publicKey: r.signed_pub, signature: r.signed_sig },
    kyberLastResort: { id: r.kyber_id, publicKey: r.kyber_pub, signature: r.kyber_sig },
  };
}

export class KeyStore {
  private readonly db: Database.Database;
  private readonly st;

  constructor(db: Database.Database) {
    this.db = db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS prekey_identity (
        perm_key_id BLOB PRIMARY KEY,
        registration_id INTEGER NOT NULL,
        device_id INTEGER NOT NULL,
        identity_key BLOB NOT NULL,
        signed_id INTEGER NOT NULL,
        signed_pub BLOB NOT NULL,
        signed_sig BLOB NOT NULL,
        kyber_id INTEGER NOT NULL,
        kyber_pub BLOB NOT NULL,
        kyber_sig BLOB NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS prekey_one_time (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        perm_key_id BLOB NOT NULL,
        kind INTEGER NOT NULL,
        key_id INTEGER NOT NULL,
        public_key BLOB NOT NULL,
        signature BLOB,
        UNIQUE (perm_key_id, kind, key_id)
      );
      CREATE INDEX IF NOT EXISTS prekey_one_time_by_owner ON prekey_one_time (perm_key_id, kind, seq);
    `);
    this.st = {
      identity: db.prepare<[Buffer], IdentityRow>(
        'SELECT registration_id, device_id, identity_key, signed_id, signed_pub, signed_sig, kyber_id, kyber_pub, kyber_sig FROM prekey_identity WHERE perm_key_id = ?',
      ),
      upsertIdentity: db.prepare<[Buffer, number, number, Buffer, number, Buffer, Buffer, number, Buffer, Buffer, number]>(
        `INSERT INTO prekey_identity (perm_key_id, registration_id, device_id, identity_key, signed_id, signed_pub, signed_sig, kyber_id, kyber_pub, kyber_sig, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (perm_key_id) DO UPDATE SET registration_id = excluded.registration_id, device_id = excluded.device_id,
           identity_key = excluded.identity_key, signed_id = excluded.signed_id, signed_pub = excluded.signed_pub,
           signed_sig = excluded.signed_sig, kyber_id = excluded.kyber_id, kyber_pub = excluded.kyber_pub,
           kyber_sig = excluded.kyber_sig, updated_at = excluded.updated_at`,
      ),
      deleteOneTime: db.prepare<[Buffer]>('DELETE FROM prekey_one_time WHERE perm_key_id = ?'),
      count: db.prepare<[Buffer, number], { n: number }>('SELECT COUNT(*) AS n FROM prekey_one_time WHERE perm_key_id = ? AND kind = ?'),
      insertOneTime: db.prepare<[Buffer, number, number, Buffer, Buffer | null]>(
        'INSERT OR IGNORE INTO prekey_one_time (perm_key_id, kind, key_id, public_key, signature) VALUES (?, ?, ?, ?, ?)',
      ),
      oldest: db.prepare<[Buffer, number], { seq: number; key_id: number; public_key: Buffer; signature: Buffer | null }>(
        'SELECT seq, key_id, public_key, signature FROM prekey_one_time WHERE perm_key_id = ? AND kind = ? ORDER BY seq LIMIT 1',
      ),
      take: db.prepare<[number]>('DELETE FROM prekey_one_time WHERE seq = ?'),
    };
  }

  identity(permKeyId: Buffer): StoredIdentity | undefined {
    const r = this.st.identity.get(permKeyId);
    return r ? identityFromRow(r) : undefined;
  }

  /**
   * Stores the identity upload. A different identity key is a re-registration: the device's
   * one-time keys belonged to the old identity and are deleted. Returns whether it replaced one.
   */
  putIdentity(permKeyId: Buffer, id: StoredIdentity, now: number): { reRegistered: boolean } {
    return this.db.transaction(() => {
      const old = this.identity(permKeyId);
      const reRegistered = old !== undefined && !old.identityKey.equals(id.identityKey);
      if (reRegistered) this.st.deleteOneTime.run(permKeyId);
      this.st.upsertIdentity.run(
        permKeyId, id.registrationId, id.deviceId, id.identityKey,
        id.signedPreKey.id, id.signedPreKey.publicKey, id.signedPreKey.signature,
        id.kyberLastResort.id, id.kyberLastResort.publicKey, id.kyberLastResort.signature, now,
      );
      return { reRegistered };
    })();
  }

  /** Inserts keys not yet present (by id), up to MAX_ONE_TIME_KEYS per kind. Returns how many were added. */
  addOneTime(permKeyId: Buffer, preKeys: readonly OneTimeKey[], kyberPreKeys: readonly OneTimeKey[]): { preKeys: number; kyberPreKeys: number } {
    return this.db.transaction(() => {
      const add = (kind: 0 | 1, keys: readonly OneTimeKey[]): number => {
        let room = MAX_ONE_TIME_KEYS - this.st.count.get(permKeyId, kind)!.n;
        let added = 0;
        for (const k of keys) {
          if (room <= 0) break;
          const changes = this.st.insertOneTime.run(permKeyId, kind, k.id, k.publicKey, k.signature ?? null).changes;
          added += changes;
          room -= changes;
        }
        return added;
      };
      return { preKeys: add(0, preKeys), kyberPreKeys: add(1, kyberPreKeys) };
    })();
  }

  counts(permKeyId: Buffer): { preKeys: number; kyberPreKeys: number } {
    return { preKeys: this.st.count.get(permKeyId, 0)!.n, kyberPreKeys: this.st.count.get(permKeyId, 1)!.n };
  }

  /**
   * Takes (deletes) the oldest one-time EC and Kyber prekeys of the device, in one transaction,
   * so no key is handed out twice. undefined for a kind that has none left.
   */
  takeOneTime(permKeyId: Buffer): { preKey: OneTimeKey | undefined; kyberPreKey: OneTimeKey | undefined } {
    return this.db.transaction(() => {
      const take = (kind: 0 | 1): OneTimeKey | undefined => {
        const r = this.st.oldest.get(permKeyId, kind);
        if (!r) return undefined;
        this.st.take.run(r.seq);
        return r.signature ? { id: r.key_id, publicKey: r.public_key, signature: r.signature } : { id: r.key_id, publicKey: r.public_key };
      };
      return { preKey: take(0), kyberPreKey: take(1) };
    })();
  }
}
