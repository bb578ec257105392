// The first prune of receipt records (main/messenger/receipt-withdraw.ts) on a real vault: with no
// message pointing at a receipt there is nothing to drop, and it looks at none of the year of
// day namespaces (a new profile's first unlock spent 100 ms of its main thread on them); with a
// record it still looks, and drops what is older than the relay keeps envelopes.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pruneReceiptRecords, recordReceipt, RECEIPTS_SENT } from '../../main/messenger/receipt-withdraw.ts';
import { msg, testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => {
  vi.restoreAllMocks();
  return vaults.cleanup();
});

const DAY = 86_400_000;
const IDEM = 'c'.repeat(32);

describe('first prune of receipt records', () => {
  it('looks at no day when no message points at a receipt, and then not again', async () => {
    const { vault } = await vaults.fresh();
    const listed = vi.spyOn(vault, 'kvKeys');
    const now = Date.now();
    pruneReceiptRecords(vault, now);
    pruneReceiptRecords(vault, now + DAY); // the next day: one day to look at, and the marker says so
    expect(listed.mock.calls.map(([ns]) => ns)).toEqual([`${RECEIPTS_SENT}${Math.floor((now + DAY) / DAY) - 32}`]);
  });

  it('with a record, still drops the ones older than the relay keeps envelopes', async () => {
    const { vault } = await vaults.fresh();
    const [m] = vault.appendMessages([msg('conv', 'one')]).map((x) => x!.id);
    const now = Date.now();
    vault.transaction(() => recordReceipt(vault, IDEM, { to: 'alice', type: 'read', ids: ['c1'], messages: [m!] }, now - 40 * DAY));
    const oldNs = `${RECEIPTS_SENT}${Math.floor((now - 40 * DAY) / DAY)}`;
    expect(vault.kvKeys(oldNs)).toEqual([IDEM]);
    pruneReceiptRecords(vault, now);
    expect(vault.kvKeys(oldNs)).toEqual([]);
  });
});
