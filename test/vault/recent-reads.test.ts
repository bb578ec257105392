// Messages this unlock just appended are read back (change feed, get, page) from memory, their
// sealed segment not opened again (vault/messages/recent.ts), and only while the row is still the
// one appended: a rollback, a state change, a redaction, a deletion or a lock leaves the answer
// the one the file gives.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { StoredMessage } from '../../main/vault/api.ts';
import { BatchOpener } from '../../main/vault/aead.ts';
import { forgetAllRecent, forgetRecent, MAX_RECENT_CHARS, recentFor, rememberAppended } from '../../main/vault/messages/recent.ts';
import type { MessageRow } from '../../main/vault/messages/statements.ts';
import { msg, testVaults } from './helpers.ts';

const vaults = testVaults();
afterEach(() => {
  vi.restoreAllMocks();
  return vaults.cleanup();
});

/** Counts segment opens (every sealed segment read goes through a BatchOpener). */
function countOpens(): { readonly n: number } {
  const spy = vi.spyOn(BatchOpener.prototype, 'open');
  return {
    get n() {
      return spy.mock.calls.length;
    },
  };
}

describe('reads of messages just appended', () => {
  it('take them from memory: the same messages, no segment opened', async () => {
    const { vault } = await vaults.fresh();
    const appended = vault.appendMessages([msg('conv-a', 'one', { contentId: 'cid-1' }), msg('conv-b', 'two'), msg('conv-a', 'three')]);
    const opens = countOpens();
    expect(vault.changesSince(0, 10).upserts).toEqual(appended);
    expect(vault.getMessage(appended[1]!.id)).toEqual(appended[1]);
    expect(vault.pageMessages('conv-a', { limit: 10 })).toEqual([appended[0], appended[2]]);
    expect(opens.n).toBe(0);
    // What is handed out is a copy: changing it changes no later read.
    const got = vault.getMessage(appended[0]!.id)!;
    got.text = 'changed';
    expect(vault.getMessage(appended[0]!.id)?.text).toBe('one');
  });

  it('a rolled-back append is never answered, even where another message took its place', async () => {
    const { vault } = await vaults.fresh();
    vault.appendMessages([msg('conv-a', 'kept')]);
    const lost = msg('conv-a', 'rolled back');
    expect(() =>
      vault.transaction(() => {
        vault.appendMessages([lost]);
        throw new Error('undo');
      }),
    ).toThrow('undo');
    expect(vault.getMessage(lost.id)).toBeUndefined();
    // The next append takes the same seq, segment and slot.
    const [next] = vault.appendMessages([msg('conv-a', 'next')]);
    expect(vault.changesSince(0, 10).upserts.map((m) => m.text)).toEqual(['kept', 'next']);
    expect(vault.getMessage(next!.id)?.text).toBe('next');
    // The same id appended again after its rollback reads as appended the second time.
    const [again] = vault.appendMessages([{ ...lost, text: 'second try' }]);
    expect(vault.getMessage(again!.id)?.text).toBe('second try');
  });

  it('a state change, a redaction and a deletion read as the file says', async () => {
    const { vault } = await vaults.fresh();
    const [a, b, c] = vault.appendMessages([msg('conv-a', 'state'), msg('conv-a', 'redacted', { contentId: 'cid-r' }), msg('conv-a', 'deleted')]);
    vault.updateMessageState(a!.id, 'read');
    expect(vault.getMessage(a!.id)?.state).toBe('read');
    expect(vault.redactMessages('conv-a', [b!.id])).toEqual([b!.id]);
    const redacted = vault.getMessage(b!.id)!;
    expect(redacted.text).toBe('');
    expect('contentId' in redacted).toBe(false);
    expect(vault.deleteMessages('conv-a', [c!.id])).toEqual([c!.id]);
    expect(vault.getMessage(c!.id)).toBeUndefined();
    expect(vault.pageMessages('conv-a', { limit: 10 }).map((m) => [m.text, m.state])).toEqual([
      ['state', 'read'],
      ['', 'received'],
    ]);
  });

  it('of a bulk append only the last ones are kept (memory stays bounded)', async () => {
    const { vault } = await vaults.fresh();
    const appended = vault.appendMessages(Array.from({ length: 2100 }, (_, i) => msg('conv-bulk', `bulk ${i}`)));
    const opens = countOpens();
    expect(vault.getMessage(appended.at(-1)!.id)?.text).toBe('bulk 2099');
    expect(opens.n).toBe(0);
    expect(vault.getMessage(appended[0]!.id)?.text).toBe('bulk 0');
    expect(opens.n).toBe(1);
  });

  it('of an import-sized append (a step of 1,000) only its last 64: nothing reads the rest back before the next step', async () => {
    const { vault } = await vaults.fresh();
    const appended = vault.appendMessages(Array.from({ length: 1000 }, (_, i) => msg('conv-step', `step ${i}`)));
    const opens = countOpens();
    expect(vault.getMessage(appended.at(-64)!.id)?.text).toBe('step 936');
    expect(opens.n).toBe(0);
    expect(vault.getMessage(appended.at(-65)!.id)?.text).toBe('step 935');
    expect(opens.n).toBe(1);
  });

  it('after a lock, the next unlock opens the segments again', async () => {
    const { vault, dir } = await vaults.fresh();
    const appended = vault.appendMessages([msg('conv-a', 'before the lock')]);
    vault.lock();
    const reopened = await vaults.reopen(dir);
    const opens = countOpens();
    expect(reopened.changesSince(0, 10).upserts).toEqual(appended);
    expect(opens.n).toBe(1);
  });
});

describe('recentFor', () => {
  const stored: StoredMessage = { id: 'm1', conversationId: 'conv-a', direction: 'in', sender: 'c', sentAt: 1, receivedAt: 2, text: 'hi', state: 'received', orderKey: 7, seq: 40 };
  const row: MessageRow = { id: 'm1', conversation_id: 'conv-a', order_key: 7, seq: 40, segment: 3, slot: 2, state_sealed: null };

  it('answers only a row with every place field as appended', () => {
    const key = Buffer.alloc(32, 1);
    rememberAppended(key, [{ stored, segment: 3, slot: 2 }]);
    expect(recentFor(key, row)).toEqual(stored);
    for (const changed of [{ segment: 4 }, { slot: 1 }, { seq: 41 }, { order_key: 8 }, { conversation_id: 'conv-b' }, { id: 'm2' }]) {
      expect(recentFor(key, { ...row, ...changed })).toBeUndefined();
    }
    expect(recentFor(Buffer.alloc(32, 1), row)).toBeUndefined(); // another unlock's key
    forgetRecent(key, ['m1']);
    expect(recentFor(key, row)).toBeUndefined();
    rememberAppended(key, [{ stored, segment: 3, slot: 2 }]);
    forgetAllRecent(key);
    expect(recentFor(key, row)).toBeUndefined();
  });

  it('keeps at most MAX_RECENT_CHARS of text, the newest', () => {
    const key = Buffer.alloc(32, 2);
    const big = (id: string, slot: number): { stored: StoredMessage; segment: number; slot: number } => ({ stored: { ...stored, id, text: 'x'.repeat(MAX_RECENT_CHARS / 2) }, segment: 3, slot });
    rememberAppended(key, [big('a', 0), big('b', 1), big('c', 2)]);
    expect(recentFor(key, { ...row, id: 'a', slot: 0 })).toBeUndefined();
    expect(recentFor(key, { ...row, id: 'b', slot: 1 })?.id).toBe('b');
    expect(recentFor(key, { ...row, id: 'c', slot: 2 })?.id).toBe('c');
    rememberAppended(key, [{ stored: { ...stored, id: 'huge', text: 'x'.repeat(MAX_RECENT_CHARS + 1) }, segment: 3, slot: 3 }]);
    expect(recentFor(key, { ...row, id: 'huge', slot: 3 })).toBeUndefined();
    expect(recentFor(key, { ...row, id: 'c', slot: 2 })?.id).toBe('c');
  });
});
