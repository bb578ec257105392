// The expiry machinery of disappearing messages (issue #14) on real vaults: the purge at unlock
// deletes exactly what is due (and search, opened after it, never finds it); a message past its
// expiry that the timer has not deleted yet is still never handed out (history page, jump,
// search); and the one timer fires at each expiry in order, re-arms for an earlier one, and
// waits out a 4-week timer longer than setTimeout's limit instead of firing at once.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Message } from '../../shared/api.ts';
import { historyPage } from '../../main/messenger/conversations.ts';
import { hitsNotExpired, pageAsShown, recordMessageTimer } from '../../main/messenger/disappearing.ts';
import { ExpiryScheduler, loadExpiring, purgeExpiredAtUnlock } from '../../main/messenger/expiry.ts';
import { searchHistory } from '../../main/messenger/searching.ts';
import { SearchService } from '../../main/search/service.ts';
import { msg, testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(async () => {
  vi.useRealTimers();
  await vaults.cleanup();
});

const CONV = 'd0123456789abcdef01234567';

describe('expiry at unlock and the filters', () => {
  it('purges what is due before search opens; a due message not yet deleted is never shown', async () => {
    const { vault } = await vaults.fresh();
    vault.upsertConversation({ id: CONV, kind: 'direct', contactId: 'c0123456789abcdef01234567', title: 'bob', lastActivity: 0, unread: 0 });
    const [kept, due, later, unshown] = vault.appendMessages([
      msg(CONV, 'plain kept line'),
      msg(CONV, 'gorgonzolaquasar expired while locked'),
      msg(CONV, 'gorgonzolaquasar still counting'),
      msg(CONV, 'gorgonzolaquasar never shown'),
    ]);
    const now = Date.now();
    recordMessageTimer(vault, due!.id, CONV, 30, now - 31_000);
    recordMessageTimer(vault, later!.id, CONV, 3600, now);
    recordMessageTimer(vault, unshown!.id, CONV, 30, null);

    const counting = await purgeExpiredAtUnlock(vault, now);
    expect(counting).toEqual([{ id: later!.id, conversationId: CONV, expiresAt: now + 3_600_000 }]);
    expect(vault.getMessage(due!.id)).toBeUndefined();
    expect(loadExpiring(vault).map((e) => e.id)).toEqual([later!.id]); // its sealed record went with it
    const search = await SearchService.open(vault);
    const params = { query: 'gorgonzolaquasar', order: 'newest' as const, limit: 10 };
    expect(searchHistory(vault, search, params).hits.map((h) => h.messageId).sort()).toEqual([later!.id, unshown!.id].sort());

    // Past its expiry, not yet deleted (the timer fires within a second): left out everywhere.
    const page = historyPage(vault, CONV, { kind: 'newest' }, 50);
    const started: string[] = [];
    const start = (m: Message) => (started.push(m.id), now + 30_000);
    const afterExpiry = now + 3_600_000;
    expect(pageAsShown(page, { kind: 'newest' }, afterExpiry, start).messages.map((m) => m.id)).toEqual([kept!.id, unshown!.id]);
    // The unshown message is shown now: its countdown starts.
    expect(started).toEqual([unshown!.id]);
    const around = historyPage(vault, CONV, { kind: 'around', messageId: later!.id }, 10);
    expect(() => pageAsShown(around, { kind: 'around', messageId: later!.id }, afterExpiry, start)).toThrow(expect.objectContaining({ code: 'UNKNOWN_MESSAGE' }));
    expect(hitsNotExpired(vault, searchHistory(vault, search, params), afterExpiry).hits.map((h) => h.messageId)).toEqual([unshown!.id]);
    // Before its expiry it is there.
    expect(hitsNotExpired(vault, searchHistory(vault, search, params), now).hits).toHaveLength(2);
    search.discard();
  });
});

describe('ExpiryScheduler', () => {
  it('fires at each expiry in order, re-arms for an earlier one, and waits out 4 weeks', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const fired: string[][] = [];
    const scheduler = new ExpiryScheduler(async (due) => {
      fired.push([...due.values()].flat().sort());
    });
    const at = (ms: number) => 1_000_000 + ms;
    const fourWeeks = 28 * 86_400_000;
    scheduler.add([{ id: 'm-late', conversationId: 'd1', expiresAt: at(fourWeeks) }]);
    scheduler.add([
      { id: 'm-b', conversationId: 'd1', expiresAt: at(60_000) },
      { id: 'm-c', conversationId: 'd2', expiresAt: at(60_000) },
    ]);
    scheduler.add([{ id: 'm-a', conversationId: 'd1', expiresAt: at(30_000) }]); // earlier: re-armed
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(29_999);
    expect(fired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toEqual([['m-a']]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(fired).toEqual([['m-a'], ['m-b', 'm-c']]);
    // Longer than setTimeout's 2^31 - 1 ms: nothing until the day itself.
    await vi.advanceTimersByTimeAsync(fourWeeks - 60_001);
    expect(fired).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toEqual([['m-a'], ['m-b', 'm-c'], ['m-late']]);
    expect(scheduler.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
