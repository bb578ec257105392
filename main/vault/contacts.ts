// Contacts and conversations (tables contacts, conversations): one sealed record per row.
import type Database from 'better-sqlite3';
import type { ContactRecord, ConversationRecord } from './api.ts';
import { seal } from './aead.ts';
import type { Prepared, ReadableDB, WritableDB } from './handles.ts';
import { ad, checkContact, checkLimit, checkConversation, checkId, decodeContact, decodeConversation, encodeContact, encodeConversation } from './records.ts';

export function prepareContacts(db: Database.Database) {
  return {
    read: {
      getContact: db.prepare<[string], { id: string; sealed: Buffer }>('SELECT id, sealed FROM contacts WHERE id = ?'),
      allContacts: db.prepare<[], { id: string; sealed: Buffer }>('SELECT id, sealed FROM contacts ORDER BY id'),
      getConversation: db.prepare<[string], { id: string; last_activity: number; sealed: Buffer }>('SELECT id, last_activity, sealed FROM conversations WHERE id = ?'),
      listConversations: db.prepare<[number], { id: string; last_activity: number; sealed: Buffer }>(
        'SELECT id, last_activity, sealed FROM conversations ORDER BY last_activity DESC, id LIMIT ?',
      ),
    },
    write: {
      putContact: db.prepare<[string, Buffer], unknown>('INSERT INTO contacts (id, sealed) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed'),
      putConversation: db.prepare<[string, number, Buffer], unknown>(
        'INSERT INTO conversations (id, last_activity, sealed) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET last_activity = excluded.last_activity, sealed = excluded.sealed',
      ),
    },
  } satisfies Prepared<unknown, unknown>;
}

type ContactStatements = ReturnType<typeof prepareContacts>;
type ContactsReadable = ReadableDB<{ contacts: ContactStatements['read'] }>;
type ContactsWritable = WritableDB<{ contacts: ContactStatements['read'] }, { contacts: ContactStatements['write'] }>;

export function upsertContact(db: ContactsWritable, contact: ContactRecord): void {
  checkContact(contact);
  db.write.contacts.putContact.run(contact.id, seal(db.keys.key('contacts'), encodeContact(contact), ad('contacts', contact.id)));
}

function decodeContactRow(db: ContactsReadable, row: { id: string; sealed: Buffer }): ContactRecord {
  return decodeContact(row.id, db.keys.openSealed('contacts', row.sealed, ad('contacts', row.id), `contact ${row.id}`));
}

export function getContact(db: ContactsReadable, id: string): ContactRecord | undefined {
  checkId(id, 'contact id');
  const row = db.read.contacts.getContact.get(id);
  return row ? decodeContactRow(db, row) : undefined;
}

/** The contact's sealed row as stored (unopened), to tell whether a record opened before is still current. */
export function sealedContact(db: ContactsReadable, id: string): Buffer | undefined {
  checkId(id, 'contact id');
  return db.read.contacts.getContact.get(id)?.sealed;
}

/** A contact's sealed row (sealedContact) opened; VaultCorrupt when it fails authentication. */
export function openContact(db: ContactsReadable, id: string, sealed: Buffer): ContactRecord {
  checkId(id, 'contact id');
  return decodeContactRow(db, { id, sealed });
}

/** Every contact with its sealed row. */
export function listContactsSealed(db: ContactsReadable): { record: ContactRecord; sealed: Buffer }[] {
  return db.read.contacts.allContacts.all().map((row) => ({ record: decodeContactRow(db, row), sealed: row.sealed }));
}

export function listContacts(db: ContactsReadable): ContactRecord[] {
  return db.read.contacts.allContacts.all().map((row) => decodeContactRow(db, row));
}

export function upsertConversation(db: ContactsWritable, conversation: ConversationRecord): void {
  checkConversation(conversation);
  const c = conversation;
  db.write.contacts.putConversation.run(c.id, c.lastActivity, seal(db.keys.key('conversations'), encodeConversation(c), ad('conversations', c.id, c.lastActivity)));
}

function decodeConversationRow(db: ContactsReadable, row: { id: string; last_activity: number; sealed: Buffer }): ConversationRecord {
  const plain = db.keys.openSealed('conversations', row.sealed, ad('conversations', row.id, row.last_activity), `conversation ${row.id}`);
  return decodeConversation(row.id, row.last_activity, plain);
}

export function getConversation(db: ContactsReadable, id: string): ConversationRecord | undefined {
  checkId(id, 'conversation id');
  const row = db.read.contacts.getConversation.get(id);
  return row ? decodeConversationRow(db, row) : undefined;
}

export function listConversations(db: ContactsReadable, limit?: number): ConversationRecord[] {
  const n = limit === undefined ? -1 : checkLimit(limit);
  return db.read.contacts.listConversations.all(n).map((row) => decodeConversationRow(db, row));
}
