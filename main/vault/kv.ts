// Account secrets, the generic sealed key-value namespaces and the search snapshot's key slots
// (tables account_secrets, kv, snapshot_keys). Names, namespaces and keys reach disk only as
// keyed tags or sealed.
import type Database from 'better-sqlite3';
import { seal } from './aead.ts';
import { VaultCorrupt } from './errors.ts';
import type { Prepared, ReadableDB, WritableDB } from './handles.ts';
import { blobColumn } from './integrity.ts';
import { ad, decodeKeyed, encodeKeyed } from './records.ts';
import { SNAPSHOT_KEY_ROW_BYTES, SNAPSHOT_KEY_SLOTS } from './schema.ts';

export function prepareKv(db: Database.Database) {
  return {
    read: {
      getSecret: db.prepare<[Buffer], { sealed: Buffer }>('SELECT sealed FROM account_secrets WHERE name_tag = ?'),
      secretHas: db.prepare<[Buffer], { one: number }>('SELECT 1 AS one FROM account_secrets WHERE name_tag = ?'),
      kvGet: db.prepare<[Buffer, Buffer], { sealed: Buffer }>('SELECT sealed FROM kv WHERE ns_tag = ? AND key_tag = ?'),
      kvHas: db.prepare<[Buffer, Buffer], { one: number }>('SELECT 1 AS one FROM kv WHERE ns_tag = ? AND key_tag = ?'),
      kvList: db.prepare<[Buffer], { key_tag: Buffer; sealed: Buffer }>('SELECT key_tag, sealed FROM kv WHERE ns_tag = ?'),
      kvAny: db.prepare<[Buffer], { one: number }>('SELECT 1 AS one FROM kv WHERE ns_tag = ? LIMIT 1'),
      snapshotSlots: db.prepare<[], { slot: number; sealed: Buffer }>('SELECT slot, sealed FROM snapshot_keys ORDER BY slot'),
    },
    write: {
      putSecret: db.prepare<[Buffer, Buffer], unknown>('INSERT OR REPLACE INTO account_secrets (name_tag, sealed) VALUES (?, ?)'),
      kvPut: db.prepare<[Buffer, Buffer, Buffer], unknown>('INSERT OR REPLACE INTO kv (ns_tag, key_tag, sealed) VALUES (?, ?, ?)'),
      kvDelete: db.prepare<[Buffer, Buffer], unknown>('DELETE FROM kv WHERE ns_tag = ? AND key_tag = ?'),
      // Only ever an UPDATE to a value of the same size: see the snapshot key slots below.
      snapshotSlotSet: db.prepare<[Buffer, number], unknown>('UPDATE snapshot_keys SET sealed = ? WHERE slot = ?'),
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

/**
 * `replaced`, when given, is called before a value that is already there is written over (one
 * index probe first): the older value's sealed bytes may outlive it in a page gap (scrub.ts). The
 * vault passes it only until its first such write of an unlock (Vault.rowReplaced), so after that
 * a write costs nothing more. The same for kvSet.
 */
export function setAccountSecret(db: KvWritable, name: string, value: Uint8Array, replaced?: () => void): void {
  checkSecretName(name);
  if (!(value instanceof Uint8Array)) throw new TypeError('secret value must be bytes');
  const nameTag = db.keys.tag('account', name);
  if (replaced && db.read.kv.secretHas.get(nameTag)) replaced();
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

/** `replaced`: see setAccountSecret. */
export function kvSet(db: KvWritable, namespace: string, key: string, value: Uint8Array, replaced?: () => void): void {
  if (!(value instanceof Uint8Array)) throw new TypeError('value must be bytes');
  const t = kvTags(db, namespace, key);
  const keyTag = t.key as Buffer;
  if (replaced && db.read.kv.kvHas.get(t.ns, keyTag)) replaced();
  const plain = encodeKeyed(key, value);
  try {
    db.write.kv.kvPut.run(t.ns, keyTag, seal(db.keys.key('kv'), plain, ad('kv', t.ns.toString('hex'), keyTag.toString('hex'))));
  } finally {
    plain.fill(0);
  }
}

/** True when an entry was there (and is deleted). */
export function kvDelete(db: KvWritable, namespace: string, key: string): boolean {
  const t = kvTags(db, namespace, key);
  return db.write.kv.kvDelete.run(t.ns, t.key as Buffer).changes > 0;
}

/** Whether the namespace holds any entry (nothing opened: one index probe). */
export function kvHasAny(db: KvReadable, namespace: string): boolean {
  return db.read.kv.kvAny.get(kvTags(db, namespace).ns) !== undefined;
}

export function kvKeys(db: KvReadable, namespace: string): string[] {
  const t = kvTags(db, namespace);
  const nsHex = t.ns.toString('hex');
  const keys = db.read.kv.kvList.all(t.ns).map((row) => {
    const { key, value } = decodeKeyed(db.keys.openSealed('kv', row.sealed, ad('kv', nsHex, blobColumn(row.key_tag, 'a kv key tag').toString('hex')), 'kv entry'));
    // Only the keys are returned: each value's plaintext copy is zeroed, not left to the collector.
    value.fill(0);
    return key;
  });
  return keys.sort();
}

// ---------------------------------------------------------------- search snapshot key slots
//
// Each search snapshot generation's file key (main/search/snapshot-store.ts) lives in one of the
// SNAPSHOT_KEY_SLOTS rows of snapshot_keys, never in kv. Why: a kv row's cell is copied around by
// the b-tree rebalancing that other kv writes cause, and those copies stay in pages' unallocated
// space after the row is deleted (secure_delete does not clear them), so a forgotten kv key owes
// the scrub at lock (scrub.ts), which a new generation made almost every lock pay. The slots'
// table holds only these rows, made by the migration, each a fixed-size value: their one leaf page
// never splits or rebalances, and a value is only ever replaced by one of the same size, which
// SQLite writes over the old one in place (btree.c btreeOverwriteCell). So replacing a slot leaves
// no copy of the old value in vault.db, and the old page versions in the WAL go with the TRUNCATE
// checkpoint the vault runs after it (index.ts forgetSnapshotKeys): no scrub owed (docs/vault.md).

/** A generation name: 32 hex digits (so every slot's value has the same size). */
const GENERATION = /^[0-9a-f]{32}$/;
const SNAPSHOT_KEY_BYTES = 32;

function checkGeneration(generation: string): void {
  if (typeof generation !== 'string' || !GENERATION.test(generation)) throw new TypeError('a snapshot generation must be 32 hex digits');
}

/** What each slot holds: the generation and its key (the caller zeroes the keys), or undefined when empty (all zero bytes). */
function openSlots(db: KvReadable): ({ generation: string; key: Uint8Array } | undefined)[] {
  const rows = db.read.kv.snapshotSlots.all();
  if (rows.length !== SNAPSHOT_KEY_SLOTS || rows.some((r, i) => r.slot !== i)) throw new VaultCorrupt('the snapshot key slots are not those the vault made');
  const slots: ({ generation: string; key: Uint8Array } | undefined)[] = [];
  try {
    for (const row of rows) {
      const sealed = blobColumn(row.sealed, 'a snapshot key slot');
      if (sealed.length !== SNAPSHOT_KEY_ROW_BYTES) throw new VaultCorrupt('a snapshot key slot has the wrong size');
      if (sealed.every((b) => b === 0)) {
        slots.push(undefined);
        continue;
      }
      const { key, value } = decodeKeyed(db.keys.openSealed('kv', sealed, ad('snapshot_keys', row.slot), 'snapshot key slot'));
      if (!GENERATION.test(key) || value.length !== SNAPSHOT_KEY_BYTES) {
        value.fill(0);
        throw new VaultCorrupt('a snapshot key slot holds no generation key');
      }
      slots.push({ generation: key, key: value });
    }
  } catch (e) {
    // A later slot that does not open: the keys opened before it are dropped here, so zeroed.
    zeroSlots(slots);
    throw e;
  }
  return slots;
}

function zeroSlots(slots: readonly ({ key: Uint8Array } | undefined)[]): void {
  for (const s of slots) s?.key.fill(0);
}

/** The key of `generation`'s snapshot file, if a slot holds it (the caller zeroes it). */
export function snapshotKeyGet(db: KvReadable, generation: string): Uint8Array | undefined {
  checkGeneration(generation);
  const slots = openSlots(db);
  const found = slots.find((s) => s?.generation === generation);
  for (const s of slots) if (s !== found) s?.key.fill(0);
  return found?.key;
}

/**
 * Stores `generation`'s key in a slot: the one holding that generation already, else an empty
 * one, else one not holding `keep`'s key (the current snapshot's), whose old key it destroys.
 */
export function snapshotKeyPut(db: KvWritable, generation: string, key: Uint8Array, keep: string | undefined): void {
  checkGeneration(generation);
  if (!(key instanceof Uint8Array) || key.length !== SNAPSHOT_KEY_BYTES) throw new TypeError('a snapshot key must be 32 bytes');
  const slots = openSlots(db);
  try {
    let slot = slots.findIndex((s) => s?.generation === generation);
    if (slot < 0) slot = slots.findIndex((s) => s === undefined);
    if (slot < 0) slot = slots.findIndex((s) => s?.generation !== keep);
    writeSlot(db, slot, generation, key);
  } finally {
    zeroSlots(slots);
  }
}

/** Empties (zeroes in place) every slot that does not hold `keep`'s key. */
export function snapshotKeysForget(db: KvWritable, keep: string): void {
  checkGeneration(keep);
  const slots = openSlots(db);
  try {
    slots.forEach((s, slot) => {
      if (s !== undefined && s.generation !== keep) setSlot(db, slot, Buffer.alloc(SNAPSHOT_KEY_ROW_BYTES));
    });
  } finally {
    zeroSlots(slots);
  }
}

function writeSlot(db: KvWritable, slot: number, generation: string, key: Uint8Array): void {
  const plain = encodeKeyed(generation, key);
  try {
    setSlot(db, slot, seal(db.keys.key('kv'), plain, ad('snapshot_keys', slot)));
  } finally {
    plain.fill(0);
  }
}

function setSlot(db: KvWritable, slot: number, value: Buffer): void {
  // Same size as every value before it: SQLite overwrites the old one in place (no copy).
  if (value.length !== SNAPSHOT_KEY_ROW_BYTES) throw new Error(`a snapshot key slot value must be ${SNAPSHOT_KEY_ROW_BYTES} bytes`);
  if (db.write.kv.snapshotSlotSet.run(value, slot).changes !== 1) throw new VaultCorrupt('a snapshot key slot is missing');
}
