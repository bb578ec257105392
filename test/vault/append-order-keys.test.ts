// appendMessages keeps each conversation's highest ordering key in memory (vault/messages/
// order-keys.ts) instead of asking SQLite for it on every append (a received text is an append of
// its own), and trusts it only while the gate's write epoch holds: whatever undoes an append (a
// rolled-back transaction, savepoint or batched step, a failed batch commit, a failed import, a
// lock) makes the next append read the key again, so the keys stay dense (no gap) and never
// collide. Real vaults on disk; the MAX query is counted on better-sqlite3's Statement.
import Database from 'better-sqlite3';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { importBackup } from '../../main/backup/import.ts';
import { sqliteOptions } from '../../main/vault/sqlite-binding.ts';
import { Vault } from '../../main/vault/index.ts';
import { ageEncryptToFile, ageKeygen, makeTempDir } from '../backup/helpers.ts';
import { msg, testVaults } from './helpers.ts';

const vaults = testVaults();
const temps: (() => void)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await vaults.cleanup();
  for (const t of temps.splice(0)) t();
});

/** Counts the queries for a conversation's highest ordering key (statements.ts maxOrder). */
function countMaxOrder(): { readonly n: number } {
  const probe = new Database(':memory:', sqliteOptions());
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as { get: (...args: unknown[]) => unknown };
  probe.close();
  const spy = vi.spyOn(proto, 'get');
  return {
    get n() {
      return spy.mock.contexts.filter((s) => (s as { source: string }).source.includes('FROM order_high')).length;
    },
  };
}

const keysOf = (vault: Vault, conv: string): number[] => vault.pageMessages(conv, { limit: 100 }).map((m) => m.orderKey);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('the ordering key kept in memory per conversation', () => {
  it('is read once per conversation, not once per append', async () => {
    const { vault } = await vaults.fresh();
    const reads = countMaxOrder();
    // As a catch-up stores texts: one append each, two conversations interleaved.
    for (let i = 0; i < 20; i++) vault.appendMessages([msg(i % 2 === 0 ? 'conv-a' : 'conv-b', `text ${i}`)]);
    expect(reads.n).toBe(2); // before: 20
    expect(keysOf(vault, 'conv-a')).toEqual(range(1, 10));
    expect(keysOf(vault, 'conv-b')).toEqual(range(1, 10));
    // An id stored already takes no key.
    const [first] = vault.pageMessages('conv-a', { limit: 1 });
    vault.appendMessages([{ ...msg('conv-a', 'again'), id: first!.id }]);
    expect(vault.appendMessages([msg('conv-a', 'next')])[0]?.orderKey).toBe(11);
    expect(reads.n).toBe(2);
  });

  it('a rolled-back transaction or nested transaction leaves no gap', async () => {
    const { vault } = await vaults.fresh();
    vault.appendMessages([msg('conv-a', 'one')]);
    expect(() =>
      vault.transaction(() => {
        vault.appendMessages([msg('conv-a', 'undone 2'), msg('conv-a', 'undone 3')]);
        throw new Error('undo');
      }),
    ).toThrow('undo');
    expect(vault.appendMessages([msg('conv-a', 'two')])[0]?.orderKey).toBe(2);
    // A nested transaction (a savepoint) rolled back inside one that commits.
    vault.transaction(() => {
      expect(vault.appendMessages([msg('conv-a', 'three')])[0]?.orderKey).toBe(3);
      expect(() =>
        vault.transaction(() => {
          vault.appendMessages([msg('conv-a', 'undone 4')]);
          throw new Error('inner');
        }),
      ).toThrow('inner');
      expect(vault.appendMessages([msg('conv-a', 'four')])[0]?.orderKey).toBe(4);
    });
    expect(keysOf(vault, 'conv-a')).toEqual(range(1, 4));
  });

  it('a rolled-back batched step and a failed batch commit leave no gap', async () => {
    const { vault } = await vaults.fresh();
    vault.batchedTransaction(() => vault.appendMessages([msg('conv-a', 'one')]));
    expect(() =>
      vault.batchedTransaction(() => {
        vault.appendMessages([msg('conv-a', 'undone')]);
        throw new Error('this envelope failed');
      }),
    ).toThrow('this envelope failed');
    expect(vault.batchedTransaction(() => vault.appendMessages([msg('conv-a', 'two')]))[0]?.orderKey).toBe(2);
    vault.commitBatch();
    // A batch whose commit fails: all of it is undone (a deferred write that throws at its flush).
    vault.batchedTransaction(() => {
      vault.appendMessages([msg('conv-a', 'lost 3'), msg('conv-b', 'lost 1')]);
      vault.deferToBatch({
        flush: () => {
          throw new Error('flush failed');
        },
        drop: () => undefined,
      });
    });
    expect(() => vault.commitBatch()).toThrow('flush failed');
    expect(vault.appendMessages([msg('conv-a', 'three')])[0]?.orderKey).toBe(3);
    expect(vault.appendMessages([msg('conv-b', 'one')])[0]?.orderKey).toBe(1);
    expect(keysOf(vault, 'conv-a')).toEqual(range(1, 3));
  });

  it('a deleted newest message is not given its key again, also after a rolled-back deletion', async () => {
    const { vault } = await vaults.fresh();
    const stored = vault.appendMessages([msg('conv-a', 'one'), msg('conv-a', 'two'), msg('conv-a', 'three')]);
    expect(vault.deleteMessages('conv-a', [stored[2]!.id])).toEqual([stored[2]!.id]);
    expect(vault.appendMessages([msg('conv-a', 'four')])[0]?.orderKey).toBe(4);
    const [five] = vault.appendMessages([msg('conv-a', 'five')]);
    expect(() =>
      vault.transaction(() => {
        vault.deleteMessages('conv-a', [five!.id]);
        vault.appendMessages([msg('conv-a', 'undone')]);
        throw new Error('undo');
      }),
    ).toThrow('undo');
    expect(vault.appendMessages([msg('conv-a', 'six')])[0]?.orderKey).toBe(6);
    expect(keysOf(vault, 'conv-a')).toEqual([1, 2, 4, 5, 6]);
  });

  it('a lock forgets them: the next unlock reads the keys its file holds', async () => {
    const { vault, dir } = await vaults.fresh();
    vault.appendMessages([msg('conv-a', 'one')]);
    vault.lock();
    await Vault.scrubbed(dir);
    const older = `${dir}-older`;
    cpSync(dir, older, { recursive: true });
    temps.push(() => rmSync(older, { recursive: true, force: true }));
    const again = await vaults.reopen(dir);
    again.appendMessages([msg('conv-a', 'two'), msg('conv-a', 'three')]);
    again.lock();
    await Vault.scrubbed(dir);
    // The profile put back as it was before (a copy restored): its file says 1, not 3.
    rmSync(dir, { recursive: true, force: true });
    cpSync(older, dir, { recursive: true });
    const restored = await vaults.reopen(dir);
    expect(restored.appendMessages([msg('conv-a', 'two again')])[0]?.orderKey).toBe(2);
  });

  it('an import that fails after its appends leaves no gap; one that commits continues from its keys', async () => {
    const { vault } = await vaults.fresh();
    const tmp = makeTempDir('ephemera-order-keys-');
    temps.push(tmp.cleanup);
    const keys = ageKeygen(tmp.dir);
    vault.appendMessages([msg('conv-1', 'here before')]);
    // A backup of 1,500 texts in conv-1 (two write steps), its end line right or wrong.
    const file = (name: string, endMessages: number): string => {
      const counts = { contacts: 1, conversations: 1, messages: 1500, secrets: 0 };
      const lines = [
        { type: 'header', format: 'ephemera-backup', version: 1, created: 1, counts, includesIdentity: false },
        { type: 'contact', id: 'contact-1', handle: 'alice', displayName: 'Alice', verified: false, identityChanged: false, createdAt: 1 },
        { type: 'conversation', id: 'conv-1', kind: 'direct', contactId: 'contact-1', title: 'Alice', lastActivity: 5, unread: 0 },
        ...Array.from({ length: 1500 }, (_, i) => ({ type: 'message', id: `${name}-${i}`, conversationId: 'conv-1', direction: 'in', sender: 'contact-1', sentAt: i, receivedAt: i, text: `t${i}`, state: 'received' })),
        { type: 'end', counts: { ...counts, messages: endMessages } },
      ];
      const path = join(tmp.dir, `${name}.age`);
      ageEncryptToFile(lines.map((l) => `${JSON.stringify(l)}\n`).join(''), keys.recipient, path);
      return path;
    };
    const options = { keys: { identities: [keys.identity] }, trustUnsigned: true };
    await expect(importBackup(vault, file('bad', 1501), options)).rejects.toThrow();
    expect(vault.countMessages()).toBe(1);
    expect(vault.appendMessages([msg('conv-1', 'after the failed import')])[0]?.orderKey).toBe(2);
    await importBackup(vault, file('good', 1500), options);
    expect(vault.appendMessages([msg('conv-1', 'after the import')])[0]?.orderKey).toBe(1503);
    expect(vault.pageMessages('conv-1', { limit: 3 }).map((m) => m.orderKey)).toEqual([1501, 1502, 1503]);
    expect(vault.countMessages()).toBe(1503);
  });
});
