// Helpers of bench/deletion: which step of a deletion holds the event loop longest, and the
// whole-conversation case through the messenger's path (issue #14). Not a benchmark of its own.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { deleteConversationInSlices } from '../main/messenger/deletion-slices.ts';
import { textIdempotencyKey, withIdKey } from '../main/messenger/ids.ts';
import type { SearchService } from '../main/search/service.ts';
import type { Vault } from '../main/vault/index.ts';
import { makeMessageRows } from './message-rows.ts';
import { emit, loopDelay, ratioOf } from './report.ts';

/**
 * The longest gap between turns of a 1 ms timer, by phase: a gap counts for every phase that was
 * current at some point during it, so a step that ends one phase and starts the next is blamed
 * on both (never on neither). The caller names phases as the work goes.
 */
export function phaseStalls(first: string): { set: (phase: string) => void; stop: () => Record<string, number> } {
  let phase = first;
  let seen = new Set([phase]);
  const max: Record<string, number> = {};
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const gap = now - last;
    for (const p of seen) max[p] = Math.max(max[p] ?? 0, Math.round(gap * 10) / 10);
    last = now;
    seen = new Set([phase]);
  }, 1);
  return {
    set: (p) => {
      phase = p;
      seen.add(p);
    },
    stop: () => {
      clearInterval(timer);
      return max;
    },
  };
}

/** The phase with the longest stall, as "phase:ms". */
export function worstPhase(max: Record<string, number>): string {
  const [p, ms] = Object.entries(max).sort((a, b) => b[1] - a[1])[0] ?? ['none', 0];
  return `${p}:${ms}`;
}

const CONVERSATION = 'conv-whole';

/**
 * Adds one conversation of `count` messages, then deletes it as the app's "delete conversation"
 * does (messenger/deletion-slices.ts: vault slices with the journal, the messenger's records from
 * the journal, then search.catchUpInSteps). Baseline: appending as many in batches of 500 with a
 * yield between (as arriving messages would), then the same catchUpInSteps.
 */
export async function wholeConversation(vault: Vault, search: SearchService, count: number, start: number, target: string, at: Record<string, number>): Promise<void> {
  const fresh = makeMessageRows(count, start, 1, (n) => `whole ${n} about w${(n * 7919) % 50_000} `).map((r) => ({ ...r, conversationId: CONVERSATION }));
  const insLoop = loopDelay();
  const i0 = performance.now();
  for (let b = 0; b < fresh.length; b += 500) {
    vault.appendMessages(fresh.slice(b, b + 500));
    await yieldToEventLoop();
  }
  await search.catchUpInSteps();
  const insertMs = performance.now() - i0;
  const insertLoop = insLoop.stop();
  vault.upsertConversation({ id: CONVERSATION, kind: 'direct', contactId: 'contact-whole', title: 'whole', lastActivity: Date.now(), unread: 0 });

  const stalls = phaseStalls('lookup+record');
  const loop = loopDelay();
  const d0 = performance.now();
  const sendIdOf = (contentId: string): string => withIdKey(vault, (k) => textIdempotencyKey(k, contentId));
  const r = await deleteConversationInSlices(vault, sendIdOf, CONVERSATION, {
    onProgress: (done, total) => stalls.set(done === total ? 'vault-finish' : 'vault-slices'),
    onJournal: () => stalls.set('journal'),
  });
  stalls.set('search-index');
  await search.catchUpInSteps((p) => stalls.set(`search-${p}`));
  const deleteMs = performance.now() - d0;
  const delLoop = loop.stop();
  const byPhase = stalls.stop();
  if (r.deleted.length !== count || vault.countMessages(CONVERSATION) !== 0) throw new Error('whole-conversation deletion left messages');
  const params = { ...at, conversationMessages: count, maxStallByPhaseMs: JSON.stringify(byPhase), longestStall: worstPhase(byPhase) };
  emit({ bench: 'deletion.conversation.time', value: Math.round(deleteMs), unit: 'ms', baseline: Math.round(insertMs), ratio: ratioOf(deleteMs, insertMs, false), params, target: 'informational (baseline: appending as many)' });
  emit({ bench: 'deletion.conversation.loop-delay.p99', value: delLoop.p99Ms, unit: 'ms', baseline: insertLoop.p99Ms, ratio: ratioOf(delLoop.p99Ms, insertLoop.p99Ms, false), params, target });
  emit({ bench: 'deletion.conversation.loop-delay.max', value: delLoop.maxMs, unit: 'ms', baseline: insertLoop.maxMs, ratio: ratioOf(delLoop.maxMs, insertLoop.maxMs, false), params, target });
}
