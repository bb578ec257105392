// Sender key chains for groups not held yet wait a few per sender (group-membership.ts), and now
// for CHAIN_WAIT_MS at most: before, chains for groups that never came (made-up ids) kept their
// sender's places for ever, so that sender's genuine early chain was refused, and their sender
// key records stayed. Real vaults and real libsignal (bob and mallory registered on their own
// profiles); mallory's distribution messages reach bob's group inbox as his 1:1 receive hands
// them; the clock is Date.now held by the test.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NS } from '../../main/e2e/kv.ts';
import { newDistributionId } from '../../main/e2e/sender-keys.ts';
import { CHAIN_WAIT_MS, GroupMembership, MAX_CHAINS_WAITING_PER_SENDER } from '../../main/messenger/group-membership.ts';
import { INBOX, type GroupDeps } from '../../main/messenger/group-store.ts';
import { PreKeyDirectory } from '../e2e-signal/helpers.ts';
import { vaultParties, type VaultParty } from '../e2e-signal/vault-parties.ts';

const HOUR = 3_600_000;
const parties = vaultParties('group-chains-waiting');
afterEach(() => {
  vi.restoreAllMocks();
});

const unused = (): never => {
  throw new Error('not used by a waiting chain');
};

function deps(p: VaultParty): GroupDeps {
  return {
    vault: () => p.vault,
    e2e: () => p.e2e,
    self: () => p.name,
    connection: unused,
    link: () => undefined,
    activity: (fn) => fn(),
    enqueue: unused,
    withIdKey: unused,
    stored: () => undefined,
  };
}

describe('sender key chains waiting for their group', () => {
  it(`wait ${MAX_CHAINS_WAITING_PER_SENDER} per sender and ${CHAIN_WAIT_MS / 86_400_000} days at most; then they give their places, their sender key records with them`, { timeout: 60_000 }, async () => {
    const relay = new PreKeyDirectory();
    const bob = await parties.register(relay, 'bob', 1);
    const mallory = await parties.register(relay, 'mallory', 1);
    const inbox = new GroupMembership(deps(bob));
    /** mallory's chain for a made-up group, handed to bob's inbox; returns the group id. */
    const chain = async (): Promise<string> => {
      const groupId = randomBytes(16).toString('hex');
      const distribution = Buffer.from(await mallory.e2e.groups.distribution(newDistributionId())).toString('base64');
      await inbox.storeInbound('mallory', { v: 1, kind: 'sender-key', groupId, distribution });
      return groupId;
    };
    const waiting = (): string[] =>
      bob.vault
        .kvKeys(INBOX)
        .filter((k) => k.startsWith('chain-'))
        .map((k) => k.slice('chain-'.length, -'-mallory'.length))
        .sort();
    const records = (): number => bob.vault.kvKeys(NS.senderKey).length;
    /** The records left once bob's e2e queue (one operation at a time, in order) has run the forgets queued before. */
    const recordsAfterQueue = async (): Promise<number> => {
      await bob.e2e.groups.forget('nobody', newDistributionId());
      return records();
    };

    const now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now);
    const first: string[] = [];
    for (let i = 0; i < MAX_CHAINS_WAITING_PER_SENDER; i++) first.push(await chain());
    expect(waiting()).toEqual([...first].sort());
    expect(records()).toBe(MAX_CHAINS_WAITING_PER_SENDER);

    // An hour later the sender's places are still taken: one more is refused (unprocessed).
    clock.mockReturnValue(now + HOUR);
    await chain();
    expect(waiting()).toEqual([...first].sort());
    expect(records()).toBe(MAX_CHAINS_WAITING_PER_SENDER);

    // Past the age the next one is kept: the old ones went, with their records (forgotten on
    // bob's e2e queue, after the receive). Before, it was refused and all eight stayed.
    clock.mockReturnValue(now + CHAIN_WAIT_MS + HOUR);
    const late = await chain();
    expect(waiting()).toEqual([late]);
    expect(await recordsAfterQueue()).toBe(1);

    // A chain kept by older code (its distribution id alone, no time) is given one at the next
    // drain's look, and so waits its age from then; the drain drops the one past its age.
    const legacy = randomBytes(16).toString('hex');
    bob.vault.kvSet(INBOX, `chain-${legacy}-mallory`, Buffer.from(newDistributionId(), 'utf8'));
    clock.mockReturnValue(now + 2 * CHAIN_WAIT_MS + 2 * HOUR);
    inbox.drain();
    expect(waiting()).toEqual([legacy]);
    const kept = JSON.parse(Buffer.from(bob.vault.kvGet(INBOX, `chain-${legacy}-mallory`)!).toString('utf8')) as { at: number };
    expect(kept.at).toBe(now + 2 * CHAIN_WAIT_MS + 2 * HOUR);
    expect(await recordsAfterQueue()).toBe(0);

    // One stored while the clock was a year ahead waits its week from when the clock is right again.
    clock.mockReturnValue(now + 400 * 86_400_000);
    const ahead = await chain();
    const back = now + 2 * CHAIN_WAIT_MS + 5 * HOUR;
    clock.mockReturnValue(back);
    inbox.drain();
    expect(waiting()).toEqual([ahead, legacy].sort());
    clock.mockReturnValue(back + CHAIN_WAIT_MS + HOUR);
    inbox.drain();
    // Before, it kept a place until the clock passed its time and a week (some 400 days).
    expect(waiting()).toEqual([]);
    expect(await recordsAfterQueue()).toBe(0);
  });
});
