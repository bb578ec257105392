// The group inbox's order survives a restart with the clock set back (review s27 R4): changes for
// groups not held yet wait, a bounded number per sender, and the bound drops the oldest. Their
// keys' time part came from the clock, restarted at each launch, so after the clock was set
// back the new changes sorted before the older ones and the bound dropped the NEWEST; one stored
// while the clock was far ahead stayed young (and lifted every later key) until the clock
// caught up. Real vault
// (locked and unlocked again between the two runs, a new GroupMembership as a new process makes),
// changes signed with real Ed25519 keys; the clock is Date.now held by the test.
import { generateKeyPairSync, randomBytes, sign as ed25519Sign, verify as ed25519Verify } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { E2e } from '../../main/e2e/index.ts';
import { GroupMembership, MAX_EARLY_PER_SENDER, WAIT_MS } from '../../main/messenger/group-membership.ts';
import { sign, type SignedChange } from '../../main/messenger/group-state.ts';
import { INBOX, type GroupDeps } from '../../main/messenger/group-store.ts';
import type { Vault } from '../../main/vault/index.ts';
import { testVaults } from '../vault/helpers.ts';

const HOUR = 3_600_000;
const vaults = testVaults();
afterEach(async () => {
  vi.restoreAllMocks();
  await vaults.cleanup();
});

const unused = (): never => {
  throw new Error('not used by an early change');
};

const carol = generateKeyPairSync('ed25519');
/** The one e2e part a drain uses here (an expired change is offered as a join, and refused): carol's key checks her signatures. */
const e2e = { groups: { verify: (author: string, message: Uint8Array, sig: Uint8Array) => author === 'gir_carol' && ed25519Verify(null, message, carol.publicKey, sig) } } as unknown as E2e;

/** What the inbox's storing and draining of early changes use: the vault and the activity gate. */
function deps(vault: Vault): GroupDeps {
  return {
    vault: () => vault,
    e2e: () => e2e,
    self: () => 'gir_bob',
    connection: unused,
    link: () => undefined,
    activity: (fn) => fn(),
    enqueue: unused,
    withIdKey: unused,
    stored: () => undefined,
  };
}

/** carol's change for a group bob does not hold (its parent made up): it waits. */
function early(i: number): { groupId: string; change: SignedChange } {
  const groupId = randomBytes(16).toString('hex');
  const change = sign({ v: 1, groupId, revision: 1, parent: randomBytes(32).toString('hex'), author: 'gir_carol', op: { type: 'rename', name: `Made up ${i}` } }, (m) => ed25519Sign(null, m, carol.privateKey));
  return { groupId, change };
}

/** The group ids of the changes waiting in the inbox, in key order (the drain's order). */
function waiting(vault: Vault): string[] {
  return vault
    .kvKeys(INBOX)
    .filter((k) => !k.startsWith('chain-'))
    .sort()
    .map((k) => (JSON.parse(Buffer.from(vault.kvGet(INBOX, k)!).toString('utf8')) as { change: SignedChange }).change.body.groupId);
}

function store(membership: GroupMembership, change: SignedChange): void {
  void membership.storeInbound('gir_carol', { v: 1, kind: 'group-change', change: change as unknown as Record<string, unknown> });
}

describe('the group inbox across a restart', () => {
  it(`keeps the newest ${MAX_EARLY_PER_SENDER} of a sender's early changes when the clock was set back across a restart, in arrival order`, async () => {
    const { vault, dir } = await vaults.fresh();
    const now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now);
    const sent: string[] = [];
    const before = new GroupMembership(deps(vault));
    for (let i = 0; i < MAX_EARLY_PER_SENDER; i++) {
      const { groupId, change } = early(i);
      sent.push(groupId);
      store(before, change);
    }
    before.drain();
    expect(waiting(vault)).toEqual(sent);

    // A restart, and the clock an hour behind where it was.
    vault.lock();
    await vaults.reopen(dir).then((again) => {
      clock.mockReturnValue(now - HOUR);
      const after = new GroupMembership(deps(again));
      for (let i = MAX_EARLY_PER_SENDER; i < MAX_EARLY_PER_SENDER + 4; i++) {
        const { groupId, change } = early(i);
        sent.push(groupId);
        store(after, change);
      }
      after.drain();
      // Before the fix the four new keys sorted first and were the ones dropped: sent.slice(0, 32).
      expect(waiting(again)).toEqual(sent.slice(4));

      // The keys still tell each change's age: a week after the first run's time, all are gone.
      clock.mockReturnValue(now + WAIT_MS + HOUR);
      after.drain();
      expect(waiting(again)).toEqual([]);
    });
  });

  it('a change stored while the clock was a year ahead: after a restart with the clock right, it stays first and still goes a week later', async () => {
    const { vault, dir } = await vaults.fresh();
    const now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now + 365 * 86_400_000);
    const ahead = early(0);
    const before = new GroupMembership(deps(vault));
    store(before, ahead.change);
    before.drain();
    expect(waiting(vault)).toEqual([ahead.groupId]);

    vault.lock();
    const again = await vaults.reopen(dir);
    clock.mockReturnValue(now);
    const after = new GroupMembership(deps(again));
    const later = early(1);
    store(after, later.change);
    after.drain();
    expect(waiting(again)).toEqual([ahead.groupId, later.groupId]);
    // Its key was moved to now: before, its time a year ahead kept it (and every key put above it) young for a year.
    clock.mockReturnValue(now + WAIT_MS + HOUR);
    after.drain();
    expect(waiting(again)).toEqual([]);
  });
});
