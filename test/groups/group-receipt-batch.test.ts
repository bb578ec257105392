// A member's delivered receipts to one author in one group (main/messenger/group-receipt-batch.ts),
// with fake timers: a burst draws one receipt once it is over however long it lasts, also when a
// loaded machine spreads its texts seconds apart; a small group keeps the short quiet time; a
// stream that never pauses gets one per longest hold; a full receipt goes at once; the gap after a
// receipt holds; a backlog waits only the quiet time; at lock and at a sync's end what waits goes at once.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_RECEIPT_IDS } from '../../main/e2e/index.ts';
import { BacklogWatch, GroupReceiptBatch } from '../../main/messenger/group-receipt-batch.ts';

const QUIET = 1500;
const MAX_HOLD = 60_000;

afterEach(() => {
  vi.useRealTimers();
});

/** A batch with the app's timing whose receipts land in `out` as [key, ids, when]. */
function batch(maxIds?: number): { batch: GroupReceiptBatch; out: [string, string[], number][] } {
  vi.useFakeTimers();
  const out: [string, string[], number][] = [];
  const b = new GroupReceiptBatch((key, ids) => out.push([key, ids, Date.now()]), { quietMs: QUIET, maxHoldMs: MAX_HOLD, ...(maxIds ? { maxIds } : {}) });
  return { batch: b, out };
}

const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i)}`);

describe('delivered receipts to one author in one group', () => {
  it('a burst of 30 texts spread over 25 s draws one receipt per author, twice its longest pause after its last text', () => {
    const { batch: b, out } = batch();
    const t0 = Date.now();
    const alice = ids('a', 30);
    const bob = ids('b', 10);
    // Uneven arrival as a loaded receiver sees it: every step under the quiet time.
    const steps = [200, 1400, 900, 50, 1300, 700];
    for (const [i, id] of alice.entries()) {
      b.add('alice\ng1', id, 10_000);
      if (i < bob.length) b.add('bob\ng1', bob[i]!, 10_000);
      if (i < alice.length - 1) vi.advanceTimersByTime(steps[i % steps.length]!);
    }
    const lastAt = Date.now();
    expect(lastAt - t0).toBeGreaterThan(20_000);
    // bob's texts stopped long ago: his one receipt went QUIET after his last one.
    expect(out).toEqual([['bob\ng1', bob, expect.any(Number) as number]]);
    expect(b.idle()).toBe(false);
    vi.advanceTimersByTime(2 * 1400 - 1);
    expect(out).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(out[1]).toEqual(['alice\ng1', alice, lastAt + 2 * 1400]);
    expect(b.idle()).toBe(true);
    // Nothing more comes of it.
    vi.advanceTimersByTime(10 * MAX_HOLD);
    expect(out).toHaveLength(2);
  });

  it('texts a loaded machine hands over 2-4 s apart for 48 s in a 100-member group: one receipt for all', () => {
    const { batch: b, out } = batch();
    const t0 = Date.now();
    const burst = ids('l', 18);
    const pauses = [2000, 3000, 4000, 2500];
    for (const [i, id] of burst.entries()) {
      b.add('alice\ng1', id, 10_000);
      if (i < burst.length - 1) vi.advanceTimersByTime(pauses[i % pauses.length]!);
    }
    const lastAt = Date.now();
    expect(lastAt - t0).toBe(48_000);
    // The first text waited half the gap (no pace known yet), long enough for the second; the pace
    // then held the rest, which goes twice the longest pause (4 s) after the last.
    expect(out).toEqual([]);
    vi.advanceTimersByTime(2 * 4000 - 1);
    expect(out).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(out).toEqual([['alice\ng1', burst, lastAt + 2 * 4000]]);
    vi.advanceTimersByTime(10 * MAX_HOLD);
    expect(out).toHaveLength(1);
  });

  it('a small group (gap = QUIET) keeps the short quiet time: texts 2 s apart draw one receipt each', () => {
    const { batch: b, out } = batch();
    const t0 = Date.now();
    for (const id of ['s1', 's2', 's3']) {
      b.add('alice\ng1', id, QUIET);
      vi.advanceTimersByTime(2000);
    }
    expect(out).toEqual([
      ['alice\ng1', ['s1'], t0 + QUIET],
      ['alice\ng1', ['s2'], t0 + 2000 + QUIET],
      ['alice\ng1', ['s3'], t0 + 4000 + QUIET],
    ]);
  });

  it('keys are per author and group: the same author in two groups gets a receipt for each', () => {
    const { batch: b, out } = batch();
    b.add('alice\ng1', 'x1', 1500);
    b.add('alice\ng2', 'y1', 1500);
    b.add('alice\ng1', 'x2', 1500);
    vi.advanceTimersByTime(QUIET);
    expect(out.map(([k, i]) => [k, i])).toEqual([
      ['alice\ng1', ['x1', 'x2']],
      ['alice\ng2', ['y1']],
    ]);
  });

  it('a stream that never pauses gets a receipt every MAX_HOLD, every id in exactly one', () => {
    const { batch: b, out } = batch();
    const t0 = Date.now();
    const sent: string[] = [];
    // One text a second for 200 s.
    for (let i = 0; i < 200; i++) {
      const id = `s${String(i)}`;
      sent.push(id);
      b.add('alice\ng1', id, 10_000);
      vi.advanceTimersByTime(1000);
    }
    // Three went while it lasted, each MAX_HOLD after the first text it holds.
    expect(out.map(([, , at]) => at - t0)).toEqual([MAX_HOLD, 2 * MAX_HOLD, 3 * MAX_HOLD]);
    expect(out[0]![1]).toEqual(sent.slice(0, 60));
    vi.advanceTimersByTime(QUIET);
    expect(out).toHaveLength(4);
    expect(out.flatMap(([, i]) => i)).toEqual(sent);
  });

  it('a key holding a full receipt sends it at once, and memory per key stays one receipt', () => {
    const { batch: b, out } = batch(5);
    for (const id of ids('c', 12)) b.add('alice\ng1', id, 10_000);
    // Two full receipts went as they filled, without waiting for the quiet time or the gap.
    expect(out.map(([, i]) => i)).toEqual([ids('c', 12).slice(0, 5), ids('c', 12).slice(5, 10)]);
    expect(b.idle()).toBe(false);
    // The rest waits out the gap after the previous receipt (10 s), not just the quiet time.
    vi.advanceTimersByTime(QUIET);
    expect(out).toHaveLength(2);
    vi.advanceTimersByTime(10_000 - QUIET);
    expect(out.map(([, i]) => i)[2]).toEqual(['c10', 'c11']);
  });

  it('the cap is at most what one receipt may carry', () => {
    const { batch: b, out } = batch();
    const many = ids('m', 2 * MAX_RECEIPT_IDS + 7);
    for (const id of many) b.add('alice\ng1', id, 0);
    expect(out.map(([, i]) => i.length)).toEqual([MAX_RECEIPT_IDS, MAX_RECEIPT_IDS]);
    vi.advanceTimersByTime(QUIET);
    expect(out.map(([, i]) => i.length)).toEqual([MAX_RECEIPT_IDS, MAX_RECEIPT_IDS, 7]);
    expect(out.flatMap(([, i]) => i)).toEqual(many);
  });

  it('a lone text waits half the gap in a large group and QUIET in a small one; texts just past the quiet time share one', () => {
    const { batch: b, out } = batch();
    const t0 = Date.now();
    b.add('alice\ng1', 'p1', 10_000);
    b.add('alice\nsmall', 'q1', QUIET);
    vi.advanceTimersByTime(QUIET);
    expect(out).toEqual([['alice\nsmall', ['q1'], t0 + QUIET]]);
    vi.advanceTimersByTime(5000 - QUIET - 1);
    expect(out).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(out[1]).toEqual(['alice\ng1', ['p1'], t0 + 5000]);
    // A minute later (a new burst) texts 2 s apart: one receipt, twice their pace after the last.
    vi.advanceTimersByTime(60_000);
    for (const id of ['p2', 'p3', 'p4', 'p5']) {
      if (id !== 'p2') vi.advanceTimersByTime(2000);
      b.add('alice\ng1', id, 10_000);
    }
    const p5At = Date.now();
    vi.advanceTimersByTime(2 * 2000 - 1);
    expect(out).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(out[2]).toEqual(['alice\ng1', ['p2', 'p3', 'p4', 'p5'], p5At + 2 * 2000]);
  });

  it('at lock what waits goes at once (never dropped), and nothing goes later', () => {
    const { batch: b, out } = batch();
    const t0 = Date.now();
    b.add('alice\ng1', 'd1', 10_000);
    b.add('bob\ng1', 'd2', 10_000);
    expect(b.idle()).toBe(false);
    b.stop();
    expect(out).toEqual([
      ['alice\ng1', ['d1'], t0],
      ['bob\ng1', ['d2'], t0],
    ]);
    expect(b.idle()).toBe(true);
    vi.advanceTimersByTime(10 * MAX_HOLD);
    expect(out).toHaveLength(2);
    // Unlocked again: it works as new (a lone text of a large group: half the gap).
    b.add('alice\ng1', 'd3', 10_000);
    vi.advanceTimersByTime(5000);
    expect(out.map(([k, i]) => [k, i])[2]).toEqual(['alice\ng1', ['d3']]);
  });

  it('the end of a sync hands over what is held now, and the gap then counts from there', () => {
    const { batch: b, out } = batch();
    const t0 = Date.now();
    b.add('alice\ng1', 'f1', 20_000);
    vi.advanceTimersByTime(300);
    b.flushAll();
    expect(out).toEqual([['alice\ng1', ['f1'], t0 + 300]]);
    b.flushAll();
    expect(out).toHaveLength(1);
    b.add('alice\ng1', 'f2', 20_000);
    vi.advanceTimersByTime(20_000 - 1);
    expect(out).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(out[1]).toEqual(['alice\ng1', ['f2'], t0 + 300 + 20_000]);
  });

  it('a backlog in a 200-member group (gap 20 s) goes the quiet time after its last text, not half the gap after its first', () => {
    const { batch: b, out } = batch();
    // The relay hands a backlog over back to back: 40 texts of alice's, some in the same millisecond.
    for (const [i, id] of ids('k', 40).entries()) {
      if (i % 3 === 2) vi.advanceTimersByTime(2);
      b.add('alice\ng1', id, 20_000, true);
    }
    const lastAt = Date.now();
    // One lone text of bob's in the same backlog.
    b.add('bob\ng1', 'lone', 20_000, true);
    vi.advanceTimersByTime(QUIET - 1);
    expect(out).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(out).toHaveLength(2);
    expect(out).toContainEqual(['alice\ng1', ids('k', 40), lastAt + QUIET]);
    expect(out).toContainEqual(['bob\ng1', ['lone'], lastAt + QUIET]);
    // A live text afterwards is a new burst with its usual hold (the gap after the receipt).
    b.add('alice\ng1', 'live', 20_000);
    vi.advanceTimersByTime(20_000 - 1);
    expect(out).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(out[2]).toEqual(['alice\ng1', ['live'], lastAt + QUIET + 20_000]);
  });

  it('a backlog joining a live first text moves its timer earlier', () => {
    const { batch: b, out } = batch();
    const t0 = Date.now();
    b.add('alice\ng1', 'live', 20_000);
    vi.advanceTimersByTime(100);
    b.add('alice\ng1', 'old1', 20_000, true);
    b.add('alice\ng1', 'old2', 20_000, true);
    // Twice the burst's longest pause (100 ms) is under the quiet time: the quiet time after the last.
    vi.advanceTimersByTime(QUIET);
    expect(out).toEqual([['alice\ng1', ['live', 'old1', 'old2'], t0 + 100 + QUIET]]);
  });
});

describe('a backlog told from a live push', () => {
  it('an envelope the relay stored before the connection became ready is of the backlog; one stored after is live', () => {
    const w = new BacklogWatch();
    // Not connected yet: nothing counts as a backlog (the usual hold).
    expect(w.isBacklog(1_000, 0)).toBe(false);
    w.connection({ phase: 'ready', since: 50_000 });
    expect(w.isBacklog(10_000, 0)).toBe(true);
    expect(w.isBacklog(50_001, 0)).toBe(false);
    // The relay's clock 5 s ahead of this device's: stored at relay 54,000 is this device's 49,000.
    expect(w.isBacklog(54_000, 5_000)).toBe(true);
    expect(w.isBacklog(56_000, 5_000)).toBe(false);
    // A re-bind: what the relay kept meanwhile is a backlog again.
    w.connection({ phase: 'rebinding', since: 60_000 });
    expect(w.isBacklog(59_000, 0)).toBe(false);
    w.connection({ phase: 'ready', since: 61_000 });
    expect(w.isBacklog(60_500, 0)).toBe(true);
  });
});
