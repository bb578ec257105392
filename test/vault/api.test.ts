import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import { LATEST_SCHEMA } from '../../main/vault/schema.ts';
import { VaultLocked } from '../../main/vault/errors.ts';
import { msg, tempProfile } from './helpers.ts';

describe('vault API on a real file', () => {
  let profile: ReturnType<typeof tempProfile>;
  let vault: Vault;
  beforeEach(async () => {
    profile = tempProfile();
    vault = (await Vault.create(profile.dir, 'correct horse', { kdf: TEST_KDF })).vault;
  });
  afterEach(() => {
    vault.lock();
    profile.cleanup();
  });

  it('appends in order, pages newest/before/after, and is idempotent', () => {
    const batch = Array.from({ length: 120 }, (_, i) => msg('conv-a', `hello ${i}`));
    const stored = vault.appendMessages(batch);
    expect(stored.map((m) => m.orderKey)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(new Set(stored.map((m) => m.seq)).size).toBe(120);
    const again = vault.appendMessages([batch[5]!, msg('conv-a', 'new one')]);
    expect(again[0]).toEqual(stored[5]);
    expect(again[1]!.orderKey).toBe(121);
    expect(vault.countMessages('conv-a')).toBe(121);

    const newest = vault.pageMessages('conv-a', { limit: 50 });
    expect(newest.map((m) => m.orderKey)).toEqual(Array.from({ length: 50 }, (_, i) => 72 + i));
    const older = vault.pageMessages('conv-a', { before: 72, limit: 50 });
    expect(older.map((m) => m.orderKey)).toEqual(Array.from({ length: 50 }, (_, i) => 22 + i));
    const later = vault.pageMessages('conv-a', { after: 118, limit: 50 });
    expect(later.map((m) => m.text)).toEqual(['hello 118', 'hello 119', 'new one']);
    expect(vault.pageMessages('conv-a', { after: 10, before: 14, limit: 50 }).map((m) => m.orderKey)).toEqual([11, 12, 13]);
    expect(vault.pageAround(stored[10]!.id, 2, 3).map((m) => m.orderKey)).toEqual([9, 10, 11, 12, 13, 14]);
    expect(vault.getMessage(stored[3]!.id)).toEqual(stored[3]);
  });

  it('never reuses an ordering key, even after the newest message is deleted and across reopen', async () => {
    const [, , third] = vault.appendMessages([msg('o', '1'), msg('o', '2'), msg('o', '3')]);
    vault.deleteMessage(third!.id);
    expect(vault.appendMessages([msg('o', '4')])[0]!.orderKey).toBe(4);
    vault.deleteMessage(vault.pageMessages('o', { limit: 1 })[0]!.id);
    vault.lock();
    vault = await Vault.unlock(profile.dir, 'correct horse');
    expect(vault.appendMessages([msg('o', '5')])[0]!.orderKey).toBe(5);
  });

  it('applies numbered migrations to an older database on unlock', async () => {
    vault.appendMessages([msg('mig', 'kept')]);
    vault.lock();
    const db = new Database(join(profile.dir, 'vault.db'));
    db.exec('DROP TABLE order_high');
    db.exec('DROP TABLE IF EXISTS snapshot_keys');
    db.pragma('user_version = 1');
    // Builds of schema 1 did not seal the schema version.
    db.exec("DELETE FROM vault_meta WHERE name = 'schema_version'");
    db.close();
    vault = await Vault.unlock(profile.dir, 'correct horse');
    expect(vault.pageMessages('mig', { limit: 5 }).map((m) => m.text)).toEqual(['kept']);
    vault.deleteMessage(vault.pageMessages('mig', { limit: 5 })[0]!.id);
    vault.lock();
    // The deletion owes the lock's scrub, which holds vault.db (exclusive) until it ends.
    await Vault.scrubbed(profile.dir);
    const after = new Database(join(profile.dir, 'vault.db'), { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA);
    expect(after.prepare('SELECT last FROM order_high').all()).toEqual([{ last: 1 }]);
    after.close();
    vault = await Vault.unlock(profile.dir, 'correct horse');
  });

  it('duplicate ids inside one batch are stored once', () => {
    const m = msg('conv-d', 'once');
    const out = vault.appendMessages([m, m]);
    expect(out[0]).toEqual(out[1]);
    expect(vault.countMessages()).toBe(1);
  });

  it('keeps ordering keys per conversation and iterates conversation by conversation', () => {
    vault.appendMessages([msg('b', 'b1'), msg('a', 'a1'), msg('b', 'b2')]);
    vault.appendMessages(Array.from({ length: 1200 }, (_, i) => msg('a', `a${i + 2}`)));
    expect(vault.pageMessages('b', { limit: 10 }).map((m) => [m.text, m.orderKey])).toEqual([
      ['b1', 1],
      ['b2', 2],
    ]);
    const all = [...vault.iterateMessages()];
    expect(all.length).toBe(1203);
    expect(all.slice(0, 3).map((m) => m.text)).toEqual(['a1', 'a2', 'a3']);
    expect(all.slice(-2).map((m) => m.text)).toEqual(['b1', 'b2']);
    expect([...vault.iterateMessages('b')].map((m) => m.text)).toEqual(['b1', 'b2']);
  });

  it('reports state updates and deletes through changesSince', () => {
    const [a, b, c] = vault.appendMessages([msg('c', 'one'), msg('c', 'two'), msg('c', 'three')]);
    const start = c!.seq;
    vault.updateMessageState(a!.id, 'read');
    vault.deleteMessage(b!.id);
    vault.updateMessageState('unknown-id', 'read');
    vault.deleteMessage('unknown-id');
    expect(vault.getMessage(a!.id)!.state).toBe('read');
    expect(vault.getMessage(b!.id)).toBeUndefined();
    const ch = vault.changesSince(start, 10);
    expect(ch.upserts.map((m) => [m.id, m.state])).toEqual([[a!.id, 'read']]);
    expect(ch.deletes).toEqual([b!.id]);
    expect(ch.maxSeq).toBe(start + 2);
    expect(ch.more).toBe(false);
    const first = vault.changesSince(0, 2);
    expect(first.upserts.map((m) => m.id)).toEqual([c!.id, a!.id]);
    expect(first.deletes).toEqual([]);
    expect(first.more).toBe(true);
    const rest = vault.changesSince(first.maxSeq, 2);
    expect(rest.upserts).toEqual([]);
    expect(rest.deletes).toEqual([b!.id]);
    expect(rest.more).toBe(false);
    expect(vault.changesSince(rest.maxSeq, 5)).toEqual({ upserts: [], deletes: [], maxSeq: rest.maxSeq, more: false });
  });

  it('stores contacts, conversations, secrets, kv and outbox, and survives reopen', async () => {
    vault.upsertContact({ id: 'k1', handle: '@alice', displayName: 'Alice', identityKey: new Uint8Array([1, 2, 3]), identityChanged: false, createdAt: 5 });
    vault.upsertContact({ id: 'k2', handle: '@bob', displayName: 'Bob', verifiedKey: new Uint8Array([4, 5, 6]), identityChanged: false, createdAt: 6 });
    vault.upsertConversation({ id: 'c1', kind: 'direct', contactId: 'k1', title: 'Alice', lastActivity: 10, unread: 1 });
    vault.upsertConversation({ id: 'c2', kind: 'direct', contactId: 'k2', title: 'Bob', lastActivity: 20, unread: 0 });
    vault.setAccountSecret('device-key', new Uint8Array([9, 9]));
    vault.kvSet('sessions', 'k1.1', new Uint8Array([7]));
    vault.kvSet('sessions', 'k2.1', new Uint8Array([8]));
    vault.kvSet('prekeys', '1', new Uint8Array([6]));
    vault.outboxPut({ id: 'o2', body: new Uint8Array([2]), createdAt: 2 });
    vault.outboxPut({ id: 'o1', body: new Uint8Array([1]), createdAt: 1 });
    vault.sealedFiles.write('search-index', new Uint8Array([1, 2, 3, 4]));
    vault.lock();
    vault = await Vault.unlock(profile.dir, 'correct horse');
    expect(vault.getContact('k1')!.identityKey).toEqual(new Uint8Array([1, 2, 3]));
    expect(vault.findContactByHandle('@bob')!.id).toBe('k2');
    expect(vault.findContactByHandle('@carol')).toBeUndefined();
    expect(vault.listContacts().map((c) => c.id)).toEqual(['k1', 'k2']);
    expect(vault.listConversations().map((c) => c.id)).toEqual(['c2', 'c1']);
    expect(vault.listConversations(1).map((c) => c.id)).toEqual(['c2']);
    expect(vault.getConversation('c1')!.unread).toBe(1);
    expect(vault.getAccountSecret('device-key')).toEqual(new Uint8Array([9, 9]));
    expect(vault.getAccountSecret('nope')).toBeUndefined();
    expect(vault.kvKeys('sessions')).toEqual(['k1.1', 'k2.1']);
    expect(vault.kvGet('sessions', 'k2.1')).toEqual(new Uint8Array([8]));
    vault.kvDelete('sessions', 'k2.1');
    expect(vault.kvGet('sessions', 'k2.1')).toBeUndefined();
    expect(vault.outboxList().map((o) => o.id)).toEqual(['o1', 'o2']);
    vault.outboxDelete('o1');
    expect(vault.outboxList().map((o) => o.id)).toEqual(['o2']);
    expect(vault.sealedFiles.read('search-index')).toEqual(new Uint8Array([1, 2, 3, 4]));
    expect(vault.sealedFiles.read('absent')).toBeUndefined();
    vault.sealedFiles.remove('search-index');
    expect(vault.sealedFiles.read('search-index')).toBeUndefined();
  });

  it('lock() zeroes keys and every later call throws VaultLocked', () => {
    vault.appendMessages([msg('c', 'x')]);
    vault.lock();
    expect(vault.isUnlocked).toBe(false);
    expect(() => vault.countMessages()).toThrow(VaultLocked);
    expect(() => vault.pageMessages('c', { limit: 5 })).toThrow(VaultLocked);
    expect(() => vault.sealedFiles.read('x')).toThrow(VaultLocked);
    expect(() => vault.kvGet('a', 'b')).toThrow(VaultLocked);
    vault.lock();
  });

  it('rejects invalid input without writing', () => {
    expect(() => vault.appendMessages([msg('c', 'ok'), { ...msg('c', 'bad'), state: 'bogus' as never }])).toThrow(TypeError);
    expect(vault.countMessages()).toBe(0);
    expect(() => vault.pageMessages('c', { limit: 0 })).toThrow(RangeError);
    expect(() => vault.appendMessages([msg('has space', 'x')])).toThrow(TypeError);
    expect(() => vault.sealedFiles.write('../evil', new Uint8Array(1))).toThrow(TypeError);
  });
});
