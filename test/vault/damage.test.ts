// Any damage to vault.db: a column holding the wrong type, a changed user_version, a
// dropped table or index, an added trigger. Unlocking and reading everything either works or
// fails with VaultCorrupt (VAULT_CORRUPT, the CLI's exit code 5, as for a bad tag), never a
// TypeError or a raw SQLite error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { UnsupportedVersion } from '../../main/vault/errors.ts';
import { LATEST_SCHEMA, MIGRATIONS, type Migration } from '../../main/vault/schema.ts';
import { damagedCopies, msg, snapshotDir } from './helpers.ts';

const PW = 'damage password';

/** Every read the app does, then one write; returns 'ok' or the error's code or name. */
async function readEverything(dir: string): Promise<string> {
  let vault: Vault | undefined;
  try {
    vault = await Vault.unlock(dir, PW);
    vault.listContacts();
    vault.getContact('contact-1');
    const conversations = vault.listConversations();
    for (const c of conversations) vault.getConversation(c.id);
    for (const conv of ['conv-a', 'conv-b']) {
      const page = vault.pageMessages(conv, { limit: 500 });
      vault.pageMessages(conv, { limit: 10, before: 1000 });
      if (page[0]) vault.pageAround(page[0].id, 5, 5);
      vault.countMessages(conv);
    }
    for (const _m of vault.iterateMessages()) continue;
    vault.changesSince(0, 1000);
    vault.kvKeys('ns').map((k) => vault?.kvGet('ns', k));
    vault.getAccountSecret('identity');
    vault.outboxList();
    vault.sealedFiles.read('snap');
    vault.appendMessages([msg('conv-a', 'after damage')]);
    vault.updateMessageState('m-state', 'read');
    return 'ok';
  } catch (err) {
    const e = err as { code?: unknown; name?: string; message?: string };
    return typeof e.code === 'string' && (err as Error).constructor.name.startsWith('Vault') ? e.code : `${e.name ?? 'throw'}: ${e.message ?? String(err)}`;
  } finally {
    if (vault?.isUnlocked) vault.lock();
  }
}

describe('a damaged vault.db is VAULT_CORRUPT, never a TypeError', () => {
  const root = mkdtempSync(join(tmpdir(), 'ephemera-damage-'));
  const original = join(root, 'original');
  const damaged = damagedCopies(root, original);

  beforeAll(async () => {
    const { vault } = await Vault.create(original, PW, { kdf: TEST_KDF });
    // Not a literal: `verified` is the flag of rows written before verifiedKey (vault/records.ts),
    // which ContactRecord no longer declares.
    const alice = { id: 'contact-1', handle: 'alice', displayName: 'Alice', verified: false, identityChanged: false, createdAt: 1 };
    vault.upsertContact(alice);
    vault.upsertConversation({ id: 'conv-a', kind: 'direct', contactId: 'contact-1', title: 'Alice', lastActivity: 5, unread: 1 });
    vault.upsertConversation({ id: 'conv-b', kind: 'direct', contactId: 'contact-1', title: 'Bob', lastActivity: 6, unread: 0 });
    vault.appendMessages([msg('conv-a', 'one'), msg('conv-a', 'two'), msg('conv-b', 'three'), { ...msg('conv-b', 'four'), id: 'm-state' }, { ...msg('conv-a', 'gone'), id: 'm-gone' }]);
    vault.updateMessageState('m-state', 'delivered');
    vault.deleteMessage('m-gone');
    vault.kvSet('ns', 'k', new Uint8Array([1, 2, 3]));
    vault.setAccountSecret('identity', new Uint8Array([4, 5, 6]));
    vault.outboxPut({ id: 'out-1', createdAt: 7, body: new Uint8Array([8]) });
    vault.sealedFiles.write('snap', new Uint8Array([9, 9]));
    vault.lock();
    expect(await readEverything(original)).toBe('ok');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('every column of every table set to every wrong type', async () => {
    const db = new Database(join(original, 'vault.db'), { readonly: true });
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all().map((r) => r.name);
    const columns = tables.flatMap((t) => (db.pragma(`table_info(${t})`) as { name: string }[]).map((c) => [t, c.name] as const));
    db.close();
    expect(columns.length).toBeGreaterThan(20);
    const outcomes: Record<string, string> = {};
    for (const [table, column] of columns) {
      for (const [label, value] of [['text', 'x'], ['integer', 12345], ['real', 1.5], ['blob', Buffer.from([0, 255])], ['null', null]] as const) {
        let changed = 0;
        const dir = damaged((d) => {
          try {
            changed = d.prepare(`UPDATE ${table} SET ${column} = ?`).run(value).changes;
          } catch {
            // a constraint refused it (NOT NULL, INTEGER PRIMARY KEY): nothing to test
          }
        });
        if (changed === 0) continue;
        outcomes[`${table}.${column} = ${label}`] = await readEverything(dir);
      }
    }
    const bad = Object.entries(outcomes).filter(([, o]) => o !== 'ok' && o !== 'VAULT_CORRUPT');
    expect(bad).toEqual([]);
  });

  it('a changed user_version, a dropped table or index, an added trigger', async () => {
    const outcomes: Record<string, string> = {};
    const names = (() => {
      const db = new Database(join(original, 'vault.db'), { readonly: true });
      try {
        return db.prepare<[], { type: string; name: string }>("SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'").all();
      } finally {
        db.close();
      }
    })();
    for (const v of [0, 1, LATEST_SCHEMA - 1, LATEST_SCHEMA + 1, 99, -1]) outcomes[`user_version ${v}`] = await readEverything(damaged((d) => d.pragma(`user_version = ${v}`)));
    for (const { type, name } of names) outcomes[`drop ${type} ${name}`] = await readEverything(damaged((d) => d.exec(`DROP ${type.toUpperCase()} ${name}`)));
    outcomes['added trigger'] = await readEverything(damaged((d) => d.exec('CREATE TRIGGER t AFTER INSERT ON messages BEGIN DELETE FROM tombstones; END')));
    outcomes['added table'] = await readEverything(damaged((d) => d.exec('CREATE TABLE extra (x)')));
    for (const [what, outcome] of Object.entries(outcomes)) expect(outcome, what).toBe('VAULT_CORRUPT');
  });

  it('a database written by a newer build (its version sealed) is UnsupportedVersion, unchanged', async () => {
    const dir = damaged(() => undefined);
    // A newer build: one more migration, which it applies and seals on unlock.
    const migrations = MIGRATIONS as Migration[];
    const future = { version: (MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0) + 1, sql: 'CREATE TABLE later_feature (x INTEGER)' };
    migrations.push(future);
    try {
      (await Vault.unlock(dir, PW)).lock();
    } finally {
      migrations.pop();
    }
    const before = snapshotDir(dir);
    const err = await Vault.unlock(dir, PW).then(
      (v) => v.lock(),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UnsupportedVersion);
    expect(snapshotDir(dir)).toEqual(before);
  });
});
