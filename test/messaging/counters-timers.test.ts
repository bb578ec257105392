// ConversationCounters (issue 18, stop 26): a burst of changes (a catch-up touches a conversation
// once per received text) arms one flush timer, not a clearTimeout and a setTimeout per change;
// the flush still writes every change and announces each conversation once. Counted, never timed.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConversationSummary } from '../../shared/api.ts';
import { ConversationCounters } from '../../main/messenger/counters.ts';
import type { Emit } from '../../main/messenger/events.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { tempProfile } from '../vault/helpers.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  for (const c of cleanups.splice(0)) c();
});

const CONVERSATIONS = 5;
const TOUCHES = 200;

async function withConversations(): Promise<{ vault: Vault; ids: string[] }> {
  const profile = tempProfile();
  cleanups.push(profile.cleanup);
  const vault = (await Vault.create(profile.dir, 'pw-counter-timers', { kdf: TEST_KDF })).vault;
  cleanups.unshift(() => {
    vault.lock();
  });
  const ids = Array.from({ length: CONVERSATIONS }, (_, i) => `conv-${i}`);
  vault.transaction(() => {
    for (const id of ids) vault.upsertConversation({ id, kind: 'direct', contactId: `contact-${id}`, title: id, lastActivity: 0, unread: 0 });
  });
  return { vault, ids };
}

async function until(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !pred(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!pred()) throw new Error(`never happened: ${what}`);
}

describe('conversation counters during a burst', () => {
  it('arm one timer for a burst of changes, then write and announce all of them', async () => {
    const { vault, ids } = await withConversations();
    const announced: ConversationSummary[] = [];
    const emit: Emit = (name, payload) => {
      if (name === 'conversation') announced.push(payload as ConversationSummary);
    };
    const counters = new ConversationCounters(() => vault, emit);
    const armed = vi.spyOn(globalThis, 'setTimeout');
    const cleared = vi.spyOn(globalThis, 'clearTimeout');
    // One synchronous burst: nothing but the counters runs between these calls.
    for (let i = 0; i < TOUCHES; i++) counters.touch(ids[i % CONVERSATIONS] as string, 1_700_000_000_000 + i, 1);
    const timersArmed = armed.mock.calls.length;
    const timersCleared = cleared.mock.calls.length;
    vi.restoreAllMocks();
    expect({ timersArmed, timersCleared }).toEqual({ timersArmed: 1, timersCleared: 0 });

    await until(() => announced.length >= CONVERSATIONS, 'every touched conversation announced');
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(announced.map((s) => s.id).sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const conv = vault.getConversation(id);
      expect(conv?.unread).toBe(TOUCHES / CONVERSATIONS);
      expect(conv?.lastActivity).toBe(1_700_000_000_000 + TOUCHES - CONVERSATIONS + ids.indexOf(id));
    }
  });

  it('a change before the flush is due holds it until the burst has been quiet for the flush delay', async () => {
    const { vault, ids } = await withConversations();
    const id = ids[0] as string;
    // Timers and the batch clock on the test's fake time: the flush's moment is asserted in fake ms.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const counters = new ConversationCounters(() => vault, () => undefined, () => performance.now(), () => Date.now());
    counters.touch(id, 1_700_000_000_000, 1);
    vi.advanceTimersByTime(40);
    counters.touch(id, 1_700_000_000_040, 1);
    // The timer armed by the first change comes due at 50 ms: the second change (40 ms) moved the
    // quiet moment, so nothing is written yet.
    vi.advanceTimersByTime(15);
    expect(vault.getConversation(id)?.unread).toBe(0);
    // 50 ms after the last change: both are written in one flush.
    vi.advanceTimersByTime(40);
    expect(vault.getConversation(id)?.unread).toBe(2);
    expect(vault.getConversation(id)?.lastActivity).toBe(1_700_000_000_040);
    vi.useRealTimers();
    counters.stopTimer();
  });
});
