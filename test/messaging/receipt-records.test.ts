// The sealed records behind withdrawing receipts (main/messenger/receipt-withdraw.ts, issue #14)
// on a real vault: a deleted message's receipt gets a durable withdraw in the outbox and the
// receipt's other messages an intent to be acknowledged again (without the ones deleted since);
// records of receipts older than the relay keeps envelopes are dropped, and then withdraw nothing.
import { afterEach, describe, expect, it } from 'vitest';
import { decodeValue } from '../../shared/protocol/value.ts';
import { pruneReceiptRecords, recordReceipt, RECEIPTS_OF, RECEIPTS_SENT, dropResend, dueResends, withdrawReceiptsOf } from '../../main/messenger/receipt-withdraw.ts';
import { msg, testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => vaults.cleanup());

const DAY = 86_400_000;
const IDEM_NEW = 'a'.repeat(32);
const IDEM_OLD = 'b'.repeat(32);

function withdrawsIn(vault: Awaited<ReturnType<typeof vaults.fresh>>['vault']): unknown[] {
  return vault
    .outboxList()
    .filter((i) => i.id.startsWith('withdraw-'))
    .map((i) => decodeValue(i.body));
}

describe('receipt records', () => {
  it('withdraw a recent receipt with its rest to resend, and are pruned once the relay no longer holds it', async () => {
    const { vault } = await vaults.fresh();
    const [a, b, c, d] = vault.appendMessages([msg('conv', 'one'), msg('conv', 'two'), msg('conv', 'three'), msg('conv', 'four')]).map((m) => m!.id);
    const now = Date.now();
    vault.transaction(() => {
      recordReceipt(vault, IDEM_NEW, { to: 'alice', type: 'delivered', ids: ['ca', 'cb', 'cc'], messages: [a!, b!, c!] }, now);
      recordReceipt(vault, IDEM_OLD, { to: 'alice', type: 'read', ids: ['cd'], messages: [d!] }, now - 40 * DAY);
    });

    vault.transaction(() => withdrawReceiptsOf(vault, a!, now));
    expect(withdrawsIn(vault)).toEqual([{ m: 'withdraw', p: { to: 'alice', idem: IDEM_NEW } }]);
    expect(vault.kvGet(RECEIPTS_OF, a!)).toBeUndefined();
    expect(vault.kvGet(RECEIPTS_OF, b!)).toBeUndefined(); // its only receipt was withdrawn
    vault.deleteMessages('conv', [c!]); // deleted meanwhile: not acknowledged again
    const due = dueResends(vault);
    expect(due.map(({ to, type, ids }) => ({ to, type, ids }))).toEqual([{ to: 'alice', type: 'delivered', ids: ['cb'] }]);
    // Kept until the receipt is queued (dropResend in its commit), so nothing is lost meanwhile.
    expect(dueResends(vault)).toEqual(due);
    dropResend(vault, due[0]!.key);
    expect(dueResends(vault)).toEqual([]);

    // Forty days old: dropped by the prune, and its message's deletion withdraws nothing.
    const oldNs = `${RECEIPTS_SENT}${Math.floor((now - 40 * DAY) / DAY)}`;
    expect(vault.kvKeys(oldNs)).toEqual([IDEM_OLD]);
    pruneReceiptRecords(vault, now);
    expect(vault.kvKeys(oldNs)).toEqual([]);
    vault.transaction(() => withdrawReceiptsOf(vault, d!, now));
    expect(withdrawsIn(vault)).toHaveLength(1);
    expect(dueResends(vault)).toEqual([]);
  });
});
