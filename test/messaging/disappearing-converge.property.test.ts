// Timer changes made concurrently on both sides converge (issue #14): two devices each make
// changes (their own change takes effect at once, at max(clock, current + 1) as
// storeOwnTimerChange does) and send them; the network delivers each side's changes in order
// (one Signal session per direction) but interleaves sends, deliveries and local changes
// arbitrarily, and clocks differ. Whatever the interleaving, once everything is delivered both
// devices hold the same setting, and it is the greatest change by (at, by, seconds).
// The first property runs the rule alone (many runs); the second runs the messenger's own store
// steps (storeOwnTimerChange, storeInboundTimerChange) on two real vaults, and checks the stored
// settings and the system lines each side shows.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DISAPPEARING_SECONDS } from '../../shared/api/disappearing.ts';
import {
  conversationTimer,
  laterChange,
  storeInboundTimerChange,
  storeOwnTimerChange,
  timerChangeOf,
  TIMER_NEVER_SET,
  type TimerSetting,
} from '../../main/messenger/disappearing.ts';
import { conversationIdOf } from '../../main/messenger/ids.ts';
import type { TimerContent } from '../../main/e2e/index.ts';
import type { Vault } from '../../main/vault/index.ts';
import { testVaults } from '../vault/helpers.ts';

type Side = 'alice' | 'bob';
type Step = { kind: 'change'; side: Side; seconds: number; clockAdvance: number } | { kind: 'deliver'; to: Side };

interface Device {
  setting: TimerSetting;
  clock: number;
  /** Changes sent to the other side, not yet delivered, oldest first. */
  outbox: TimerSetting[];
  shown: TimerSetting[];
}

const other = (s: Side): Side => (s === 'alice' ? 'bob' : 'alice');

/** The same steps as storeOwnTimerChange / storeInboundTimerChange, on the pure rule. */
function run(steps: readonly Step[], skew: number): { alice: Device; bob: Device; all: TimerSetting[] } {
  const devices: Record<Side, Device> = {
    alice: { setting: TIMER_NEVER_SET, clock: 1_000_000, outbox: [], shown: [] },
    bob: { setting: TIMER_NEVER_SET, clock: 1_000_000 + skew, outbox: [], shown: [] },
  };
  const all: TimerSetting[] = [];
  const deliverOne = (to: Side): void => {
    const change = devices[other(to)].outbox.shift();
    if (!change) return;
    const d = devices[to];
    if (laterChange(d.setting, change) === change) {
      d.setting = change;
      d.shown.push(change);
    }
  };
  for (const step of steps) {
    if (step.kind === 'change') {
      const d = devices[step.side];
      d.clock += step.clockAdvance;
      const change: TimerSetting = { seconds: step.seconds, at: Math.max(d.clock, d.setting.at + 1), by: step.side };
      d.setting = change;
      d.shown.push(change);
      d.outbox.push(change);
      all.push(change);
    } else deliverOne(step.to);
  }
  // Everything still in flight arrives in the end.
  while (devices.alice.outbox.length > 0 || devices.bob.outbox.length > 0) {
    deliverOne('alice');
    deliverOne('bob');
  }
  return { ...devices, all };
}

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('change' as const),
    side: fc.constantFrom<Side>('alice', 'bob'),
    seconds: fc.constantFrom(...DISAPPEARING_SECONDS),
    clockAdvance: fc.integer({ min: 0, max: 3 }),
  }),
  fc.record({ kind: fc.constant('deliver' as const), to: fc.constantFrom<Side>('alice', 'bob') }),
);

describe('disappearing timer convergence', () => {
  it('both sides end on the same setting, the greatest change, over any interleaving and clock skew', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 40 }), fc.integer({ min: -5, max: 5 }), (steps, skew) => {
        const { alice, bob, all } = run(steps, skew);
        expect(alice.setting).toEqual(bob.setting);
        const greatest = all.reduce(laterChange, TIMER_NEVER_SET);
        expect(alice.setting).toEqual(greatest);
        // Every line a side shows is a change that took effect there at that moment: the last one shown is the final setting.
        if (all.length > 0) {
          expect(alice.shown.at(-1)).toEqual(greatest);
          expect(bob.shown.at(-1)).toEqual(greatest);
        }
      }),
      { numRuns: 2000 },
    );
  });

  const vaults = testVaults();
  afterAll(() => vaults.cleanup());

  it('the messenger store steps on two real vaults converge and show only changes that took effect', async () => {
    const alice = (await vaults.fresh()).vault;
    const bob = (await vaults.fresh()).vault;
    const hex = () => randomBytes(12).toString('hex');
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 24 }), fc.integer({ min: -5, max: 5 }), async (steps, skew) => {
        // A fresh conversation pair per run: alice's contact for bob and bob's for alice.
        const side = {
          alice: { vault: alice, handle: 'alice', conv: conversationIdOf(`c${hex()}`), peer: { id: `c${hex()}`, handle: 'bob', displayName: 'bob', identityChanged: false, createdAt: 0 } },
          bob: { vault: bob, handle: 'bob', conv: conversationIdOf(`c${hex()}`), peer: { id: `c${hex()}`, handle: 'alice', displayName: 'alice', identityChanged: false, createdAt: 0 } },
        };
        // Each side's conversation is the one with its contact record for the other.
        side.alice.conv = conversationIdOf(side.alice.peer.id);
        side.bob.conv = conversationIdOf(side.bob.peer.id);
        const clocks: Record<Side, number> = { alice: 1_000_000, bob: 1_000_000 + skew };
        const inFlight: Record<Side, TimerContent[]> = { alice: [], bob: [] };
        const deliver = (to: Side): void => {
          const content = inFlight[other(to)].shift();
          if (content) storeInboundTimerChange(side[to].vault, side[to].peer, content, `m${hex()}`, 0);
        };
        for (const step of steps) {
          if (step.kind === 'change') {
            const s = side[step.side];
            clocks[step.side] += step.clockAdvance;
            const { content } = storeOwnTimerChange(s.vault, { messageId: `m${hex()}`, conversationId: s.conv, contentId: hex(), seconds: step.seconds, now: clocks[step.side], handle: s.handle });
            inFlight[step.side].push(content);
          } else deliver(step.to);
        }
        while (inFlight.alice.length > 0 || inFlight.bob.length > 0) {
          deliver('alice');
          deliver('bob');
        }
        const a = conversationTimer(alice, side.alice.conv);
        const b = conversationTimer(bob, side.bob.conv);
        expect(a).toEqual(b);
        // The last system line each side shows names the final setting.
        const lastLine = (v: Vault, conv: string): number | undefined => {
          const m = v.pageMessages(conv, { limit: 1 })[0];
          return m ? timerChangeOf(v, m.id) : undefined;
        };
        if (steps.some((st) => st.kind === 'change')) {
          expect(lastLine(alice, side.alice.conv)).toBe(a.seconds);
          expect(lastLine(bob, side.bob.conv)).toBe(a.seconds);
        } else expect(a).toEqual(TIMER_NEVER_SET);
      }),
      { numRuns: 150 },
    );
  });

  it('the rule is a total order: commutative, associative and idempotent', () => {
    const setting = fc.record({ seconds: fc.constantFrom(...DISAPPEARING_SECONDS), at: fc.integer({ min: 0, max: 5 }), by: fc.constantFrom('alice', 'bob') });
    fc.assert(
      fc.property(setting, setting, setting, (a, b, c) => {
        expect(laterChange(a, b)).toEqual(laterChange(b, a));
        expect(laterChange(laterChange(a, b), c)).toEqual(laterChange(a, laterChange(b, c)));
        expect(laterChange(a, a)).toEqual(a);
      }),
    );
  });
});
