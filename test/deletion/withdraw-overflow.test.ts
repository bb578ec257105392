// Past 10,000 withdraws queued since the last take (one deletion of a big chat: one per undelivered
// own send, one per receipt of the last 31 days), the take hands the running relay client every
// withdraw in the sealed outbox (messenger/withdraw-queue.ts). Before: the queue was cleared at the
// bound, so the dropped ones waited in the outbox until the client's next start (the next unlock),
// and the contact could fetch the deleted texts meanwhile. Real vault file.
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { queueWithdrawals, takeQueued, withdrawId } from '../../main/messenger/withdraw-queue.ts';
import { tempProfile } from '../vault/helpers.ts';

const profile = tempProfile();
afterEach(() => profile.cleanup());

const idemOf = (i: number): string => `${i.toString(16).padStart(8, '0')}${'a'.repeat(56)}`;

describe('withdraw queue past its bound', () => {
  it('drops none: the take lists the outbox withdraws', { timeout: 120_000 }, async () => {
    const { vault } = await Vault.create(profile.dir, 'correct horse', { kdf: TEST_KDF });
    try {
      const n = 10_050;
      vault.transaction(() => {
        vault.outboxPut({ id: 'a-send', createdAt: 1, body: new Uint8Array([1]) }); // not a withdraw: never taken
        queueWithdrawals(vault, Array.from({ length: n }, (_, i) => ({ to: 'bob', idem: idemOf(i) })), Date.now());
      });
      const taken = takeQueued(vault).map((item) => item.id).sort();
      expect(taken).toEqual(Array.from({ length: n }, (_, i) => withdrawId(idemOf(i))).sort());
      // Taken once: the next take has nothing new.
      expect(takeQueued(vault)).toEqual([]);
    } finally {
      vault.lock();
    }
  });
});
