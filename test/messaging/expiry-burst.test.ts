// A burst of expiries (issue #14): thousands of messages expired while locked are deleted at
// unlock in slices, with the event loop turning between them (it was one transaction per
// conversation), and the end state is the one "delete for me" leaves: the messages, their timer
// records and the journal gone, the unread count lowered, nothing found by search afterwards.
// Until their slices run, the chat list's line skips them (as pages and search do).
import { afterEach, describe, expect, it } from 'vitest';
import { conversationSummary } from '../../main/messenger/conversations.ts';
import { recordMessageTimer } from '../../main/messenger/disappearing.ts';
import { journalEntries } from '../../main/messenger/deletion-journal.ts';
import { loadExpiring, purgeExpiredAtUnlock } from '../../main/messenger/expiry.ts';
import { SearchService } from '../../main/search/service.ts';
import { msg, testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => vaults.cleanup());

const CONV = 'd0123456789abcdef01234567';
const BURST = 4000;

describe('a burst of expiries at unlock', () => {
  it('is deleted in slices (the event loop turns meanwhile), leaving what delete for me leaves', async () => {
    const { vault } = await vaults.fresh();
    vault.upsertConversation({ id: CONV, kind: 'direct', contactId: 'c0123456789abcdef01234567', title: 'bob', lastActivity: 0, unread: BURST + 1 });
    const rows = [];
    for (let i = 0; i < BURST; i++) rows.push(msg(CONV, `quixoticburst number ${i} with some padding text to reseal`));
    const stored = vault.appendMessages([msg(CONV, 'the one that stays'), ...rows]).slice(1);
    const now = Date.now();
    vault.transaction(() => {
      for (const m of stored.slice(0, BURST)) recordMessageTimer(vault, m!.id, CONV, 30, now - 60_000);
    });

    // Expired, not yet deleted: the chat list's line is the newest message still alive.
    expect(conversationSummary(vault, CONV)?.lastMessage?.text).toBe('the one that stays');

    let turns = 0;
    let purging = true;
    const spin = (): void => {
      if (!purging) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    const counting = await purgeExpiredAtUnlock(vault, now);
    purging = false;

    expect(turns).toBeGreaterThan(2); // other callbacks ran between the slices
    expect(counting).toEqual([]);
    expect(vault.countMessages(CONV)).toBe(1);
    expect(loadExpiring(vault)).toEqual([]);
    expect(journalEntries(vault)).toBe(0);
    expect(vault.pendingDeletions()).toBe(0);
    expect(vault.getConversation(CONV)?.unread).toBe(1);
    const search = await SearchService.open(vault);
    expect(search.search({ text: 'quixoticburst' })).toEqual([]);
    search.discard();
  });
});
