// The vault's prepared statements, every table's, split into the reads and the writes
// (handles.ts), and the writer a long transaction's step hands out over them. index.ts puts
// them behind the gate; nothing here opens or locks anything.
import type Database from 'better-sqlite3';
import type { ContactRecord, ConversationRecord, VaultWriter } from './api.ts';
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
 * How the writes that can write over or delete a sealed row report it (the vault's scrub at lock,
 * index.ts rowReplaced): `hook` is what a kv write gets to probe for the row it writes over (none
 * once a replacement was reported, so the probe goes too), `probing` whether an upsert should
 * still look, `replaced` reports one.
 */
export interface ReplacedRows {
  hook(): (() => void) | undefined;
  probing(): boolean;
  replaced(): void;
}

/**
 * `write` (a contact or conversation record, written over on a rename, at each message), and a
 * report when `probe` found the row there, while `rows` still wants one. A probe that throws (an
 * invalid record) finds nothing: `write` then refuses the record with its own error.
 */
export function upsertReporting(rows: ReplacedRows, probe: () => unknown, write: () => void): void {
  let over = false;
  if (rows.probing()) {
    try {
      over = probe() !== undefined;
    } catch {
      over = false;
    }
  }
  write();
  if (over) rows.replaced();
}

/**
 * The writes, each one a step of the long transaction (so a writer kept past the transaction's
 * end is refused, like its `write`), with errors mapped as everywhere; those that can write over
 * or delete a sealed row report it to `rows`, as the vault's own writes do.
 */
export function writerThrough(step: VaultStep, rows: ReplacedRows): VaultWriter {
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
    setAccountSecret: through((w, name: string, value: Uint8Array) => kv.setAccountSecret(w, name, value, rows.hook())),
    kvSet: through((w, namespace: string, key: string, value: Uint8Array) => kv.kvSet(w, namespace, key, value, rows.hook())),
    kvDelete: through((w, namespace: string, key: string) => {
      if (kv.kvDelete(w, namespace, key)) rows.replaced();
    }),
    upsertContact: through((w, contact: ContactRecord) =>
      upsertReporting(rows, () => contacts.sealedContact(w, contact.id), () => contacts.upsertContact(w, contact)),
    ),
    upsertConversation: through((w, conversation: ConversationRecord) =>
      upsertReporting(rows, () => contacts.getConversation(w, conversation.id), () => contacts.upsertConversation(w, conversation)),
    ),
    appendMessages: through(write.appendMessages),
    updateMessageState: through(write.updateMessageState),
    deleteMessage: through(write.deleteMessage),
    outboxPut: through(outbox.outboxPut),
    outboxDelete: through((w, id: string) => {
      outbox.outboxDelete(w, id);
      rows.replaced();
    }),
  };
}
