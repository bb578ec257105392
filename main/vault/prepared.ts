// The vault's prepared statements, every table's, split into the reads and the writes
// (handles.ts), and the writer a long transaction's step hands out over them. index.ts puts
// them behind the gate; nothing here opens or locks anything.
import type Database from 'better-sqlite3';
import type { VaultWriter } from './api.ts';
import * as contacts from './contacts.ts';
import type { Step } from './gate.ts';
import type { WritableDB } from './handles.ts';
import * as kv from './kv.ts';
import { prepareMessages, type MessageCounters } from './messages/statements.ts';
import * as write from './messages/write.ts';
import { mapError } from './open.ts';
import * as outbox from './outbox.ts';

/** Every table's statements, split into the reads and the writes (handles.ts). */
export function prepareAll(db: Database.Database, counters: MessageCounters) {
  const k = kv.prepareKv(db);
  const c = contacts.prepareContacts(db);
  const m = prepareMessages(db, counters);
  const o = outbox.prepareOutbox(db);
  return {
    read: { kv: k.read, contacts: c.read, messages: m.read, outbox: o.read },
    write: { kv: k.write, contacts: c.write, messages: m.write, outbox: o.write },
  };
}

export type Statements = ReturnType<typeof prepareAll>;
export type VaultStep = Step<Statements['read'], Statements['write']>;
type VaultWritable = WritableDB<Statements['read'], Statements['write']>;

/**
 * The writes, each one a step of the long transaction (so a writer kept past the transaction's
 * end is refused, like its `write`), with errors mapped as everywhere.
 */
export function writerThrough(step: VaultStep): VaultWriter {
  const through =
    <A extends unknown[], T>(fn: (db: VaultWritable, ...args: A) => T) =>
    (...args: A): T =>
      step((w) => {
        try {
          return fn(w, ...args);
        } catch (err) {
          throw mapError(err);
        }
      });
  return {
    setAccountSecret: through(kv.setAccountSecret),
    kvSet: through(kv.kvSet),
    kvDelete: through(kv.kvDelete),
    upsertContact: through(contacts.upsertContact),
    upsertConversation: through(contacts.upsertConversation),
    appendMessages: through(write.appendMessages),
    updateMessageState: through(write.updateMessageState),
    deleteMessage: through(write.deleteMessage),
    outboxPut: through(outbox.outboxPut),
    outboxDelete: through(outbox.outboxDelete),
  };
}
