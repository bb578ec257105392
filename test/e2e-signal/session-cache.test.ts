// Session records kept parsed between operations (E2eKv.parsed, issue 18), on the real vault:
// a contact's record is opened from the vault once and then served from memory while the vault
// reports no possibly undone write (Vault.writeEpoch); a batch of received envelopes that is
// rolled back after its handlers returned (its commit failed) must not leave the newer session
// in memory, or the relay's redelivery would be refused as a duplicate and the message lost.
import { describe, expect, it } from 'vitest';
import { E2e, type MessageContent } from '../../main/e2e/index.ts';
import { NS, type E2eVault } from '../../main/e2e/kv.ts';
import type { Vault } from '../../main/vault/index.ts';
import { PreKeyDirectory, str, text } from './helpers.ts';
import { vaultParties } from './vault-parties.ts';

const { register } = vaultParties('session-cache');

/** The real vault as the e2e layer sees it, counting session reads; `rollBack` makes the next batched step's writes vanish after it returned. */
function seam(vault: Vault): E2eVault & { sessionReads: number; rollBack: boolean } {
  const s = {
    sessionReads: 0,
    rollBack: false,
    kvGet: (ns: string, key: string) => {
      if (ns === NS.session) s.sessionReads++;
      return vault.kvGet(ns, key);
    },
    kvSet: (ns: string, key: string, value: Uint8Array) => vault.kvSet(ns, key, value),
    kvDelete: (ns: string, key: string) => vault.kvDelete(ns, key),
    kvKeys: (ns: string) => vault.kvKeys(ns),
    getAccountSecret: (name: string) => vault.getAccountSecret(name),
    setAccountSecret: (name: string, value: Uint8Array) => vault.setAccountSecret(name, value),
    transaction: <T>(fn: () => T): T => vault.transaction(fn),
    writeEpoch: () => vault.writeEpoch(),
    batchedTransaction: <T>(fn: () => T): T => {
      if (!s.rollBack) return vault.batchedTransaction(fn);
      s.rollBack = false;
      // As a batch whose commit fails after the handler returned: the vault rolls it back.
      let result: T | undefined;
      const rolledBack = new Error('rolled back');
      try {
        vault.transaction(() => {
          result = fn();
          throw rolledBack;
        });
      } catch (e) {
        if (e !== rolledBack) throw e;
      }
      return result as T;
    },
  };
  return s;
}

const content = (id: string, t: string): MessageContent => ({ v: 1, kind: 'text', id, sentAt: 1, text: t });
const textOf = (c: MessageContent): string => (c.kind === 'text' ? c.text : '');

describe('session records kept between operations', () => {
  it('are read from the vault once per contact, then served from memory', async () => {
    const relay = new PreKeyDirectory();
    const alice = await register(relay, 'alice', 3);
    const bob = await register(relay, 'bob', 3);
    const bobVault = seam(bob.vault);
    const bobE2e = E2e.open(bobVault);
    await alice.e2e.startSession('bob', relay.fetchBundle('bob'));
    expect(await bobE2e.receiveContent('alice', await alice.e2e.sendContent('bob', content('a1', 'one')), textOf)).toBe('one');
    const readsAfterFirst = bobVault.sessionReads;
    for (let i = 2; i <= 5; i++) expect(await bobE2e.receiveContent('alice', await alice.e2e.sendContent('bob', content(`a${i}`, `n${i}`)), textOf)).toBe(`n${i}`);
    // Replies: a send checks for the session, encrypts, and the receive loads it again.
    await bobE2e.sendContent('alice', content('b1', 'reply'));
    expect(await bobE2e.hasSession('alice')).toBe(true);
    expect(bobVault.sessionReads).toBe(readsAfterFirst);
    expect(str(await alice.e2e.decryptFrom('bob', await bobE2e.encryptFor('alice', text('again'))))).toBe('again');
    expect(bobVault.sessionReads).toBe(readsAfterFirst);
    // What lock calls (messenger/session.ts): nothing kept, the next use reads the vault again.
    bobE2e.forgetCachedSessions();
    expect(await bobE2e.hasSession('alice')).toBe(true);
    expect(bobVault.sessionReads).toBe(readsAfterFirst + 1);
  });

  it('a rolled-back session change is not served from memory: the redelivered envelope decrypts again', async () => {
    const relay = new PreKeyDirectory();
    const alice = await register(relay, 'alice', 3);
    const bob = await register(relay, 'bob', 3);
    const bobVault = seam(bob.vault);
    const bobE2e = E2e.open(bobVault);
    await alice.e2e.startSession('bob', relay.fetchBundle('bob'));
    expect(await bobE2e.receiveContent('alice', await alice.e2e.sendContent('bob', content('m1', 'first')), textOf)).toBe('first');
    const second = await alice.e2e.sendContent('bob', content('m2', 'second'));
    bobVault.rollBack = true;
    expect(await bobE2e.receiveContent('alice', second, textOf)).toBe('second');
    // The vault holds the session from before `second`; so must memory.
    expect(await bobE2e.receiveContent('alice', second, textOf)).toBe('second');
    expect(await bobE2e.receiveContent('alice', await alice.e2e.sendContent('bob', content('m3', 'third')), textOf)).toBe('third');
  });
});
