// A contact's session record written once per batch of received envelopes (issue 18): within a
// vault batch (Vault.batchedTransaction, one per event-loop turn of a catch-up) each receive's
// session change is kept in memory and written once, just before the batch commits, in the
// transaction that stores the messages. What is on disk after the commit must be the newest
// record (a new process decrypts the next message), an envelope whose store failed must stay
// decryptable when the relay pushes it again, and a lock must write what was deferred.
import { describe, expect, it } from 'vitest';
import { E2e, type Envelope, type MessageContent } from '../../main/e2e/index.ts';
import { NS, type E2eVault } from '../../main/e2e/kv.ts';
import type { Vault } from '../../main/vault/index.ts';
import { PreKeyDirectory } from './helpers.ts';
import { vaultParties } from './vault-parties.ts';

const { register, unlockAgain } = vaultParties('session-batch');

/** The real vault as the e2e layer sees it, counting the session records written to it. */
function counting(vault: Vault): E2eVault & { sessionWrites: number } {
  const s = {
    sessionWrites: 0,
    kvGet: (ns: string, key: string) => vault.kvGet(ns, key),
    kvSet: (ns: string, key: string, value: Uint8Array) => {
      if (ns === NS.session) s.sessionWrites++;
      vault.kvSet(ns, key, value);
    },
    kvDelete: (ns: string, key: string) => vault.kvDelete(ns, key),
    kvKeys: (ns: string) => vault.kvKeys(ns),
    getAccountSecret: (name: string) => vault.getAccountSecret(name),
    setAccountSecret: (name: string, value: Uint8Array) => vault.setAccountSecret(name, value),
    transaction: <T>(fn: () => T): T => vault.transaction(fn),
    batchedTransaction: <T>(fn: () => T): T => vault.batchedTransaction(fn),
    writeEpoch: () => vault.writeEpoch(),
    deferToBatch: (hook: { flush(): void; drop(): void }) => vault.deferToBatch(hook),
    commitBatch: () => vault.commitBatch(),
  };
  return s;
}

const content = (id: string, t: string): MessageContent => ({ v: 1, kind: 'text', id, sentAt: 1, text: t });
const textOf = (c: MessageContent): string => (c.kind === 'text' ? c.text : '');

async function pair(): Promise<{ alice: Awaited<ReturnType<typeof register>>; bob: Awaited<ReturnType<typeof register>> }> {
  const relay = new PreKeyDirectory();
  const alice = await register(relay, 'alice', 3);
  const bob = await register(relay, 'bob', 3);
  await alice.e2e.startSession('bob', relay.fetchBundle('bob'));
  return { alice, bob };
}

async function sends(alice: E2e, from: number, to: number): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for (let i = from; i <= to; i++) out.push(await alice.sendContent('bob', content(`m${i}`, `text ${i}`)));
  return out;
}

describe('a session record written once per batch', () => {
  it('several envelopes of one contact in one batch: one write, and the newest record is what a new process continues from', async () => {
    const { alice, bob } = await pair();
    const seam = counting(bob.vault);
    const bobE2e = E2e.open(seam);
    const envelopes = await sends(alice.e2e, 1, 6);
    // Handed over back to back, as the mailbox does with a backlog: one vault batch.
    const texts = await Promise.all(envelopes.map((e) => bobE2e.receiveContent('alice', e, textOf)));
    expect(texts).toEqual(['text 1', 'text 2', 'text 3', 'text 4', 'text 5', 'text 6']);
    bob.vault.commitBatch();
    expect(seam.sessionWrites).toBe(1);
    bob.vault.lock();
    const vault = await unlockAgain(bob.dir);
    const [next] = await sends(alice.e2e, 7, 7);
    expect(await E2e.open(vault).receiveContent('alice', next as Envelope, textOf)).toBe('text 7');
    // The ones already committed stay consumed (the new process decrypts none of them again).
    await expect(E2e.open(vault).receiveContent('alice', envelopes[5] as Envelope, textOf)).rejects.toThrow();
  });

  it('an envelope whose store failed in the middle of a batch decrypts when pushed again; the others are kept', async () => {
    const { alice, bob } = await pair();
    const bobE2e = E2e.open(bob.vault);
    const [e1, e2, e3] = (await sends(alice.e2e, 1, 3)) as [Envelope, Envelope, Envelope];
    const results = await Promise.allSettled([
      bobE2e.receiveContent('alice', e1, textOf),
      bobE2e.receiveContent('alice', e2, () => {
        throw new Error('store failed');
      }),
      bobE2e.receiveContent('alice', e3, textOf),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    bob.vault.lock();
    const vault = await unlockAgain(bob.dir);
    const again = E2e.open(vault);
    expect(await again.receiveContent('alice', e2, textOf)).toBe('text 2');
    await expect(again.receiveContent('alice', e3, textOf)).rejects.toThrow();
    const [e4] = (await sends(alice.e2e, 4, 4)) as [Envelope];
    expect(await again.receiveContent('alice', e4, textOf)).toBe('text 4');
  });

  it('a lock right after the receives (same turn) writes the deferred record before the keys go', async () => {
    const { alice, bob } = await pair();
    const bobE2e = E2e.open(bob.vault);
    const envelopes = await sends(alice.e2e, 1, 4);
    await Promise.all(envelopes.map((e) => bobE2e.receiveContent('alice', e, textOf)));
    // What locking does (messenger/session.ts close): drop the kept records, then lock.
    bobE2e.forgetCachedSessions();
    bob.vault.lock();
    const vault = await unlockAgain(bob.dir);
    const [next] = (await sends(alice.e2e, 5, 5)) as [Envelope];
    expect(await E2e.open(vault).receiveContent('alice', next, textOf)).toBe('text 5');
  });
});
