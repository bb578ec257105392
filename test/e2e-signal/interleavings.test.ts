// Property: under any interleaving of sends, reordered and duplicated deliveries, and re-opening
// the E2E state from storage, every message is decrypted exactly once with its own plaintext
// and every redelivery is refused as a duplicate.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { E2e, type Envelope } from '../../main/e2e/index.ts';
import { DuplicateMessage } from '../../shared/protocol/e2e-errors.ts';
import { MemoryVault, PreKeyDirectory, str, text } from './helpers.ts';

type Op =
  | { kind: 'send'; from: 0 | 1 }
  | { kind: 'deliver'; to: 0 | 1; pick: number }
  | { kind: 'redeliver'; to: 0 | 1; pick: number }
  | { kind: 'reopen'; who: 0 | 1 };

const side = fc.constantFrom<0 | 1>(0, 1);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('send' as const), from: side }),
  fc.record({ kind: fc.constant('deliver' as const), to: side, pick: fc.nat(2) }),
  fc.record({ kind: fc.constant('redeliver' as const), to: side, pick: fc.nat(50) }),
  fc.record({ kind: fc.constant('reopen' as const), who: side }),
);

/** libsignal keeps 5 old receiving chains; deliver anything older than this many ops first. */
const MAX_DELAY_OPS = 6;

describe('E2E under arbitrary interleavings', () => {
  it('decrypts each message exactly once, whatever the order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), async (ops) => {
        const relay = new PreKeyDirectory();
        const names = ['alice', 'bob'] as const;
        const vaults = [new MemoryVault(), new MemoryVault()];
        const e2e: E2e[] = [];
        for (const [i, n] of names.entries()) {
          const { e2e: e, registration } = await E2e.register(vaults[i]!, n, { oneTimeCount: 2 });
          relay.register(n, registration.identity, registration.oneTimePreKeys);
          e2e.push(e);
        }
        await e2e[0]!.startSession('bob', relay.fetchBundle('bob'));
        // In flight towards party i, and already delivered to party i.
        const pending: { env: Envelope; text: string; at: number }[][] = [[], []];
        const delivered: { env: Envelope; text: string }[][] = [[], []];
        let counter = 0;

        const deliver = async (to: 0 | 1, index: number) => {
          const [m] = pending[to]!.splice(index, 1);
          const got = await e2e[to]!.decryptFrom(names[1 - to]!, m!.env);
          expect(str(got)).toBe(m!.text);
          delivered[to]!.push(m!);
        };

        for (const [step, op] of ops.entries()) {
          for (const to of [0, 1] as const) {
            while (pending[to]!.length > 0 && step - pending[to]![0]!.at > MAX_DELAY_OPS) await deliver(to, 0);
          }
          if (op.kind === 'send') {
            const to = (1 - op.from) as 0 | 1;
            // Bob can only answer once he has a session (after alice's first message arrived).
            if (!(await e2e[op.from]!.hasSession(names[to]!))) continue;
            const t = `${names[op.from]}-${counter++}`;
            pending[to]!.push({ env: await e2e[op.from]!.encryptFor(names[to]!, text(t)), text: t, at: step });
          } else if (op.kind === 'deliver') {
            if (pending[op.to]!.length > 0) await deliver(op.to, op.pick % pending[op.to]!.length);
          } else if (op.kind === 'redeliver') {
            const done = delivered[op.to]!;
            if (done.length > 0) {
              const m = done[op.pick % done.length]!;
              await expect(e2e[op.to]!.decryptFrom(names[1 - op.to]!, m.env)).rejects.toThrow(DuplicateMessage);
            }
          } else {
            e2e[op.who] = E2e.open(vaults[op.who]!);
          }
        }
        for (const to of [0, 1] as const) while (pending[to]!.length > 0) await deliver(to, 0);
        expect(delivered[0]!.length + delivered[1]!.length).toBe(counter);
      }),
      { numRuns: 60 },
    );
  });
});
