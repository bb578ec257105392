// Property test: random sequences of appends (with duplicate ids), state updates, deletes and
// reopen against an in-memory model. Paging, counts, getMessage and the change feed must agree
// with the model after every step.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import type { MessageState, StoredMessage } from '../../main/vault/api.ts';
import { tempProfile } from './helpers.ts';

type Op =
  | { kind: 'append'; rows: { id: number; conv: number; text: string }[] }
  | { kind: 'state'; id: number; state: MessageState }
  | { kind: 'delete'; id: number }
  | { kind: 'reopen' };

const states: MessageState[] = ['queued', 'sent', 'delivered', 'read', 'received', 'failed'];
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), rows: fc.array(fc.record({ id: fc.nat(60), conv: fc.nat(2), text: fc.string({ maxLength: 20 }) }), { minLength: 1, maxLength: 12 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('state' as const), id: fc.nat(60), state: fc.constantFrom(...states) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), id: fc.nat(60) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

describe('vault against a model', () => {
  const profile = tempProfile();
  let n = 0;
  afterAll(() => profile.cleanup());

  it('paging, counts and the change feed match the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
        n += 1;
        const dir = `${profile.dir}-${n}`;
        let vault = (await Vault.create(dir, 'pw', { kdf: TEST_KDF })).vault;
        const model = new Map<string, StoredMessage>();
        const nextOrder = new Map<string, number>();
        let seq = 0;
        let feedSeq = 0;
        const feed = new Map<string, StoredMessage | 'deleted'>();
        try {
          for (const op of ops) {
            if (op.kind === 'append') {
              const out = vault.appendMessages(op.rows.map((r) => ({ id: `m${r.id}`, conversationId: `c${r.conv}`, direction: 'in', sender: 'x', sentAt: r.id, receivedAt: 1, text: r.text, state: 'received' })));
              op.rows.forEach((r, i) => {
                const id = `m${r.id}`;
                const existing = model.get(id);
                if (existing) {
                  expect(out[i]).toEqual(existing);
                  return;
                }
                const conv = `c${r.conv}`;
                const orderKey = (nextOrder.get(conv) ?? 0) + 1;
                seq += 1;
                const m: StoredMessage = { id, conversationId: conv, direction: 'in', sender: 'x', sentAt: r.id, receivedAt: 1, text: r.text, state: 'received', orderKey, seq };
                nextOrder.set(conv, orderKey);
                model.set(id, m);
                expect(out[i]).toEqual(m);
              });
            } else if (op.kind === 'state') {
              vault.updateMessageState(`m${op.id}`, op.state);
              const m = model.get(`m${op.id}`);
              if (m) {
                seq += 1;
                model.set(m.id, { ...m, state: op.state, seq });
              }
            } else if (op.kind === 'delete') {
              vault.deleteMessage(`m${op.id}`);
              if (model.delete(`m${op.id}`)) seq += 1;
            } else {
              vault.lock();
              vault = await Vault.unlock(dir, 'pw');
            }
            // Check against the model.
            expect(vault.countMessages()).toBe(model.size);
            for (const conv of ['c0', 'c1', 'c2']) {
              const expected = [...model.values()].filter((m) => m.conversationId === conv).sort((a, b) => a.orderKey - b.orderKey);
              expect(vault.pageMessages(conv, { limit: 5 })).toEqual(expected.slice(-5));
              const mid = expected[Math.floor(expected.length / 2)];
              if (mid) {
                expect(vault.pageMessages(conv, { before: mid.orderKey, limit: 3 })).toEqual(expected.filter((m) => m.orderKey < mid.orderKey).slice(-3));
                expect(vault.pageMessages(conv, { after: mid.orderKey, limit: 3 })).toEqual(expected.filter((m) => m.orderKey > mid.orderKey).slice(0, 3));
              }
              expect([...vault.iterateMessages(conv)]).toEqual(expected);
            }
            // Follow the change feed in small steps; applying it reproduces the model.
            for (;;) {
              const batch = vault.changesSince(feedSeq, 4);
              for (const m of batch.upserts) feed.set(m.id, m);
              for (const id of batch.deletes) feed.set(id, 'deleted');
              expect(batch.maxSeq).toBeGreaterThanOrEqual(feedSeq);
              feedSeq = batch.maxSeq;
              if (!batch.more) break;
            }
            const live = [...feed.entries()].filter(([, v]) => v !== 'deleted').map(([, v]) => v as StoredMessage);
            expect(new Map(live.map((m) => [m.id, m]))).toEqual(model);
            expect(feedSeq).toBe(seq);
          }
        } finally {
          vault.lock();
        }
      }),
      { numRuns: 25 },
    );
  });
});
