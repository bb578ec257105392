// Account secrets and the generic sealed key-value namespaces (tables account_secrets, kv).
// Names, namespaces and keys reach disk only as keyed tags.
import type Database from 'better-sqlite3';
import { seal } from './aead.ts';
import type { Prepared, ReadableDB, WritableDB } from './handles.ts';
import { blobColumn } from './integrity.ts';
import { ad, decodeKeyed, encodeKeyed } from './records.ts';

export function prepareKv(db: Database.Database) {
  return {
    read: {
      getSecret: db.prepare<[Buffer], { sealed: Buffer }>('SELECT sealed FROM account_secrets WHERE name_tag = ?'),
      kvGet: db.prepare<[Buffer, Buffer], { sealed: Buffer }>('SELECT sealed FROM kv WHERE ns_tag = ? AND key_tag = ?'),
      kvList: db.prepare<[Buffer], { key_tag: Buffer; sealed: Buffer }>('SELECT key_tag, sealed FROM kv WHERE ns_tag = ?'),
      kvAny: db.prepare<[Buffer], { one: number }>('SELECT 1 AS one FROM kv WHERE ns_tag = ? LIMIT 1'),
    },
    write: {
      putSecret: db.prepare<[Buffer, Buffer], unknown>('INSERT OR REPLACE INTO account_secrets (name_tag, sealed) VALUES (?, ?)'),
      kvPut: db.prepare<[Buffer, Buffer, Buffer], unknown>('INSERT OR REPLACE INTO kv (ns_tag, key_tag, sealed) VALUES (?, ?, ?)'),
      kvDelete: db.prepare<[Buffer, Buffer], unknown>('DELETE FROM kv WHERE ns_tag = ? AND key_tag = ?'),
    },
  } satisfies Prepared<unknown, unknown>;
}

type KvStatements = ReturnType<typeof prepareKv>;
type KvReadable = ReadableDB<{ kv: KvStatements['read'] }>;
type KvWritable = WritableDB<{ kv: KvStatements['read'] }, { kv: KvStatements['write'] }>;

function checkSecretName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('secret name must be a non-empty string');
}

export function getAccountSecret(db: KvReadable, name: string): Uint8Array | undefined {
  checkSecretName(name);
  const nameTag = db.keys.tag('account', name);
  const row = db.read.kv.getSecret.get(nameTag);
  if (!row) return undefined;
  return decodeKeyed(db.keys.openSealed('account_secrets', row.sealed, ad('account_secrets', nameTag.toString('hex')), 'account secret')).value;
}

export function setAccountSecret(db: KvWritable, name: string, value: Uint8Array): void {
  checkSecretName(name);
  if (!(value instanceof Uint8Array)) throw new TypeError('secret value must be bytes');
  const nameTag = db.keys.tag('account', name);
  const plain = encodeKeyed(name, value);
  try {
    db.write.kv.putSecret.run(nameTag, seal(db.keys.key('account_secrets'), plain, ad('account_secrets', nameTag.toString('hex'))));
  } finally {
    plain.fill(0);
  }
}

function kvTags(db: KvReadable, namespace: string, key?: string): { ns: Buffer; key: Buffer | undefined } {
  if (typeof namespace !== 'string' || namespace.length === 0) throw new TypeError('namespace must be a non-empty string');
  if (key !== undefined && typeof key !== 'string') throw new TypeError('key must be a string');
  return { ns: db.keys.tag('kv-namespace', namespace), key: key === undefined ? undefined : db.keys.tag('kv-key', namespace, key) };
}

export function kvGet(db: KvReadable, namespace: string, key: string): Uint8Array | undefined {
  const t = kvTags(db, namespace, key);
  const keyTag = t.key as Buffer;
  const row = db.read.kv.kvGet.get(t.ns, keyTag);
  if (!row) return undefined;
  return decodeKeyed(db.keys.openSealed('kv', row.sealed, ad('kv', t.ns.toString('hex'), keyTag.toString('hex')), 'kv entry')).value;
}

export function kvSet(db: KvWritable, namespace: string, key: string, value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) throw new TypeError('value must be bytes');
  const t = kvTags(db, namespace, key);
  const keyTag = t.key as Buffer;
  const plain = encodeKeyed(key, value);
  try {
    db.write.kv.kvPut.run(t.ns, keyTag, seal(db.keys.key('kv'), plain, ad('kv', t.ns.toString('hex'), keyTag.toString('hex'))));
  } finally {
    plain.fill(0);
  }
}

export function kvDelete(db: KvWritable, namespace: string, key: string): void {
  const t = kvTags(db, namespace, key);
  db.write.kv.kvDelete.run(t.ns, t.key as Buffer);
}

/** Whether the namespace holds any entry (nothing opened: one index probe). */
export function kvHasAny(db: KvReadable, namespace: string): boolean {
  return db.read.kv.kvAny.get(kvTags(db, namespace).ns) !== undefined;
}

export function kvKeys(db: KvReadable, namespace: string): string[] {
  const t = kvTags(db, namespace);
  const nsHex = t.ns.toString('hex');
  const keys = db.read.kv.kvList
    .all(t.ns)
    .map((row) => decodeKeyed(db.keys.openSealed('kv', row.sealed, ad('kv', nsHex, blobColumn(row.key_tag, 'a kv key tag').toString('hex')), 'kv entry')).key);
  return keys.sort();
}
