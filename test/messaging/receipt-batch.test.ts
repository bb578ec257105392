// 1:1 delivered receipts wait for a quiet moment (RECEIPT_DELAY_MS), at most RECEIPT_MAX_WAIT_MS
// after the first id of a batch: texts that arrive some tens of milliseconds apart (sequential
// sends on a loaded machine) share one receipt per sender instead of one or two texts each.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RECEIPT_DELAY_MS, ReceiptBatch } from '../../main/messenger/receipt-batch.ts';
import { RECEIPT_MAX_WAIT_MS as MAX_WAIT_MS } from '../../main/messenger/receipts.ts';

describe('delivered receipt batches', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('texts 50 ms apart share one receipt; a lone text goes after the quiet moment', () => {
    const sent: [string, string[]][] = [];
    const batch = new ReceiptBatch((key, ids) => sent.push([key, ids]), MAX_WAIT_MS);
    for (let i = 0; i < 5; i++) {
      batch.add('alice', `a${i}`);
      vi.advanceTimersByTime(50);
    }
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(RECEIPT_DELAY_MS);
    expect(sent).toEqual([['alice', ['a0', 'a1', 'a2', 'a3', 'a4']]]);
    batch.add('bob', 'b0');
    vi.advanceTimersByTime(RECEIPT_DELAY_MS - 1);
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sent[1]).toEqual(['bob', ['b0']]);
    expect(batch.idle()).toBe(true);
  });

  it('an endless stream still gets a receipt at most the longest wait after its first text', () => {
    const sent: string[][] = [];
    const batch = new ReceiptBatch((_key, ids) => sent.push(ids), MAX_WAIT_MS);
    const texts = (2 * MAX_WAIT_MS) / 25;
    for (let i = 0; i < texts; i++) {
      batch.add('alice', `a${i}`);
      vi.advanceTimersByTime(25);
    }
    // Twice the longest wait of texts 25 ms apart: receipts no later than MAX_WAIT_MS + RECEIPT_DELAY_MS after each batch's first text.
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(sent.length).toBeLessThanOrEqual(2);
    vi.advanceTimersByTime(RECEIPT_DELAY_MS);
    expect(sent.flat()).toEqual(Array.from({ length: texts }, (_, i) => `a${i}`));
  });

  it('at lock what waits goes at once, never dropped, and nothing goes later', () => {
    const sent: [string, string[]][] = [];
    const batch = new ReceiptBatch((key, ids) => sent.push([key, ids]), MAX_WAIT_MS);
    batch.add('alice', 'a0');
    batch.add('bob', 'b0');
    batch.add('alice', 'a1');
    batch.stop();
    expect(sent).toEqual([
      ['alice', ['a0', 'a1']],
      ['bob', ['b0']],
    ]);
    expect(batch.idle()).toBe(true);
    vi.advanceTimersByTime(10 * MAX_WAIT_MS);
    expect(sent).toHaveLength(2);
  });
});
