// The deletion journal (vault/deletion.ts, issue #14): a journaled sliced deletion leaves, per
// slice and in the slice's own transaction, the ids it removed, and a `whole` entry for a whole
// conversation; a deletion interrupted (here by a lock) and finished by the next unlock journals
// the rest too, so the messenger can forget its records of every id whoever finished it.
import { afterEach, describe, expect, it } from 'vitest';
import { DELETION_JOURNAL, parseJournalEntry, type JournalEntry } from '../../main/vault/deletion.ts';
import { VaultLocked } from '../../main/vault/errors.ts';
import type { Vault } from '../../main/vault/index.ts';
import { fill } from './deletion-scan.ts';
import { msg, testVaults } from './helpers.ts';

const vaults = testVaults();
afterEach(() => vaults.cleanup());

function journal(vault: Vault): JournalEntry[] {
  return vault.kvKeys(DELETION_JOURNAL).map((key) => parseJournalEntry(key, vault.kvGet(DELETION_JOURNAL, key) as Uint8Array) as JournalEntry);
}

describe('deletion journal', () => {
  it('has one entry per slice with its ids, and a whole entry for a conversation; none without the option', async () => {
    const { vault } = await vaults.fresh();
    fill(vault);
    const all = [...vault.iterateMessages('conv-a')].map((m) => m.id);
    const report = await vault.deleteConversationInSlices('conv-a', { journal: true, sliceMs: 0.001 });
    expect(report.slices).toBeGreaterThan(1);
    const entries = journal(vault);
    expect(entries.filter((e) => e.whole)).toMatchObject([{ conversationId: 'conv-a', ids: [] }]);
    expect(entries.filter((e) => !e.whole)).toHaveLength(report.slices);
    expect(entries.flatMap((e) => e.ids).sort()).toEqual([...all].sort());
    await vault.deleteConversationInSlices('conv-b');
    expect(journal(vault)).toHaveLength(entries.length);
  });

  it('a deletion stopped by a lock and finished at unlock journals every id, the resumed ones too', async () => {
    const { vault, dir } = await vaults.fresh();
    fill(vault);
    const all = [...vault.iterateMessages('conv-a')].map((m) => m.id);
    const pending = vault.deleteConversationInSlices('conv-a', { journal: true, sliceMs: 0.001, onProgress: () => vault.lock() });
    await expect(pending).rejects.toBeInstanceOf(VaultLocked);
    const reopened = await vaults.reopen(dir);
    expect(reopened.pendingDeletions()).toBe(0);
    expect(reopened.countMessages('conv-a')).toBe(0);
    const entries = journal(reopened);
    expect(entries.flatMap((e) => e.ids).sort()).toEqual([...all].sort());
    expect(entries.filter((e) => e.whole)).toHaveLength(1);
  });

  it('a whole conversation resumed at unlock takes what it held when asked, not a message that came after', async () => {
    const { vault, dir } = await vaults.fresh();
    fill(vault);
    const before = vault.countMessages('conv-a');
    let later = '';
    const pending = vault.deleteConversationInSlices('conv-a', {
      sliceMs: 0.001,
      onProgress: () => {
        if (later) return;
        later = vault.appendMessages([msg('conv-a', 'arrived during the deletion')])[0]!.id;
        vault.lock();
      },
    });
    await expect(pending).rejects.toBeInstanceOf(VaultLocked);
    const reopened = await vaults.reopen(dir);
    expect(before).toBeGreaterThan(64);
    expect(reopened.pendingDeletions()).toBe(0);
    expect([...reopened.iterateMessages('conv-a')].map((m) => m.id)).toEqual([later]);
  });

  it("carries the content ids the removed entries held (the rows are gone when it is worked through)", async () => {
    const { vault } = await vaults.fresh();
    const stored = vault.appendMessages(Array.from({ length: 150 }, (_, i) => msg('conv-c', `text ${i}`, i % 3 === 0 ? {} : { contentId: `cid${i}` })));
    vault.redactMessages('conv-c', [stored[1]!.id]); // a delete for everyone dropped its content id
    const expected = new Map(stored.filter((m, i) => i !== 1 && m.contentId !== undefined).map((m) => [m.id, m.contentId!]));
    const report = await vault.deleteConversationInSlices('conv-c', { journal: true, sliceMs: 0.001 });
    expect(report.slices).toBeGreaterThan(1);
    const entries = journal(vault).filter((e) => !e.whole);
    expect(new Map(entries.flatMap((e) => [...(e.contentIds ?? [])]))).toEqual(expected);
    // Each entry names only its own ids.
    for (const e of entries) for (const id of e.contentIds?.keys() ?? []) expect(e.ids).toContain(id);
    // An entry written before content ids were journaled parses without them.
    expect(parseJournalEntry('k', Buffer.from('{"v":1,"conversationId":"c","ids":["a"],"whole":false}'))).toEqual({ key: 'k', conversationId: 'c', ids: ['a'], whole: false });
  });

  it('an entry that does not parse is reported as such', () => {
    expect(parseJournalEntry('k', Buffer.from('{"v":1}'))).toBeUndefined();
    expect(parseJournalEntry('k', Buffer.from('not json'))).toBeUndefined();
    expect(parseJournalEntry('k', Buffer.from('{"v":1,"conversationId":"c","ids":["a"],"whole":false,"cids":[["a"]]}'))).toBeUndefined();
  });
});
