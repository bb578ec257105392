// The sealed outbox (table outbox): relay requests waiting to be sent, in creation order.
import type Database from 'better-sqlite3';
import type { OutboxItem } from './api.ts';
import { seal } from './aead.ts';
import type { Prepared, ReadableDB, WritableDB } from './handles.ts';
import { ad, checkId, checkTimestamp } from './records.ts';

export function prepareOutbox(db: Database.Database) {
  return {
    read: {
      outboxList: db.prepare<[], { id: string; created_at: number; sealed: Buffer }>('SELECT id, created_at, sealed FROM outbox ORDER BY created_at, id'),
      outboxItem: db.prepare<[string], { id: string; created_at: number; sealed: Buffer }>('SELECT id, created_at, sealed FROM outbox WHERE id = ?'),
      outboxHas: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM outbox WHERE id = ?'),
    },
    write: {
      outboxPut: db.prepare<[string, number, Buffer], unknown>('INSERT OR REPLACE INTO outbox (id, created_at, sealed) VALUES (?, ?, ?)'),
      outboxDelete: db.prepare<[string], unknown>('DELETE FROM outbox WHERE id = ?'),
    },
  } satisfies Prepared<unknown, unknown>;
}

type OutboxStatements = ReturnType<typeof prepareOutbox>;
type OutboxReadable = ReadableDB<{ outbox: OutboxStatements['read'] }>;
type OutboxWritable = WritableDB<{ outbox: OutboxStatements['read'] }, { outbox: OutboxStatements['write'] }>;

export function outboxPut(db: OutboxWritable, item: OutboxItem): void {
  if (typeof item !== 'object' || item === null) throw new TypeError('outbox item must be an object');
  checkId(item.id, 'outbox id');
  checkTimestamp(item.createdAt, 'createdAt');
  if (!(item.body instanceof Uint8Array)) throw new TypeError('outbox body must be bytes');
  db.write.outbox.outboxPut.run(item.id, item.createdAt, seal(db.keys.key('outbox'), item.body, ad('outbox', item.id, item.createdAt)));
}

function openItem(db: OutboxReadable, row: { id: string; created_at: number; sealed: Buffer }): OutboxItem {
  return {
    id: row.id,
    createdAt: row.created_at,
    body: new Uint8Array(db.keys.openSealed('outbox', row.sealed, ad('outbox', row.id, row.created_at), `outbox item ${row.id}`)),
  };
}

export function outboxList(db: OutboxReadable): OutboxItem[] {
  return db.read.outbox.outboxList.all().map((row) => openItem(db, row));
}

/** One item by id, if the outbox holds it (a point read, not a listing). */
export function outboxGet(db: OutboxReadable, id: string): OutboxItem | undefined {
  checkId(id, 'outbox id');
  const row = db.read.outbox.outboxItem.get(id);
  return row ? openItem(db, row) : undefined;
}

/**
 * Whether the outbox still holds an item under id, nothing unsealed: for a caller that keeps the
 * item it put in memory and only needs to know it was not taken out meanwhile (a deletion).
 */
export function outboxHas(db: OutboxReadable, id: string): boolean {
  checkId(id, 'outbox id');
  return db.read.outbox.outboxHas.get(id) !== undefined;
}

export function outboxDelete(db: OutboxWritable, id: string): void {
  checkId(id, 'outbox id');
  db.write.outbox.outboxDelete.run(id);
}
