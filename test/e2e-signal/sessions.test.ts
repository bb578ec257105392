// Two (or three) parties on the in-memory kv: the libsignal flows and the trust policy.
// sessions-vault.test.ts runs the same flows on the real vault on disk.
import { describe, expect, it } from 'vitest';
import { E2e, type Envelope } from '../../main/e2e/index.ts';
import { BadBundle, BadMessage, DuplicateMessage, NoPendingIdentity, NoSession, UntrustedIdentity } from '../../shared/protocol/e2e-errors.ts';
import { MemoryVault, PreKeyDirectory, str, text } from './helpers.ts';

async function party(dir: PreKeyDirectory, name: string, now?: () => number): Promise<{ e2e: E2e; vault: MemoryVault }> {
  const vault = new MemoryVault();
  const { e2e, registration } = await E2e.register(vault, name, { oneTimeCount: 5, ...(now ? { now } : {}) });
  dir.register(name, registration.identity, registration.oneTimePreKeys);
  return { e2e, vault };
}

describe('E2E sessions (in-memory kv)', () => {
  it('exchanges messages both ways: PreKey path first, then the normal path', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    const bob = await party(dir, 'bob');

    expect(await alice.e2e.hasSession('bob')).toBe(false);
    await expect(alice.e2e.encryptFor('bob', text('x'))).rejects.toThrow(NoSession);
    await alice.e2e.startSession('bob', dir.fetchBundle('bob'));
    expect(await alice.e2e.hasSession('bob')).toBe(true);

    const first = await alice.e2e.encryptFor('bob', text('hi bob'));
    const second = await alice.e2e.encryptFor('bob', text('still there?'));
    expect(first.type).toBe('prekey');
    expect(second.type).toBe('prekey'); // until bob answers, alice keeps sending PreKey messages
    expect(str(await bob.e2e.decryptFrom('alice', first))).toBe('hi bob');
    expect(str(await bob.e2e.decryptFrom('alice', second))).toBe('still there?');

    const reply = await bob.e2e.encryptFor('alice', text('hi alice'));
    expect(reply.type).toBe('message');
    expect(str(await alice.e2e.decryptFrom('bob', reply))).toBe('hi alice');

    for (let i = 0; i < 5; i++) {
      const a = await alice.e2e.encryptFor('bob', text(`a${i}`));
      expect(a.type).toBe('message');
      expect(str(await bob.e2e.decryptFrom('alice', a))).toBe(`a${i}`);
      const b = await bob.e2e.encryptFor('alice', text(`b${i}`));
      expect(str(await alice.e2e.decryptFrom('bob', b))).toBe(`b${i}`);
    }
    // One-time prekey consumed locally exactly once.
    expect(bob.e2e.localPreKeyCounts()).toEqual({ preKeys: 4, kyberPreKeys: 4 });
  });

  it('content helpers: text and receipts through the session', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    const bob = await party(dir, 'bob');
    await alice.e2e.startSession('bob', dir.fetchBundle('bob'));
    const env = await alice.e2e.sendContent('bob', { v: 1, kind: 'text', id: 'm1', sentAt: 5, text: 'hello' });
    const got = await bob.e2e.receiveContent('alice', env, (c) => c);
    expect(got).toEqual({ v: 1, kind: 'text', id: 'm1', sentAt: 5, text: 'hello' });
    const receipt = await bob.e2e.sendContent('alice', { v: 1, kind: 'receipt', type: 'delivered', ids: ['m1'] });
    expect(await alice.e2e.receiveContent('bob', receipt, (c) => c.kind)).toBe('receipt');
  });

  it('safety numbers are 60 digits and equal on both sides', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    const bob = await party(dir, 'bob');
    await alice.e2e.startSession('bob', dir.fetchBundle('bob'));
    await bob.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('x')));
    const a = alice.e2e.safetyNumberWith('bob');
    const b = bob.e2e.safetyNumberWith('alice');
    expect(a).toMatch(/^\d{60}$/);
    expect(a).toBe(b);
    expect(alice.e2e.safetyNumberWith('nobody')).toBeUndefined();
  });

  it('out-of-order messages decrypt; duplicates are refused as DuplicateMessage', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    const bob = await party(dir, 'bob');
    await alice.e2e.startSession('bob', dir.fetchBundle('bob'));
    await bob.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('init')));
    await alice.e2e.decryptFrom('bob', await bob.e2e.encryptFor('alice', text('ack')));

    const sent: Envelope[] = [];
    for (let i = 0; i < 6; i++) sent.push(await alice.e2e.encryptFor('bob', text(`m${i}`)));
    for (const i of [3, 0, 5, 1, 4, 2]) expect(str(await bob.e2e.decryptFrom('alice', sent[i]!))).toBe(`m${i}`);
    for (const i of [0, 3, 5]) await expect(bob.e2e.decryptFrom('alice', sent[i]!)).rejects.toThrow(DuplicateMessage);
    // The session still works after the duplicates.
    expect(str(await bob.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('after'))))).toBe('after');
  });

  it('a duplicated PreKey message is refused as a duplicate, not re-processed', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    const bob = await party(dir, 'bob');
    await alice.e2e.startSession('bob', dir.fetchBundle('bob'));
    const first = await alice.e2e.encryptFor('bob', text('once'));
    await bob.e2e.decryptFrom('alice', first);
    await expect(bob.e2e.decryptFrom('alice', first)).rejects.toThrow(DuplicateMessage);
  });

  it('commits the session only after the store callback succeeded (redelivery after a crash)', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    const bob = await party(dir, 'bob');
    await alice.e2e.startSession('bob', dir.fetchBundle('bob'));
    const env = await alice.e2e.encryptFor('bob', text('durable'));
    await expect(
      bob.e2e.receive('alice', env, () => {
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    // Nothing was consumed: no session, prekeys intact, and the redelivery succeeds.
    expect(await bob.e2e.hasSession('alice')).toBe(false);
    expect(bob.e2e.localPreKeyCounts()).toEqual({ preKeys: 5, kyberPreKeys: 5 });
    const stored: string[] = [];
    await bob.e2e.receive('alice', env, (p) => stored.push(str(p)));
    expect(stored).toEqual(['durable']);
    expect(bob.e2e.localPreKeyCounts()).toEqual({ preKeys: 4, kyberPreKeys: 4 });
    await expect(bob.e2e.decryptFrom('alice', env)).rejects.toThrow(DuplicateMessage);
  });

  it('uses a one-time prekey at most once, even if a relay hands it out twice', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    const carol = await party(dir, 'carol');
    const bob = await party(dir, 'bob');
    const bundle = dir.peekBundle('bob');
    await alice.e2e.startSession('bob', bundle);
    await carol.e2e.startSession('bob', bundle);
    await bob.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('from alice')));
    expect(bob.e2e.localPreKeyCounts()).toEqual({ preKeys: 4, kyberPreKeys: 4 });
    await expect(bob.e2e.decryptFrom('carol', await carol.e2e.encryptFor('bob', text('from carol')))).rejects.toThrow(BadMessage);
    expect(await bob.e2e.hasSession('carol')).toBe(false);
  });

  it('when one-time keys run out, sessions use the signed + last-resort Kyber prekeys', async () => {
    const dir = new PreKeyDirectory();
    const bob = await party(dir, 'bob');
    for (let i = 0; i < 7; i++) {
      const sender = await party(dir, `s${i}`);
      await sender.e2e.startSession('bob', dir.fetchBundle('bob'));
      expect(str(await bob.e2e.decryptFrom(`s${i}`, await sender.e2e.encryptFor('bob', text(`n${i}`))))).toBe(`n${i}`);
    }
    expect(bob.e2e.localPreKeyCounts()).toEqual({ preKeys: 0, kyberPreKeys: 0 });
    expect(dir.counts('bob')).toEqual({ preKeys: 0, kyberPreKeys: 0 });
  });

  it('rejects tampered and malformed envelopes with BadMessage, and unknown senders with NoSession', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    const bob = await party(dir, 'bob');
    await alice.e2e.startSession('bob', dir.fetchBundle('bob'));
    await bob.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('init')));
    await alice.e2e.decryptFrom('bob', await bob.e2e.encryptFor('alice', text('ack')));
    const env = await alice.e2e.encryptFor('bob', text('secret'));
    const tampered = { ...env, body: env.body.slice() };
    tampered.body[tampered.body.length - 12]! ^= 1;
    await expect(bob.e2e.decryptFrom('alice', tampered)).rejects.toThrow(BadMessage);
    await expect(bob.e2e.decryptFrom('alice', { type: 'message', body: new Uint8Array([1, 2, 3]) })).rejects.toThrow(BadMessage);
    await expect(bob.e2e.decryptFrom('alice', new Uint8Array([9, 1, 2]))).rejects.toThrow(BadMessage);
    await expect(bob.e2e.decryptFrom('mallory', env)).rejects.toThrow(NoSession);
    // The untampered one still decrypts: a failed attempt changed nothing.
    expect(str(await bob.e2e.decryptFrom('alice', env))).toBe('secret');
  });

  it('refuses a bundle whose signed prekey signature does not verify', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    await party(dir, 'bob');
    const bundle = JSON.parse(new TextDecoder().decode(dir.fetchBundle('bob'))) as { signedPreKey: { signature: string } };
    const sig = Buffer.from(bundle.signedPreKey.signature, 'base64');
    sig[0]! ^= 1;
    bundle.signedPreKey.signature = sig.toString('base64');
    await expect(alice.e2e.startSession('bob', new TextEncoder().encode(JSON.stringify(bundle)))).rejects.toThrow(BadBundle);
    expect(await alice.e2e.hasSession('bob')).toBe(false);
  });

  it('a re-registered identity is detected, held, blocks sending until accepted', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    const bob = await party(dir, 'bob');
    await alice.e2e.startSession('bob', dir.fetchBundle('bob'));
    await bob.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('hi')));
    await alice.e2e.decryptFrom('bob', await bob.e2e.encryptFor('alice', text('hey')));
    const oldNumber = alice.e2e.safetyNumberWith('bob');

    // Bob reinstalls: fresh keys, same handle.
    const bob2 = await party(dir, 'bob');
    await bob2.e2e.startSession('alice', dir.fetchBundle('alice'));
    const fromNewBob = await bob2.e2e.encryptFor('alice', text('it is me, new phone'));

    const err = await alice.e2e.receive('bob', fromNewBob, () => 'stored').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UntrustedIdentity);
    expect((err as UntrustedIdentity).held).toBe(true);
    expect(Buffer.from((err as UntrustedIdentity).identityKey)).toEqual(Buffer.from(bob2.e2e.identityKey));
    // Redelivery of the same envelope is held once.
    await expect(alice.e2e.decryptFrom('bob', fromNewBob)).rejects.toThrow(UntrustedIdentity);
    expect(alice.e2e.heldCount('bob')).toBe(1);

    const status = alice.e2e.identityStatus('bob');
    expect(Buffer.from(status.trusted!)).toEqual(Buffer.from(bob.e2e.identityKey));
    expect(Buffer.from(status.pending!)).toEqual(Buffer.from(bob2.e2e.identityKey));
    expect(alice.e2e.safetyNumberWith('bob')).toBe(oldNumber);
    expect(alice.e2e.safetyNumberWith('bob', 'pending')).not.toBe(oldNumber);

    // Sending is blocked: on the old session and with a fresh bundle alike.
    await expect(alice.e2e.encryptFor('bob', text('blocked'))).rejects.toThrow(UntrustedIdentity);
    await expect(alice.e2e.startSession('bob', dir.fetchBundle('bob'))).rejects.toThrow(UntrustedIdentity);

    // Accepting a key other than the one shown is refused.
    await expect(alice.e2e.acceptIdentity('bob', bob.e2e.identityKey)).rejects.toThrow(NoPendingIdentity);
    await alice.e2e.acceptIdentity('bob', bob2.e2e.identityKey);
    await expect(alice.e2e.acceptIdentity('bob')).rejects.toThrow(NoPendingIdentity);
    expect(alice.e2e.identityStatus('bob').pending).toBeUndefined();

    const released = await alice.e2e.releaseHeld('bob', (p) => str(p));
    expect(released).toEqual([{ ok: true, value: 'it is me, new phone' }]);
    expect(alice.e2e.heldCount('bob')).toBe(0);

    const back = await alice.e2e.encryptFor('bob', text('welcome back'));
    expect(str(await bob2.e2e.decryptFrom('alice', back))).toBe('welcome back');
    expect(alice.e2e.safetyNumberWith('bob')).toBe(bob2.e2e.safetyNumberWith('alice'));
    expect(alice.e2e.safetyNumberWith('bob')).not.toBe(oldNumber);
  });

  it('an identity change seen first through a bundle blocks sending until accepted', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    const bob = await party(dir, 'bob');
    await alice.e2e.startSession('bob', dir.fetchBundle('bob'));
    await bob.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('hi')));
    const bob2 = await party(dir, 'bob');
    const err = await alice.e2e.startSession('bob', dir.fetchBundle('bob')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UntrustedIdentity);
    expect((err as UntrustedIdentity).held).toBe(false);
    await expect(alice.e2e.encryptFor('bob', text('no'))).rejects.toThrow(UntrustedIdentity);
    await alice.e2e.acceptIdentity('bob', bob2.e2e.identityKey);
    expect(await alice.e2e.hasSession('bob')).toBe(false); // old session dropped with the old key
    await alice.e2e.startSession('bob', dir.fetchBundle('bob'));
    expect(str(await bob2.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('ok now'))))).toBe('ok now');
  });

  it('rejecting a change discards held envelopes', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    const bob = await party(dir, 'bob');
    await bob.e2e.startSession('alice', dir.fetchBundle('alice'));
    await alice.e2e.decryptFrom('bob', await bob.e2e.encryptFor('alice', text('hi')));
    const impostor = await party(dir, 'bob');
    await impostor.e2e.startSession('alice', dir.fetchBundle('alice'));
    await expect(alice.e2e.decryptFrom('bob', await impostor.e2e.encryptFor('alice', text('send money')))).rejects.toThrow(UntrustedIdentity);
    await expect(alice.e2e.decryptFrom('bob', await impostor.e2e.encryptFor('alice', text('now')))).rejects.toThrow(UntrustedIdentity);
    expect(alice.e2e.heldCount('bob')).toBe(2);
    // Not accepted: releasing keeps them.
    expect(await alice.e2e.releaseHeld('bob', () => 'x')).toEqual([]);
    expect(alice.e2e.heldCount('bob')).toBe(2);
    expect(await alice.e2e.discardHeld('bob')).toBe(2);
    expect(await alice.e2e.discardHeld('bob')).toBe(0);
    expect(alice.e2e.heldCount('bob')).toBe(0);
    // The real bob still gets through.
    expect(str(await alice.e2e.decryptFrom('bob', await bob.e2e.encryptFor('alice', text('real'))))).toBe('real');
  });

  it('holds at most MAX_HELD_PER_CONTACT envelopes per changed contact', async () => {
    const { MAX_HELD_PER_CONTACT } = await import('../../main/e2e/index.ts');
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    const bob = await party(dir, 'bob');
    await bob.e2e.startSession('alice', dir.fetchBundle('alice'));
    await alice.e2e.decryptFrom('bob', await bob.e2e.encryptFor('alice', text('hi')));
    const flood = await party(dir, 'bob');
    await flood.e2e.startSession('alice', dir.fetchBundle('alice'));
    const held: boolean[] = [];
    for (let i = 0; i < MAX_HELD_PER_CONTACT + 3; i++) {
      const err = await alice.e2e.decryptFrom('bob', await flood.e2e.encryptFor('alice', text(`f${i}`))).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UntrustedIdentity);
      held.push((err as UntrustedIdentity).held);
    }
    expect(held.filter(Boolean)).toHaveLength(MAX_HELD_PER_CONTACT);
    expect(held.slice(-3)).toEqual([false, false, false]);
    expect(alice.e2e.heldCount('bob')).toBe(MAX_HELD_PER_CONTACT);
  });

  it('held content is released through the content codec after acceptance', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    const bob = await party(dir, 'bob');
    await bob.e2e.startSession('alice', dir.fetchBundle('alice'));
    await alice.e2e.decryptFrom('bob', await bob.e2e.encryptFor('alice', text('hi')));
    const bob2 = await party(dir, 'bob');
    await bob2.e2e.startSession('alice', dir.fetchBundle('alice'));
    const good = await bob2.e2e.sendContent('alice', { v: 1, kind: 'text', id: 'n1', sentAt: 9, text: 'new me' });
    const garbage = await bob2.e2e.encryptFor('alice', text('not content'));
    for (const env of [good, garbage]) await expect(alice.e2e.receiveContent('bob', env, (c) => c)).rejects.toThrow(UntrustedIdentity);
    await alice.e2e.acceptIdentity('bob');
    const released = await alice.e2e.releaseHeldContent('bob', (c) => (c.kind === 'text' ? c.text : c.kind));
    expect(released[0]).toEqual({ ok: true, value: 'new me' });
    expect(released[1]!.ok).toBe(false);
    expect(released[1]!.error!.code).toBe('BAD_CONTENT');
    expect(alice.e2e.heldCount('bob')).toBe(0);
  });

  it('replenishes one-time prekeys with fresh ids', async () => {
    const dir = new PreKeyDirectory();
    const bob = await party(dir, 'bob');
    const before = dir.fetchBundle('bob');
    const upload = await bob.e2e.generateOneTimePreKeys(10);
    expect(upload.preKeys).toHaveLength(10);
    expect(upload.kyberPreKeys).toHaveLength(10);
    expect(bob.e2e.localPreKeyCounts()).toEqual({ preKeys: 15, kyberPreKeys: 15 });
    const oldIds = JSON.parse(new TextDecoder().decode(before)) as { preKey: { id: number } };
    expect(upload.preKeys.map((k) => k.id)).not.toContain(oldIds.preKey.id);
    // The new keys work.
    const { encodeOneTimePreKeysUpload } = await import('../../shared/protocol/prekey-bundle.ts');
    dir.addOneTime('bob', encodeOneTimePreKeysUpload(upload));
    expect(dir.counts('bob')).toEqual({ preKeys: 14, kyberPreKeys: 14 });
  });

  it('rotates the signed prekey on schedule; old one works during grace, is deleted after', async () => {
    let now = 1_800_000_000_000;
    const clock = () => now;
    const dir = new PreKeyDirectory();
    const bob = await party(dir, 'bob', clock);
    const alice = await party(dir, 'alice', clock);
    const carol = await party(dir, 'carol', clock);
    const day = 24 * 3600 * 1000;

    expect((await bob.e2e.rotateSignedPreKeyIfDue()).rotated).toBe(false);
    const oldBundleForAlice = dir.fetchBundle('bob');
    const oldBundleForCarol = dir.fetchBundle('bob');
    now += 8 * day;
    const rotation = await bob.e2e.rotateSignedPreKeyIfDue();
    expect(rotation.rotated).toBe(true);
    const oldSpk = (JSON.parse(new TextDecoder().decode(oldBundleForAlice)) as { signedPreKey: { id: number } }).signedPreKey.id;
    expect(rotation.identity!.signedPreKey.id).not.toBe(oldSpk);
    dir.updateIdentity('bob', rotation.identity!);
    expect((await bob.e2e.currentIdentityUpload()).signedPreKey.id).toBe(rotation.identity!.signedPreKey.id);
    expect((await bob.e2e.rotateSignedPreKeyIfDue()).rotated).toBe(false);

    // Within grace: a session from the old bundle still works.
    await alice.e2e.startSession('bob', oldBundleForAlice);
    expect(str(await bob.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('old spk'))))).toBe('old spk');
    // (libsignal expires a session the peer never answered after 30 days; bob answers.)
    expect(str(await alice.e2e.decryptFrom('bob', await bob.e2e.encryptFor('alice', text('answer'))))).toBe('answer');

    // After grace the retired keys are gone: an old bundle can no longer open a session.
    now += 31 * day;
    const later = await bob.e2e.rotateSignedPreKeyIfDue();
    expect(later.removed).toBe(1);
    await carol.e2e.startSession('bob', oldBundleForCarol);
    await expect(bob.e2e.decryptFrom('carol', await carol.e2e.encryptFor('bob', text('too late')))).rejects.toThrow(BadMessage);
    // Established sessions are unaffected by rotation.
    expect(str(await bob.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('still fine'))))).toBe('still fine');
    // And the new bundle works.
    const dave = await party(dir, 'dave', clock);
    await dave.e2e.startSession('bob', dir.fetchBundle('bob'));
    expect(str(await bob.e2e.decryptFrom('dave', await dave.e2e.encryptFor('bob', text('new spk'))))).toBe('new spk');
  });

  it('serializes concurrent operations on one session', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    const bob = await party(dir, 'bob');
    await alice.e2e.startSession('bob', dir.fetchBundle('bob'));
    await bob.e2e.decryptFrom('alice', await alice.e2e.encryptFor('bob', text('init')));
    await alice.e2e.decryptFrom('bob', await bob.e2e.encryptFor('alice', text('ack')));
    const envs = await Promise.all(Array.from({ length: 20 }, (_, i) => alice.e2e.encryptFor('bob', text(`c${i}`))));
    const got = await Promise.all(envs.map((e) => bob.e2e.decryptFrom('alice', e)));
    expect(got.map(str)).toEqual(Array.from({ length: 20 }, (_, i) => `c${i}`));
  });

  it('register refuses a second identity; open needs one', async () => {
    const vault = new MemoryVault();
    const { E2e: E } = await import('../../main/e2e/index.ts');
    expect(() => E.open(vault)).toThrow(expect.objectContaining({ code: 'NOT_REGISTERED' }));
    await E.register(vault, 'zed', { oneTimeCount: 1 });
    await expect(E.register(vault, 'zed', { oneTimeCount: 1 })).rejects.toThrow(expect.objectContaining({ code: 'ALREADY_REGISTERED' }));
    expect(E.open(vault).localName).toBe('zed');
    await expect(E.register(new MemoryVault(), '')).rejects.toThrow(expect.objectContaining({ code: 'BAD_ADDRESS' }));
    // Two registrations at once on one vault: the second is refused, the first completes intact.
    const racing = new MemoryVault();
    const both = await Promise.allSettled([E.register(racing, 'r1', { oneTimeCount: 20 }), E.register(racing, 'r2', { oneTimeCount: 20 })]);
    expect(both.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect(E.open(racing).localName).toBe('r1');
    expect(E.open(racing).localPreKeyCounts()).toEqual({ preKeys: 20, kyberPreKeys: 20 });
    // An interrupted registration (identity written, meta not) is redone from scratch.
    const half = new MemoryVault();
    half.setAccountSecret('e2e-identity-key-pair', new Uint8Array(69));
    half.kvSet('e2e-prekey', '7', new Uint8Array([1]));
    const redone = await E.register(half, 'yan', { oneTimeCount: 2 });
    expect(half.kvKeys('e2e-prekey')).toHaveLength(2);
    expect(half.kvGet('e2e-prekey', '7')).toBeUndefined();
    expect(redone.e2e.identityKey).toHaveLength(33);
  });

  it('no per-contact kv key names a contact', async () => {
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    await party(dir, 'bob-the-contact');
    await alice.e2e.startSession('bob-the-contact', dir.fetchBundle('bob-the-contact'));
    for (const ns of ['e2e-session', 'e2e-identity']) {
      const keys = alice.vault.kvKeys(ns);
      expect(keys.length).toBe(1);
      expect(keys[0]).toMatch(/^[0-9a-f]{32}$/);
    }
  });
});

describe('envelope size budget', () => {
  it('the largest allowed content fits the relay envelope limit on the PreKey path', async () => {
    const { MAX_CONTENT_BYTES, MAX_ENVELOPE_BYTES, encodeContent, encodeEnvelope } = await import('../../main/e2e/index.ts');
    const dir = new PreKeyDirectory();
    const alice = await party(dir, 'alice');
    await party(dir, 'bob');
    await alice.e2e.startSession('bob', dir.fetchBundle('bob'));
    // Nearly the largest content that still encodes.
    const content = { v: 1, kind: 'text', id: 'big', sentAt: 1, text: 'é'.repeat(28_600) } as const;
    expect(encodeContent(content).length).toBeGreaterThan(MAX_CONTENT_BYTES - 160);
    const env = await alice.e2e.sendContent('bob', content);
    expect(env.type).toBe('prekey');
    expect(encodeEnvelope(env).length).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES);
  });
});
