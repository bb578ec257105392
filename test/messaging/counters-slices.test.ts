// ConversationCounters announces a flush's conversations in slices of main-thread time, yielding a
// turn between slices (a catch-up from 50 contacts read every summary in one callback: 86-150 ms
// at load). The clock is the test's own, so the slicing does not depend on the machine's speed:
// assertions are on turns and on what was announced, never on time.
import { afterEach, describe, expect, it } from 'vitest';
import type { ConversationSummary } from '../../shared/api.ts';
import { ConversationCounters } from '../../main/messenger/counters.ts';
import type { Emit } from '../../main/messenger/events.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { tempProfile } from '../vault/helpers.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const CONVERSATIONS = 60;
/** The test clock moves this much per reading: the 8 ms slice holds three summaries. */
const TICK_MS = 3;
const PER_SLICE = 3;

async function withConversations(): Promise<{ vault: Vault; ids: string[] }> {
  const profile = tempProfile();
  cleanups.push(profile.cleanup);
  const vault = (await Vault.create(profile.dir, 'pw-counter-slices', { kdf: TEST_KDF })).vault;
  cleanups.unshift(() => {
    vault.lock();
  });
  const ids = Array.from({ length: CONVERSATIONS }, (_, i) => `conv-${String(i).padStart(2, '0')}`);
  vault.transaction(() => {
    for (const id of ids) vault.upsertConversation({ id, kind: 'direct', contactId: `contact-${id}`, title: id, lastActivity: 0, unread: 0 });
  });
  return { vault, ids };
}

/**
 * Records announcements and the event-loop turns they came in (a microtask ends a turn's run);
 * `after(n, fn)` runs fn inside the n-th announcement, so a step lands at a known slice boundary.
 */
function recorder(): { emit: Emit; announced: ConversationSummary[]; turns: () => number; after(n: number, fn: () => void): void } {
  const announced: ConversationSummary[] = [];
  const hooks = new Map<number, () => void>();
  let turns = 0;
  let inTurn = false;
  const emit: Emit = (name, payload) => {
    if (name !== 'conversation') return;
    announced.push(payload as ConversationSummary);
    if (!inTurn) {
      turns++;
      inTurn = true;
      queueMicrotask(() => {
        inTurn = false;
      });
    }
    hooks.get(announced.length)?.();
  };
  return { emit, announced, turns: () => turns, after: (n, fn) => hooks.set(n, fn) };
}

async function until(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !pred(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!pred()) throw new Error(`never happened: ${what}`);
}

/** Shuffled deterministically, so touch order differs from creation order. */
function shuffled(ids: readonly string[]): string[] {
  return ids.map((id, i) => ({ id, k: (i * 37) % ids.length })).sort((a, b) => a.k - b.k).map((x) => x.id);
}

describe('conversation announcements after a flush', () => {
  it('announces every touched conversation once, in touch order, three per turn', async () => {
    const { vault, ids } = await withConversations();
    let t = 0;
    const rec = recorder();
    const counters = new ConversationCounters(() => vault, rec.emit, () => (t += TICK_MS));
    const order = shuffled(ids);
    for (const id of order) counters.touch(id, 1_700_000_000_000, 1);
    await until(() => rec.announced.length >= CONVERSATIONS, 'all announced');
    // A few more turns: nothing further may come.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(rec.announced.map((s) => s.id)).toEqual(order);
    expect(rec.announced.every((s) => s.unread === 1 && s.lastActivity === 1_700_000_000_000)).toBe(true);
    expect(rec.turns()).toBe(CONVERSATIONS / PER_SLICE);
  });

  it('a conversation touched again while the slices run is announced again with the new count; none is lost', async () => {
    const { vault, ids } = await withConversations();
    let t = 0;
    const rec = recorder();
    const counters = new ConversationCounters(() => vault, rec.emit, () => (t += TICK_MS));
    for (const id of ids) counters.touch(id, 1_000, 1);
    const first = ids[0] as string;
    const last = ids.at(-1) as string;
    // At the end of the first slice: the first is announced, the last still waits its turn.
    rec.after(PER_SLICE, () => {
      counters.touch(first, 2_000, 1);
      counters.touch(last, 2_000, 1);
    });
    const has = (id: string, unread: number): boolean => rec.announced.some((s) => s.id === id && s.unread === unread);
    await until(() => rec.announced.length >= CONVERSATIONS && has(first, 2) && has(last, 2), 'second flush announced');
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    const of = (id: string): number[] => rec.announced.filter((s) => s.id === id).map((s) => s.unread);
    // The first had been announced (1), so it comes again with the new count (2).
    expect(of(first)).toEqual([1, 2]);
    // The last was still waiting when the second flush wrote its count: once more with 2, or
    // (if its turn came before that flush) 1 then 2; never lost, and its final count is 2.
    expect(of(last).at(-1)).toBe(2);
    expect(of(last).length).toBeLessThanOrEqual(2);
    for (const id of ids.slice(1, -1)) expect(of(id)).toEqual([1]);
  });

  it('stops quietly when the vault is locked between slices', async () => {
    const { vault, ids } = await withConversations();
    let t = 0;
    const rec = recorder();
    const counters = new ConversationCounters(() => vault, rec.emit, () => (t += TICK_MS));
    let locked = false;
    // Locked at the end of the second slice (not through the messenger's lock, which stops the
    // slices first): the third slice finds the vault locked.
    rec.after(PER_SLICE * 2, () => {
      vault.lock();
      locked = true;
    });
    for (const id of ids) counters.touch(id, 1_000, 1);
    await until(() => locked, 'locked');
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    expect(rec.announced.length).toBe(PER_SLICE * 2);
    expect(rec.turns()).toBe(2);
  });
});
