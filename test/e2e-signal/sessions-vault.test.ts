// The E2E layer on the real vault: real SQLite files in temp profile directories, real Argon2
// (test parameters), lock/unlock re-opening everything from disk.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { decodeEnvelope, E2e, encodeEnvelope, type Envelope } from '../../main/e2e/index.ts';
import { DuplicateMessage, BadMessage, UntrustedIdentity } from '../../shared/protocol/e2e-errors.ts';
import { VaultLocked } from '../../main/vault/errors.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { PreKeyDirectory, str, text } from './helpers.ts';
import { PASSWORD, vaultParties, type VaultParty } from './vault-parties.ts';

const { register, tempDir, keep, unlockAgain } = vaultParties('e2e');
type Party = VaultParty;

/** Lock (drops keys, closes the database) and unlock from disk: nothing survives in memory. */
async function relock(p: Party): Promise<void> {
  p.vault.lock();
  await expect(p.e2e.encryptFor('anyone', text('x'))).rejects.toThrow(VaultLocked);
  p.vault = await unlockAgain(p.dir);
  p.e2e = E2e.open(p.vault);
}

function filesOf(dir: string): Buffer[] {
  return readdirSync(dir)
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map((f) => readFileSync(f));
}

describe('E2E on the real vault', () => {
  it('registers with 100 + 100 one-time prekeys sealed in the vault, yielding to the event loop', async () => {
    const relay = new PreKeyDirectory();
    const dir = tempDir('alice');
    const { vault } = await Vault.create(dir, PASSWORD, { kdf: TEST_KDF });
    keep(vault);
    let turns = 0;
    let counting = true;
    const tick = (): void => {
      turns++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const { e2e, registration } = await E2e.register(vault, 'alice');
    counting = false;
    expect(turns).toBeGreaterThan(10); // other work ran while 200 keys were made and sealed
    relay.register('alice', registration.identity, registration.oneTimePreKeys);
    const alice: Party = { name: 'alice', dir, vault, e2e };
    expect(alice.e2e.localPreKeyCounts()).toEqual({ preKeys: 100, kyberPreKeys: 100 });
    expect(relay.counts('alice')).toEqual({ preKeys: 100, kyberPreKeys: 100 });
    await relock(alice);
    expect(alice.e2e.localPreKeyCounts()).toEqual({ preKeys: 100, kyberPreKeys: 100 });
    expect(alice.e2e.localName).toBe('alice');
  });

  it('exchanges messages both ways (PreKey path, then normal path); sessions survive lock/unlock', async () => {
    const relay = new PreKeyDirectory();
    const alice = await register(relay, 'alice', 10);
    const bob = await register(relay, 'bob', 10);
    const identityBefore = Buffer.from(alice.e2e.identityKey);

    await alice.e2e.startSession('bob', relay.fetchBundle('bob'));
    const first = await alice.e2e.encryptFor('bob', text('hello bob'));
    expect(first.type).toBe('prekey');

    await relock(alice);
    await relock(bob);
    expect(Buffer.from(alice.e2e.identityKey)).toEqual(identityBefore);
    expect(await alice.e2e.hasSession('bob')).toBe(true);
    const second = await alice.e2e.encryptFor('bob', text('second, after relock'));
    expect(second.type).toBe('prekey');

    expect(str(await bob.e2e.decryptFrom('alice', first))).toBe('hello bob');
    expect(str(await bob.e2e.decryptFrom('alice', second))).toBe('second, after relock');
    await relock(bob);
    const reply = await bob.e2e.encryptFor('alice', text('hello alice'));
    expect(reply.type).toBe('message');
    expect(str(await alice.e2e.decryptFrom('bob', reply))).toBe('hello alice');

    for (let round = 0; round < 3; round++) {
      await relock(alice);
      await relock(bob);
      for (let i = 0; i < 10; i++) {
        const a = await alice.e2e.encryptFor('bob', text(`a${round}.${i}`));
        expect(a.type).toBe('message');
        expect(str(await bob.e2e.decryptFrom('alice', a))).toBe(`a${round}.${i}`);
        const b = await bob.e2e.encryptFor('alice', text(`b${round}.${i}`));
        expect(b.type).toBe('message');
        expect(str(await alice.e2e.decryptFrom('bob', b))).toBe(`b${round}.${i}`);
      }
    }
    expect(alice.e2e.safetyNumberWith('bob')).toMatch(/^\d{60}$/);
    expect(alice.e2e.safetyNumberWith('bob')).toBe(bob.e2e.safetyNumberWith('alice'));
  });

  it('out-of-order and duplicate messages, across a lock/unlock', async () => {
    const relay = new PreKeyDirectory();
    const alice = await register(relay, 'alice', 3);
    const bob = await register(relay, 'bob', 3);
    await alice.e2e.startSession('bob', relay.fetchBundle('bob'));
    const sent: Envelope[] = [];
    for (let i = 0; i < 8; i++) sent.push(await alice.e2e.encryptFor('bob', text(`m${i}`)));
    for (const i of [5, 0, 7]) expect(str(await bob.e2e.decryptFrom('alice', sent[i]!))).toBe(`m${i}`);
    await relock(bob);
    for (const i of [5, 0, 7]) await expect(bob.e2e.decryptFrom('alice', sent[i]!)).rejects.toThrow(DuplicateMessage);
    for (const i of [3, 1, 6, 2, 4]) expect(str(await bob.e2e.decryptFrom('alice', sent[i]!))).toBe(`m${i}`);
    await expect(bob.e2e.decryptFrom('alice', sent[4]!)).rejects.toThrow(DuplicateMessage);
  });

  it('uses each one-time prekey at most once, also after reopening', async () => {
    const relay = new PreKeyDirectory();
    const alice = await register(relay, 'alice', 3);
    const carol = await register(relay, 'carol', 3);
    const bob = await register(relay, 'bob', 3);
    const reused = relay.peekBundle('bob'); // a relay that hands the same keys out twice
    await alice.e2e.startSession('bob', reused);
    await carol.e2e.startSession('bob', reused);
    const fromAlice = await alice.e2e.encryptFor('bob', text('a'));
    const fromCarol = await carol.e2e.encryptFor('bob', text('c'));
    expect(str(await bob.e2e.decryptFrom('alice', fromAlice))).toBe('a');
    await relock(bob);
    expect(bob.e2e.localPreKeyCounts()).toEqual({ preKeys: 2, kyberPreKeys: 2 });
    await expect(bob.e2e.decryptFrom('carol', fromCarol)).rejects.toThrow(BadMessage);
  });

  it('a receive whose store fails leaves the session untouched on disk', async () => {
    const relay = new PreKeyDirectory();
    const alice = await register(relay, 'alice', 3);
    const bob = await register(relay, 'bob', 3);
    await alice.e2e.startSession('bob', relay.fetchBundle('bob'));
    const env = await alice.e2e.encryptFor('bob', text('survives a crash'));
    await expect(
      bob.e2e.receive('alice', env, () => {
        throw new Error('crash before commit');
      }),
    ).rejects.toThrow('crash before commit');
    await relock(bob);
    expect(bob.e2e.localPreKeyCounts()).toEqual({ preKeys: 3, kyberPreKeys: 3 });
    const conversationId = 'conv-alice';
    const stored = await bob.e2e.receiveContent('alice', await alice.e2e.sendContent('bob', { v: 1, kind: 'text', id: 'm2', sentAt: 1, text: 'content' }), (c) => {
      if (c.kind !== 'text') throw new Error('expected text');
      return bob.vault.appendMessages([{ id: c.id, conversationId, direction: 'in', sender: 'alice', sentAt: c.sentAt, text: c.text, state: 'received' }]);
    });
    expect(stored[0]!.text).toBe('content');
    expect(str(await bob.e2e.decryptFrom('alice', env))).toBe('survives a crash');
  });

  it("a synchronous store's writes and the session change commit as one transaction: a store that fails keeps neither", async () => {
    const relay = new PreKeyDirectory();
    const alice = await register(relay, 'alice', 3);
    const bob = await register(relay, 'bob', 3);
    await alice.e2e.startSession('bob', relay.fetchBundle('bob'));
    const conversationId = 'conv-alice';
    const storeMessage = (id: string, t: string) =>
      bob.vault.appendMessages([{ id, conversationId, direction: 'in', sender: 'alice', sentAt: 1, text: t, state: 'received' }]);
    const first = await alice.e2e.sendContent('bob', { v: 1, kind: 'text', id: 'm1', sentAt: 1, text: 'first' });
    await expect(
      bob.e2e.receiveContent('alice', first, (c) => {
        if (c.kind !== 'text') throw new Error('expected text');
        storeMessage(c.id, c.text);
        throw new Error('crash after the message was written');
      }),
    ).rejects.toThrow('crash after the message was written');
    // Rolled back with the (uncommitted) session change, not left behind on its own.
    expect(bob.vault.getMessage('m1')).toBeUndefined();
    await relock(bob);
    expect(bob.vault.getMessage('m1')).toBeUndefined();
    // The redelivery decrypts again and stores it; the session change is committed with it.
    await bob.e2e.receiveContent('alice', first, (c) => (c.kind === 'text' ? storeMessage(c.id, c.text) : []));
    expect(bob.vault.getMessage('m1')?.text).toBe('first');
    await expect(bob.e2e.decryptFrom('alice', first)).rejects.toThrow(DuplicateMessage);
    // An async store still works: the session change waits for its promise.
    const second = await alice.e2e.sendContent('bob', { v: 1, kind: 'text', id: 'm2', sentAt: 2, text: 'second' });
    await bob.e2e.receiveContent('alice', second, async (c) => {
      await new Promise((r) => setTimeout(r, 1));
      return c.kind === 'text' ? storeMessage(c.id, c.text) : [];
    });
    await relock(bob);
    expect(bob.vault.getMessage('m2')?.text).toBe('second');
    await expect(bob.e2e.decryptFrom('alice', second)).rejects.toThrow(DuplicateMessage);
  });

  it('a re-registered identity is detected, survives lock/unlock as pending, and blocks until accepted', async () => {
    const relay = new PreKeyDirectory();
    const alice = await register(relay, 'alice', 5);
    const bob = await register(relay, 'bob', 5);
    await alice.e2e.startSession('bob', relay.fetchBundle('bob'));
    await bob.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('hi')));
    await alice.e2e.decryptFrom('bob', await bob.e2e.encryptFor('alice', text('hi back')));
    const before = alice.e2e.safetyNumberWith('bob');

    const bob2 = await register(relay, 'bob', 5); // same handle, fresh keys
    await bob2.e2e.startSession('alice', relay.fetchBundle('alice'));
    const env = await bob2.e2e.encryptFor('alice', text('new keys, same bob?'));
    const err = await alice.e2e.decryptFrom('bob', env).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UntrustedIdentity);
    expect((err as UntrustedIdentity).held).toBe(true);

    await relock(alice);
    expect(alice.e2e.heldCount('bob')).toBe(1);
    expect(Buffer.from(alice.e2e.identityStatus('bob').pending!)).toEqual(Buffer.from(bob2.e2e.identityKey));
    await expect(alice.e2e.encryptFor('bob', text('must not go out'))).rejects.toThrow(UntrustedIdentity);
    expect(alice.e2e.safetyNumberWith('bob')).toBe(before);
    const shown = alice.e2e.safetyNumberWith('bob', 'pending');
    expect(shown).toBe(bob2.e2e.safetyNumberWith('alice'));

    await alice.e2e.acceptIdentity('bob', (err as UntrustedIdentity).identityKey);
    const released = await alice.e2e.releaseHeld('bob', (p) => str(p));
    expect(released).toEqual([{ ok: true, value: 'new keys, same bob?' }]);
    await relock(alice);
    expect(str(await bob2.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('accepted'))))).toBe('accepted');
    expect(alice.e2e.safetyNumberWith('bob')).toBe(shown);
  });

  it('no plaintext, handle or key material of a contact appears in the profile files', async () => {
    const relay = new PreKeyDirectory();
    const alice = await register(relay, 'alice', 3);
    const bob = await register(relay, 'bob-with-a-distinctive-handle', 3);
    await alice.e2e.startSession('bob-with-a-distinctive-handle', relay.fetchBundle('bob-with-a-distinctive-handle'));
    const secret = 'the plaintext that must never reach disk';
    const env = await alice.e2e.encryptFor('bob-with-a-distinctive-handle', text(secret));
    await bob.e2e.decryptFrom('alice', env);
    const bobIdentity = Buffer.from(bob.e2e.identityKey);
    alice.vault.lock();
    bob.vault.lock();
    for (const dir of [alice.dir, bob.dir]) {
      // At rest: bob's lock owes the scrub (the prekey his decrypt used), which rewrites vault.db and removes its WAL.
      await Vault.scrubbed(dir);
      for (const file of filesOf(dir)) {
        for (const needle of [secret, 'bob-with-a-distinctive-handle', 'alice']) {
          expect(file.includes(Buffer.from(needle, 'utf8'))).toBe(false);
          expect(file.includes(Buffer.from(needle, 'utf16le'))).toBe(false);
        }
        expect(file.includes(bobIdentity.subarray(1))).toBe(false);
      }
    }
  });
});

describe('vault errors inside libsignal callbacks', () => {
  it('a locked vault surfaces as VaultLocked (never as BadMessage, which would be acked and lost)', async () => {
    const relay = new PreKeyDirectory();
    const alice = await register(relay, 'alice', 3);
    const bob = await register(relay, 'bob', 3);
    await alice.e2e.startSession('bob', relay.fetchBundle('bob'));
    const first = await alice.e2e.encryptFor('bob', text('first'));
    await bob.e2e.hasSession('alice'); // warm caches
    expect(str(await bob.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('warm'))))).toBe('warm');
    const later = await alice.e2e.encryptFor('bob', text('later'));
    const reply = await bob.e2e.encryptFor('alice', text('reply'));
    bob.vault.lock();
    alice.vault.lock();
    await expect(bob.e2e.decryptFrom('alice', first)).rejects.toThrow(VaultLocked);
    await expect(bob.e2e.decryptFrom('alice', later)).rejects.toThrow(VaultLocked);
    await expect(alice.e2e.decryptFrom('bob', reply)).rejects.toThrow(VaultLocked);
    await expect(alice.e2e.encryptFor('bob', text('x'))).rejects.toThrow(VaultLocked);
    await expect(alice.e2e.startSession('bob', relay.fetchBundle('bob'))).rejects.toThrow(VaultLocked);
    await relock(bob);
    expect(str(await bob.e2e.decryptFrom('alice', later))).toBe('later');
  });
});

describe('process restarts', () => {
  const repo = fileURLToPath(new URL('../..', import.meta.url));
  const child = fileURLToPath(new URL('./fixtures/party-process.ts', import.meta.url));
  const run = (...args: string[]): Record<string, string> => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', child, ...args], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
    if (res.status !== 0) throw new Error(`child failed (${res.status}): ${res.stderr}`);
    return JSON.parse(res.stdout) as Record<string, string>;
  };

  it('sessions continue in a new process, both ways, PreKey path then normal path', async () => {
    const relay = new PreKeyDirectory();
    const alice = await register(relay, 'alice', 3);
    const bob = await register(relay, 'bob', 3);
    await alice.e2e.startSession('bob', relay.fetchBundle('bob'));
    const first = await alice.e2e.encryptFor('bob', text('before restart'));
    expect(first.type).toBe('prekey');
    alice.vault.lock();
    bob.vault.lock();
    const work = tempDir('proc');

    writeFileSync(join(work, 'm1'), encodeEnvelope(first));
    expect(run(bob.dir, PASSWORD, 'decrypt', 'alice', join(work, 'm1'))).toEqual({ text: 'before restart' });
    expect(run(bob.dir, PASSWORD, 'encrypt', 'alice', 'reply from a new process', join(work, 'm2'))).toEqual({ type: 'message' });
    expect(run(alice.dir, PASSWORD, 'decrypt', 'bob', join(work, 'm2'))).toEqual({ text: 'reply from a new process' });
    expect(run(alice.dir, PASSWORD, 'encrypt', 'bob', 'normal path now', join(work, 'm3'))).toEqual({ type: 'message' });
    // A redelivery to a fresh process is still a duplicate.
    expect(() => run(bob.dir, PASSWORD, 'decrypt', 'alice', join(work, 'm1'))).toThrow(/DuplicateMessage|already received/);

    bob.vault = await unlockAgain(bob.dir);
    bob.e2e = E2e.open(bob.vault);
    expect(str(await bob.e2e.decryptFrom('alice', decodeEnvelope(new Uint8Array(readFileSync(join(work, 'm3'))))))).toBe('normal path now');
  });
});
