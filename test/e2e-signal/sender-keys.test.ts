// Sender keys (main/e2e/sender-keys.ts) with real libsignal: a distribution over the 1:1 session
// lets members decrypt the one ciphertext; a new distribution id after a removal is a chain the
// removed member never gets; a joiner holds only the current chain; replays and forgeries fail.
import { describe, expect, it } from 'vitest';
import { E2e } from '../../main/e2e/index.ts';
import { BadMessage, DuplicateMessage, NoSession } from '../../shared/protocol/e2e-errors.ts';
import { isSenderKeyEnvelope, newDistributionId } from '../../main/e2e/sender-keys.ts';
import { MemoryVault, PreKeyDirectory, str, text } from './helpers.ts';

async function party(dir: PreKeyDirectory, name: string): Promise<E2e> {
  const { e2e, registration } = await E2e.register(new MemoryVault(), name, { oneTimeCount: 3 });
  dir.register(name, registration.identity, registration.oneTimePreKeys);
  return e2e;
}

/** alice hands her chain `dist` to `to` over their 1:1 session, as the messenger does (a 'sender-key' content). */
async function distribute(dir: PreKeyDirectory, alice: E2e, to: E2e, toName: string, dist: string): Promise<void> {
  if (!(await alice.hasSession(toName))) await alice.startSession(toName, dir.fetchBundle(toName));
  const d = await alice.groups.distribution(dist);
  const env = await alice.sendContent(toName, { v: 1, kind: 'sender-key', groupId: 'a'.repeat(32), distribution: Buffer.from(d).toString('base64') });
  const got = await to.receiveContent('alice', env, async (c) => (c.kind === 'sender-key' ? to.groups.processDistributionInReceive('alice', Buffer.from(c.distribution, 'base64')) : undefined));
  expect(got).toBe(dist);
}

const read = (e: E2e, env: Uint8Array): Promise<string> => e.groups.receive('alice', env, (p) => str(p));

describe('sender keys', () => {
  it('one ciphertext for all; removal rotates the chain; a joiner reads only what follows', async () => {
    const dir = new PreKeyDirectory();
    const [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((n) => party(dir, n)));
    const first = newDistributionId();
    await distribute(dir, alice!, bob!, 'bob', first);
    await distribute(dir, alice!, carol!, 'carol', first);
    const m1 = await alice!.groups.encrypt(first, text('hello group'));
    expect(isSenderKeyEnvelope(m1)).toBe(true);
    expect(alice!.groups.distributionIdOf(m1)).toBe(first);
    expect(await read(bob!, m1)).toBe('hello group');
    expect(await read(carol!, m1)).toBe('hello group');
    await expect(read(bob!, m1)).rejects.toThrow(DuplicateMessage);
    // dave was never given the chain: nothing to decrypt with.
    await expect(read(dave!, m1)).rejects.toThrow(NoSession);

    // carol is removed: alice starts a new chain and gives it to bob (and the joiner dave) only.
    const second = newDistributionId();
    await distribute(dir, alice!, bob!, 'bob', second);
    await distribute(dir, alice!, dave!, 'dave', second);
    const m2 = await alice!.groups.encrypt(second, text('after the removal'));
    expect(await read(bob!, m2)).toBe('after the removal');
    expect(await read(dave!, m2)).toBe('after the removal');
    await expect(read(carol!, m2)).rejects.toThrow(NoSession);
    // The joiner still cannot read what came before it joined.
    const m1again = await alice!.groups.encrypt(first, text('old chain'));
    await expect(read(dave!, m1again)).rejects.toThrow(NoSession);
  });

  it('refuses a tampered ciphertext and a message claiming another sender', async () => {
    const dir = new PreKeyDirectory();
    const [alice, bob] = await Promise.all(['alice', 'bob'].map((n) => party(dir, n)));
    const dist = newDistributionId();
    await distribute(dir, alice!, bob!, 'bob', dist);
    const m = await alice!.groups.encrypt(dist, text('x'));
    const tampered = m.slice();
    tampered[tampered.length - 70]! ^= 1;
    await expect(read(bob!, tampered)).rejects.toThrow(BadMessage);
    // The relay says it is from carol: bob holds no chain of carol's under that id.
    await expect(bob!.groups.receive('carol', m, (p) => p)).rejects.toThrow(NoSession);
    expect(await read(bob!, m)).toBe('x');
  });

  it('signs with the identity key and verifies with the trusted one only', async () => {
    const dir = new PreKeyDirectory();
    const [alice, bob] = await Promise.all(['alice', 'bob'].map((n) => party(dir, n)));
    await distribute(dir, alice!, bob!, 'bob', newDistributionId());
    const msg = text('change');
    const sig = alice!.groups.sign(msg);
    expect(bob!.groups.verify('alice', msg, sig)).toBe(true);
    expect(alice!.groups.verify('alice', msg, sig)).toBe(true);
    expect(bob!.groups.verify('alice', text('other'), sig)).toBe(false);
    expect(bob!.groups.verify('carol', msg, sig)).toBe(false);
  });
});
