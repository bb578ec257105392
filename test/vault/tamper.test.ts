// Tampering with sealed data on disk is detected on read as VaultCorrupt, never a crash or
// silently wrong data: flipped bytes, blobs swapped between rows and between tables,
// edited plaintext ordering columns, damaged sealed files.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { readFileSync, renameSync, writeFileSync, truncateSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import { VaultCorrupt } from '../../main/vault/errors.ts';
import { msg, tempProfile } from './helpers.ts';

const PW = 'tamper pw';

describe('tamper detection', () => {
  let profile: ReturnType<typeof tempProfile>;
  let ids: string[];

  beforeEach(async () => {
    profile = tempProfile();
    const { vault } = await Vault.create(profile.dir, PW, { kdf: TEST_KDF });
    ids = vault.appendMessages([msg('c1', 'first'), msg('c1', 'second'), msg('c2', 'third')]).map((m) => m.id);
    ids.push(vault.appendMessages([msg('c1', 'fourth')])[0]!.id);
    vault.updateMessageState(ids[0]!, 'read');
    vault.upsertContact({ id: 'k1', handle: '@a', displayName: 'A', identityChanged: false, createdAt: 1 });
    vault.upsertContact({ id: 'k2', handle: '@b', displayName: 'B', identityChanged: false, createdAt: 2 });
    vault.upsertConversation({ id: 'c1', kind: 'direct', contactId: 'k1', title: 'A', lastActivity: 5, unread: 0 });
    vault.kvSet('ns', 'one', new Uint8Array([1]));
    vault.kvSet('ns', 'two', new Uint8Array([2]));
    vault.outboxPut({ id: 'o1', body: new Uint8Array([1, 2, 3]), createdAt: 1 });
    vault.sealedFiles.write('alpha', new Uint8Array(3 * 1024 * 1024 + 17).fill(0x61));
    vault.sealedFiles.write('beta', new Uint8Array([1, 2, 3]));
    vault.lock();
  });
  afterEach(() => profile.cleanup());

  function edit(sql: (db: Database.Database) => void): void {
    const db = new Database(join(profile.dir, 'vault.db'));
    sql(db);
    db.close();
  }
  function sealedOf(db: Database.Database, table: string, where: string, ...args: unknown[]): Buffer {
    return (db.prepare(`SELECT sealed FROM ${table} WHERE ${where}`).get(...args) as { sealed: Buffer }).sealed;
  }
  /** The sealed segment that holds message `id`, and that segment's row id. */
  function segmentOf(db: Database.Database, id: string): { segment: number; sealed: Buffer } {
    const { segment } = db.prepare('SELECT segment FROM messages WHERE id = ?').get(id) as { segment: number };
    return { segment, sealed: sealedOf(db, 'message_segments', 'id = ?', segment) };
  }
  async function open(): Promise<Vault> {
    return Vault.unlock(profile.dir, PW);
  }
  async function expectCorrupt(read: (v: Vault) => unknown): Promise<void> {
    const v = await open();
    try {
      expect(() => read(v)).toThrow(VaultCorrupt);
    } finally {
      v.lock();
    }
  }

  it('untampered data reads back (control)', async () => {
    const v = await open();
    expect(v.pageMessages('c1', { limit: 10 }).map((m) => [m.text, m.state])).toEqual([
      ['first', 'read'],
      ['second', 'received'],
      ['fourth', 'received'],
    ]);
    expect(v.listContacts().length).toBe(2);
    expect(v.sealedFiles.read('alpha')!.length).toBe(3 * 1024 * 1024 + 17);
    v.lock();
  });

  for (const offset of [0, 20, 30, -1]) {
    it(`a flipped byte in a sealed message segment (offset ${offset}) is VaultCorrupt`, async () => {
      edit((db) => {
        const { segment, sealed } = segmentOf(db, ids[1]!);
        const blob = Buffer.from(sealed);
        const at = offset < 0 ? blob.length + offset : offset;
        blob[at] = (blob[at] as number) ^ 0x01;
        db.prepare('UPDATE message_segments SET sealed = ? WHERE id = ?').run(blob, segment);
      });
      await expectCorrupt((v) => v.getMessage(ids[1]!));
      await expectCorrupt((v) => v.pageMessages('c1', { limit: 10 }));
      await expectCorrupt((v) => [...v.iterateMessages()]);
    });
  }

  it('swapping sealed segments between two rows of one conversation, or of two conversations, is VaultCorrupt', async () => {
    edit((db) => {
      const a = segmentOf(db, ids[0]!);
      const b = segmentOf(db, ids[3]!);
      expect(a.segment).not.toBe(b.segment);
      db.prepare('UPDATE message_segments SET sealed = ? WHERE id = ?').run(b.sealed, a.segment);
      db.prepare('UPDATE message_segments SET sealed = ? WHERE id = ?').run(a.sealed, b.segment);
    });
    await expectCorrupt((v) => v.getMessage(ids[0]!));
    await expectCorrupt((v) => v.getMessage(ids[3]!));
    await expectCorrupt((v) => [...v.iterateMessages('c1')]);
  });

  it('swapping segments across conversations, even with their conversation column, is VaultCorrupt', async () => {
    edit((db) => {
      const a = segmentOf(db, ids[1]!);
      const c = segmentOf(db, ids[2]!);
      db.prepare('UPDATE message_segments SET sealed = ?, conversation_id = ? WHERE id = ?').run(c.sealed, 'c2', a.segment);
    });
    await expectCorrupt((v) => v.getMessage(ids[1]!));
    // Make the row agree with the copied segment's conversation too: the AD (segment id) still fails.
    edit((db) => db.prepare("UPDATE messages SET conversation_id = 'c2', order_key = 99 WHERE id = ?").run(ids[1]));
    await expectCorrupt((v) => v.getMessage(ids[1]!));
    await expectCorrupt((v) => v.pageMessages('c2', { limit: 10 }));
    await expectCorrupt((v) => [...v.iterateMessages('c2')]);
  });

  it('pointing a message row at another slot or segment is VaultCorrupt', async () => {
    edit((db) => db.prepare('UPDATE messages SET slot = 1 - slot WHERE id IN (?, ?)').run(ids[0], ids[1]));
    await expectCorrupt((v) => v.getMessage(ids[0]!));
    await expectCorrupt((v) => v.pageMessages('c1', { limit: 10 }));
    await expectCorrupt((v) => [...v.iterateMessages()]);
    edit((db) => {
      db.prepare('UPDATE messages SET slot = 1 - slot WHERE id IN (?, ?)').run(ids[0], ids[1]);
      const other = segmentOf(db, ids[3]!).segment;
      db.prepare('UPDATE messages SET segment = ?, slot = 0 WHERE id = ?').run(other, ids[0]);
    });
    await expectCorrupt((v) => v.getMessage(ids[0]!));
    await expectCorrupt((v) => [...v.iterateMessages('c1')]);
  });

  it('moving a message to another conversation or position (plaintext columns) is VaultCorrupt', async () => {
    edit((db) => db.prepare("UPDATE messages SET conversation_id = 'c9' WHERE id = ?").run(ids[1]));
    await expectCorrupt((v) => v.pageMessages('c9', { limit: 10 }));
    await expectCorrupt((v) => [...v.iterateMessages()]);
    edit((db) => db.prepare("UPDATE messages SET conversation_id = 'c1', order_key = 77 WHERE id = ?").run(ids[1]));
    await expectCorrupt((v) => v.pageMessages('c1', { limit: 10 }));
    await expectCorrupt((v) => [...v.iterateMessages('c1')]);
  });

  it('swapping sealed blobs between tables (contact <-> conversation, message segment -> contact) is VaultCorrupt', async () => {
    edit((db) => {
      const contact = sealedOf(db, 'contacts', 'id = ?', 'k1');
      const conversation = sealedOf(db, 'conversations', 'id = ?', 'c1');
      db.prepare('UPDATE contacts SET sealed = ? WHERE id = ?').run(conversation, 'k1');
      db.prepare('UPDATE conversations SET sealed = ? WHERE id = ?').run(contact, 'c1');
      db.prepare('UPDATE contacts SET sealed = ? WHERE id = ?').run(segmentOf(db, ids[0]!).sealed, 'k2');
    });
    await expectCorrupt((v) => v.getContact('k1'));
    await expectCorrupt((v) => v.getConversation('c1'));
    await expectCorrupt((v) => v.getContact('k2'));
    await expectCorrupt((v) => v.listContacts());
  });

  it('swapping kv values between keys, or replaying a message state, is VaultCorrupt', async () => {
    edit((db) => {
      const rows = db.prepare('SELECT key_tag, sealed FROM kv').all() as { key_tag: Buffer; sealed: Buffer }[];
      db.prepare('UPDATE kv SET sealed = ? WHERE key_tag = ?').run(rows[1]!.sealed, rows[0]!.key_tag);
    });
    await expectCorrupt((v) => v.kvKeys('ns'));
    edit((db) => db.prepare('UPDATE messages SET seq = seq + 100 WHERE id = ?').run(ids[0]));
    await expectCorrupt((v) => v.getMessage(ids[0]!));
    await expectCorrupt((v) => [...v.iterateMessages()]);
  });

  it('editing the outbox or the conversation ordering column is VaultCorrupt', async () => {
    edit((db) => {
      db.prepare("UPDATE outbox SET created_at = 99 WHERE id = 'o1'").run();
      db.prepare("UPDATE conversations SET last_activity = 99 WHERE id = 'c1'").run();
    });
    await expectCorrupt((v) => v.outboxList());
    await expectCorrupt((v) => v.listConversations());
  });

  it('sealed files: flipped byte, truncation at a chunk boundary or mid-chunk, and swapped files are VaultCorrupt', async () => {
    const alpha = join(profile.dir, 'alpha.sealed');
    const beta = join(profile.dir, 'beta.sealed');
    const original = readFileSync(alpha);
    const flipped = Buffer.from(original);
    flipped[2 * 1024 * 1024] = (flipped[2 * 1024 * 1024] as number) ^ 0x80;
    writeFileSync(alpha, flipped);
    await expectCorrupt((v) => v.sealedFiles.read('alpha'));
    writeFileSync(alpha, original);
    truncateSync(alpha, 12 + 2 * (1024 * 1024 + 40));
    await expectCorrupt((v) => v.sealedFiles.read('alpha'));
    writeFileSync(alpha, original);
    truncateSync(alpha, statSync(alpha).size - 5);
    await expectCorrupt((v) => v.sealedFiles.read('alpha'));
    writeFileSync(alpha, original);
    renameSync(beta, join(profile.dir, 'gamma.sealed'));
    writeFileSync(beta, original);
    await expectCorrupt((v) => v.sealedFiles.read('beta'));
  });

  it('a truncated database file is VaultCorrupt', async () => {
    const dbPath = join(profile.dir, 'vault.db');
    truncateSync(dbPath, statSync(dbPath).size - 4096);
    await expect(open()).rejects.toBeInstanceOf(VaultCorrupt);
  });
});
