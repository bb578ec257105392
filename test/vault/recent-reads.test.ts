// Messages this unlock just appended are read back (change feed, get, page) from memory, their
// sealed segment not opened again (vault/messages/recent.ts), and only while the row is still the
// one appended: a rollback, a state change, a redaction, a deletion or a lock leaves the answer
// the one the file gives.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BatchOpener } from '../../main/vault/aead.ts';
import { msg, testVaults } from './helpers.ts';

const vaults = testVaults();
afterEach(() => {
  vi.restoreAllMocks();
  vaults.cleanup();
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
