// The scrub owed by replaced sealed rows (main/vault/scrub.ts, Vault.rowReplaced): a libsignal
// session record is written over at each message, and SQLite's rebalancing can leave its older
// value (chain keys that open old messages) in a page gap; so can any sealed row written over or
// deleted (a draft typed and erased, a sent request's outbox item). No deletion owes the scrub for it, so
// the lock owes it once the last scrub is older than REPLACED_SECRETS_MAX_AGE_MS, told by the
// state file beside the marker. The clock is not raced: each case writes that file itself, hours
// from the bound. Real vaults, real libsignal (alice and bob on their own profiles).
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { E2e } from '../../main/e2e/index.ts';
import { E2eKv, NS } from '../../main/e2e/kv.ts';
import { storeDraft } from '../../main/messenger/conversations.ts';
import { Vault } from '../../main/vault/index.ts';
import { readScrubState, REPLACED_SECRETS_MAX_AGE_MS, SCRUB_OWED_FILE, SCRUB_STATE_FILE, watchScrubs, type ScrubState } from '../../main/vault/scrub.ts';
import { PreKeyDirectory, str, text } from '../e2e-signal/helpers.ts';
import { vaultParties, type VaultParty } from '../e2e-signal/vault-parties.ts';
import { testVaults } from './helpers.ts';

const HOUR = 3_600_000;
const parties = vaultParties('scrub-replaced');
const vaults = testVaults();
afterEach(async () => {
  vi.restoreAllMocks();
  await vaults.cleanup();
});

const stateText = (scrubbedAt: number, replacedSince: boolean): string => JSON.stringify({ scrubbedAt, replacedSince });

/**
 * Alice and bob with a session both ways; bob's first lock (a used prekey owes it) has scrubbed,
 * so his state file says scrubbed and nothing replaced since. Alice's next message is a plain
 * SignalMessage: decrypting it replaces bob's session record and deletes nothing.
 */
async function pair(): Promise<{ alice: VaultParty; bob: VaultParty }> {
  const relay = new PreKeyDirectory();
  const alice = await parties.register(relay, 'alice', 1);
  const bob = await parties.register(relay, 'bob', 1);
  await alice.e2e.startSession('bob', relay.fetchBundle('bob'));
  expect(str(await bob.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('hello bob'))))).toBe('hello bob');
  expect(str(await alice.e2e.decryptFrom('bob', await bob.e2e.encryptFor('alice', text('hello alice'))))).toBe('hello alice');
  bob.vault.lock();
  await Vault.scrubbed(bob.dir);
  expect(readScrubState(bob.dir)).toMatchObject({ replacedSince: false });
  return { alice, bob };
}

/** Writes bob's state file (`undefined`: removes it), unlocks him, lets `during` run, locks: whether that lock scrubbed, and the state after. */
async function lockAfter(bob: VaultParty, state: string | undefined, during: (vault: Vault) => Promise<void>): Promise<{ owedBeforeLock: boolean; scrubbed: boolean; after: ScrubState }> {
  const file = join(bob.dir, SCRUB_STATE_FILE);
  if (state === undefined) rmSync(file, { force: true });
  else writeFileSync(file, state);
  const vault = await parties.unlockAgain(bob.dir);
  await during(vault);
  // No deletion in this unlock: only a replacement can have owed the scrub (durably, as a deletion does).
  const owedBeforeLock = existsSync(join(bob.dir, SCRUB_OWED_FILE));
  const heard: boolean[] = [];
  const unwatch = watchScrubs(bob.dir, (underWay) => heard.push(underWay));
  try {
    // scrubAtLock starts the scrub (and tells its watchers) inside lock(), or frees the profile at once.
    vault.lock();
    await Vault.scrubbed(bob.dir);
  } finally {
    unwatch();
  }
  return { owedBeforeLock, scrubbed: heard.includes(true), after: readScrubState(bob.dir) };
}

/** Bob receives one more message from alice: his session record is replaced (no prekey used). */
const receiveOne = (alice: VaultParty) => async (vault: Vault): Promise<void> => {
  const envelope = await alice.e2e.encryptFor('bob', text('again'));
  expect(envelope.type).toBe('message');
  expect(str(await E2e.open(vault).decryptFrom('alice', envelope))).toBe('again');
  // The record reaches the vault with the receive's batch (E2eKv.deferSessions): committed at
  // the next turn, here at once. The vault tells itself of the replacement then.
  vault.commitBatch();
};

describe('a replaced session record', () => {
  it('owes the scrub at lock when the last scrub is older than the bound; the state then says scrubbed now', { timeout: 120_000 }, async () => {
    const { alice, bob } = await pair();
    const before = Date.now();
    const { owedBeforeLock, scrubbed, after } = await lockAfter(bob, stateText(before - REPLACED_SECRETS_MAX_AGE_MS - HOUR, false), receiveOne(alice));
    // Owed at the replacement itself: a process that ends before its lock still scrubs at the next.
    expect(owedBeforeLock).toBe(true);
    expect(scrubbed).toBe(true);
    expect(after.replacedSince).toBe(false);
    expect(after.scrubbedAt).toBeGreaterThanOrEqual(before);
    expect(existsSync(join(bob.dir, SCRUB_OWED_FILE))).toBe(false);
  });

  it('owes none when the last scrub is within the bound, and records that a row was replaced since', { timeout: 120_000 }, async () => {
    const { alice, bob } = await pair();
    const at = Date.now() - REPLACED_SECRETS_MAX_AGE_MS + 2 * HOUR;
    const { owedBeforeLock, scrubbed, after } = await lockAfter(bob, stateText(at, false), receiveOne(alice));
    expect(owedBeforeLock).toBe(false);
    expect(scrubbed).toBe(false);
    expect(after).toEqual({ scrubbedAt: at, replacedSince: true });
  });

  it('owes the scrub when the state file is missing, not JSON, a time that is not a number, or a time in the future (a clock set back): the last scrub counts as long ago', { timeout: 120_000 }, async () => {
    const { alice, bob } = await pair();
    const states: [string, string | undefined][] = [
      ['missing', undefined],
      ['not JSON', '{"scrubbedAt": 17'],
      ['not a number', JSON.stringify({ scrubbedAt: 'yesterday', replacedSince: false })],
      ['in the future', stateText(Date.now() + 2 * HOUR, false)],
    ];
    for (const [what, state] of states) {
      const before = Date.now();
      const { scrubbed, after } = await lockAfter(bob, state, receiveOne(alice));
      expect({ what, scrubbed, replacedSince: after.replacedSince, scrubbedNow: (after.scrubbedAt ?? -1) >= before }).toEqual({ what, scrubbed: true, replacedSince: false, scrubbedNow: true });
    }
  });

  it('a lock that replaced nothing owes none, however old the last scrub (vault.lock.after-snapshot stays free)', { timeout: 120_000 }, async () => {
    const { bob } = await pair();
    const old = stateText(Date.now() - 3 * REPLACED_SECRETS_MAX_AGE_MS, false);
    const { owedBeforeLock, scrubbed } = await lockAfter(bob, old, async (vault) => vault.kvSet('scrub-replaced-test', 'a', Buffer.from('plain kv')));
    expect(owedBeforeLock).toBe(false);
    expect(scrubbed).toBe(false);
  });

  it('a replacement recorded by an earlier unlock (one that never locked) owes the scrub at a later lock past the bound', { timeout: 120_000 }, async () => {
    const { bob } = await pair();
    const before = Date.now();
    const { scrubbed, after } = await lockAfter(bob, stateText(before - REPLACED_SECRETS_MAX_AGE_MS - HOUR, true), async () => undefined);
    expect(scrubbed).toBe(true);
    expect(after).toMatchObject({ replacedSince: false });
    expect(after.scrubbedAt).toBeGreaterThanOrEqual(before);
  });
});

describe('the replaced-secret namespaces of the e2e kv', () => {
  it('a new vault counts as scrubbed at its creation: a session written (and written over) at once owes no scrub', async () => {
    const before = Date.now();
    const { vault, dir } = await vaults.fresh();
    expect(readScrubState(dir).scrubbedAt).toBeGreaterThanOrEqual(before);
    const kv = new E2eKv(vault);
    kv.set(NS.session, 'contact', Buffer.from('session record'));
    // The first write made the row (no older value): nothing recorded yet.
    expect(readScrubState(dir).replacedSince).toBe(false);
    kv.set(NS.session, 'contact', Buffer.from('next session record'));
    vault.lock();
    expect(existsSync(join(dir, SCRUB_OWED_FILE))).toBe(false);
    expect(readScrubState(dir).replacedSince).toBe(true);
  });

  it('a symlink planted as the state file is not followed: read as invalid (long ago), replaced by the scrub, its target unchanged', async () => {
    const { vault, dir } = await vaults.fresh();
    vault.lock();
    const target = join(dir, '..', `planted-scrub-state-${process.pid}`);
    const fresh = stateText(Date.now(), false);
    writeFileSync(target, fresh);
    try {
      rmSync(join(dir, SCRUB_STATE_FILE));
      symlinkSync(target, join(dir, SCRUB_STATE_FILE));
      expect(readScrubState(dir)).toEqual({ scrubbedAt: undefined, replacedSince: true });
      const again = await vaults.reopen(dir);
      const kv = new E2eKv(again);
      kv.set(NS.session, 'contact', Buffer.from('session record'));
      kv.set(NS.session, 'contact', Buffer.from('next session record'));
      again.lock();
      await Vault.scrubbed(dir);
      expect(lstatSync(join(dir, SCRUB_STATE_FILE)).isFile()).toBe(true);
      expect(readScrubState(dir).replacedSince).toBe(false);
      expect(readFileSync(target, 'utf8')).toBe(fresh);
    } finally {
      rmSync(target, { force: true });
    }
  });

  it.each([
    ['a sender key chain written over', NS.senderKey, (kv: E2eKv) => kv.set(NS.senderKey, 'k', Buffer.from('next chain key'))],
    ['a held envelope dropped', NS.held, (kv: E2eKv) => kv.delete(NS.held, 'k')],
    ['a session record written over durably', NS.session, (kv: E2eKv) => kv.setDurable(NS.session, 'k', Buffer.from('next session record'))],
  ])('%s owes the scrub once the last one is past the bound; the row made, and a deletion of none, do not', async (_what, ns, write) => {
    const { vault, dir } = await vaults.fresh();
    vault.lock();
    writeFileSync(join(dir, SCRUB_STATE_FILE), stateText(Date.now() - REPLACED_SECRETS_MAX_AGE_MS - HOUR, false));
    const again = await vaults.reopen(dir);
    const kv = new E2eKv(again);
    kv.delete(ns, 'k');
    kv.set(ns, 'k', Buffer.from('first value'));
    expect(existsSync(join(dir, SCRUB_OWED_FILE))).toBe(false);
    write(kv);
    // Owed durably at the first replacement (a crash before the lock still scrubs at the next).
    expect(existsSync(join(dir, SCRUB_OWED_FILE))).toBe(true);
  });
});

/**
 * A fresh vault locked with its state file saying `state`, unlocked again: `during` runs, then the
 * lock. Whether the marker was there before the lock, whether the lock scrubbed, the state after.
 */
async function freshLockAfter(state: string, during: (vault: Vault) => void | Promise<void>): Promise<{ dir: string; owedBeforeLock: boolean; scrubbed: boolean; after: ScrubState }> {
  const { vault, dir } = await vaults.fresh();
  vault.lock();
  writeFileSync(join(dir, SCRUB_STATE_FILE), state);
  const again = await vaults.reopen(dir);
  await during(again);
  const owedBeforeLock = existsSync(join(dir, SCRUB_OWED_FILE));
  const heard: boolean[] = [];
  const unwatch = watchScrubs(dir, (underWay) => heard.push(underWay));
  try {
    again.lock();
    await Vault.scrubbed(dir);
  } finally {
    unwatch();
  }
  return { dir, owedBeforeLock, scrubbed: heard.includes(true), after: readScrubState(dir) };
}

describe('any sealed row written over or deleted (the vault tells itself)', () => {
  const CONVERSATION = 'c'.repeat(32);
  const draft = (vault: Vault): void => {
    storeDraft(vault, CONVERSATION, 'meet me');
    storeDraft(vault, CONVERSATION, 'meet me at the station');
    storeDraft(vault, CONVERSATION, '');
  };

  it('a draft typed, changed and cleared on a day with no message owes the scrub at the next lock past the bound', async () => {
    // Within the bound: that lock owes none, but records that a row was replaced.
    const at = Date.now() - REPLACED_SECRETS_MAX_AGE_MS + 2 * HOUR;
    const first = await freshLockAfter(stateText(at, false), draft);
    expect({ owedBeforeLock: first.owedBeforeLock, scrubbed: first.scrubbed }).toEqual({ owedBeforeLock: false, scrubbed: false });
    // Before, drafts were no e2e namespace: replacedSince stayed false and no later lock scrubbed for them.
    expect(first.after).toEqual({ scrubbedAt: at, replacedSince: true });
    // A day later (the state file's time moved back by the bound, as the clock moving on would
    // make it): an unlock that writes nothing locks with the scrub.
    writeFileSync(join(first.dir, SCRUB_STATE_FILE), stateText(at - REPLACED_SECRETS_MAX_AGE_MS, true));
    const vault = await vaults.reopen(first.dir);
    const before = Date.now();
    const heard: boolean[] = [];
    const unwatch = watchScrubs(first.dir, (underWay) => heard.push(underWay));
    try {
      vault.lock();
      await Vault.scrubbed(first.dir);
    } finally {
      unwatch();
    }
    expect(heard).toContain(true);
    expect(readScrubState(first.dir)).toMatchObject({ replacedSince: false });
    expect(readScrubState(first.dir).scrubbedAt).toBeGreaterThanOrEqual(before);
  });

  it.each([
    ['a draft typed, changed and cleared', draft],
    ['an outbox item put and taken out (a request sent)', (vault: Vault) => {
      vault.outboxPut({ id: 'o'.repeat(32), createdAt: Date.now(), body: Buffer.from('sealed request') });
      vault.outboxDelete('o'.repeat(32));
    }],
    ['an account secret written over', (vault: Vault) => {
      vault.setAccountSecret('scrub-replaced-test', Buffer.from('first'));
      vault.setAccountSecret('scrub-replaced-test', Buffer.from('second'));
    }],
    ['a contact written over (a new nickname)', (vault: Vault) => {
      const contact = { id: 'k1', handle: 'alice', displayName: 'Alice', identityChanged: false, createdAt: 5 };
      vault.upsertContact(contact);
      vault.upsertContact({ ...contact, displayName: 'Al from the station' });
    }],
    ['a conversation record written over (its title)', (vault: Vault) => {
      const conversation = { id: 'c1', kind: 'direct' as const, contactId: 'k1', title: 'Alice', lastActivity: 10, unread: 1 };
      vault.upsertConversation(conversation);
      vault.upsertConversation({ ...conversation, title: 'Al from the station' });
    }],
    ['a contact written over inside a long transaction (an import merge)', async (vault: Vault) => {
      const contact = { id: 'k1', handle: 'alice', displayName: 'Alice', identityChanged: false, createdAt: 5 };
      vault.upsertContact(contact);
      await vault.longTransaction(async (write) => write((w) => w.upsertContact({ ...contact, displayName: 'Al' })));
    }],
    ['a kv entry written over inside a long transaction (an import merge)', async (vault: Vault) => {
      vault.kvSet('scrub-replaced-test', 'k', Buffer.from('first'));
      await vault.longTransaction(async (write) => write((w) => w.kvSet('scrub-replaced-test', 'k', Buffer.from('second'))));
    }],
  ])('%s owes the scrub at once when the last one is past the bound', async (_what, during) => {
    const { owedBeforeLock, scrubbed, after } = await freshLockAfter(stateText(Date.now() - REPLACED_SECRETS_MAX_AGE_MS - HOUR, false), during);
    expect({ owedBeforeLock, scrubbed, replacedSince: after.replacedSince }).toEqual({ owedBeforeLock: true, scrubbed: true, replacedSince: false });
  });

  it('an unlock whose replacement could not be recorded (the state file made a directory) still scrubs at its own lock once past the bound', async () => {
    const at = Date.now() - REPLACED_SECRETS_MAX_AGE_MS + 2 * HOUR;
    const { vault, dir } = await vaults.fresh();
    vault.lock();
    writeFileSync(join(dir, SCRUB_STATE_FILE), stateText(at, false));
    const again = await vaults.reopen(dir);
    // Read at the unlock; from now on no write of it can succeed (a full disk, as it were).
    rmSync(join(dir, SCRUB_STATE_FILE));
    mkdirSync(join(dir, SCRUB_STATE_FILE));
    draft(again);
    // Within the bound: nothing owed, and the record of the replacement failed.
    expect(existsSync(join(dir, SCRUB_OWED_FILE))).toBe(false);
    expect(lstatSync(join(dir, SCRUB_STATE_FILE)).isDirectory()).toBe(true);
    // The unlock lasts past the bound: its lock knows of the replacement from memory alone.
    vi.spyOn(Date, 'now').mockReturnValue(at + REPLACED_SECRETS_MAX_AGE_MS + HOUR);
    const heard: boolean[] = [];
    const unwatch = watchScrubs(dir, (underWay) => heard.push(underWay));
    try {
      again.lock();
      vi.restoreAllMocks();
      await Vault.scrubbed(dir);
    } finally {
      unwatch();
    }
    expect(heard).toContain(true);
  });

  it('a draft, a contact and a conversation only written (no older value) owe none, however old the last scrub', async () => {
    const { owedBeforeLock, scrubbed } = await freshLockAfter(stateText(Date.now() - 3 * REPLACED_SECRETS_MAX_AGE_MS, false), (vault) => {
      storeDraft(vault, CONVERSATION, 'first words');
      vault.upsertContact({ id: 'k1', handle: 'alice', displayName: 'Alice', identityChanged: false, createdAt: 5 });
      vault.upsertConversation({ id: 'c1', kind: 'direct', contactId: 'k1', title: 'Alice', lastActivity: 10, unread: 1 });
    });
    expect({ owedBeforeLock, scrubbed }).toEqual({ owedBeforeLock: false, scrubbed: false });
  });
});
