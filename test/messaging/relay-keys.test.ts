// The relay's prekey methods on a real relay child process: uploads are validated (forged
// signatures refused), each one-time key is handed out at most once, then the last-resort
// Kyber key is used; fetches are rate-limited per caller; a new identity for the same device
// drops its old one-time keys; everything survives a SIGKILL and restart.
import { afterAll, describe, expect, it } from 'vitest';
import {
  chunkOneTimePreKeys,
  decodePreKeyBundle,
  E2e,
  encodeIdentityUpload,
  encodeOneTimePreKeysUpload,
  type IdentityUpload,
} from '../../main/e2e/index.ts';
import { RelayKeys } from '../../main/net/keys.ts';
import { MemoryPermanentKeyStore } from '../../main/net/stores.ts';
import { RpcError } from '../../shared/protocol/errors.ts';
import { RelayProcess } from '../chaos/relay-process.ts';
import { makeClient, waitForState, type TestClient } from '../net/harness.ts';
import { MemoryVault } from '../e2e-signal/helpers.ts';
import { startRelay, tempDir } from './helpers.ts';

const dir = tempDir('relay-keys');
const procs: RelayProcess[] = [];
const clients: TestClient[] = [];

afterAll(async () => {
  for (const c of clients) await c.client.stop();
  for (const p of procs) await p.kill();
  dir.cleanup();
});

async function connected(descriptor: RelayProcess['descriptor'], handle: string, keyStore = new MemoryPermanentKeyStore()) {
  const c = await makeClient(descriptor, { keyStore });
  clients.push(c);
  await c.client.start();
  await waitForState(c.client, 'ready');
  await c.mailbox.register(handle);
  return { ...c, keys: new RelayKeys(c.client), keyStore };
}

async function rpcCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RpcError) return e.code;
    throw e;
  }
  return 'OK';
}

describe('relay prekey methods', () => {
  it('validate uploads, hand out each one-time key once, rate-limit fetches, survive a restart', async () => {
    const started = await startRelay(dir.dir);
    procs.push(started.relay);
    const desc = started.relay.descriptor;
    const carol = await connected(desc, 'carol');
    const dave = await connected(desc, 'dave');

    const { e2e, registration } = await E2e.register(new MemoryVault(), 'carol', { oneTimeCount: 5 });
    const identity = registration.identity;

    // Nothing yet.
    expect(await carol.keys.count()).toMatchObject({ preKeys: 0, kyberPreKeys: 0, hasIdentity: false });
    expect(await rpcCode(dave.keys.fetch('carol'))).toBe('NOT_FOUND');
    expect(await rpcCode(carol.keys.uploadOneTime(encodeOneTimePreKeysUpload(registration.oneTimePreKeys)))).toBe('NOT_FOUND');

    // A forged signed prekey signature is refused and nothing is stored.
    const forged: IdentityUpload = { ...identity, signedPreKey: { ...identity.signedPreKey, signature: new Uint8Array(64).fill(7) } };
    expect(await rpcCode(carol.keys.uploadIdentity(encodeIdentityUpload(forged)))).toBe('BAD_REQUEST');
    expect(await rpcCode(carol.keys.uploadIdentity(new TextEncoder().encode('{"v":1}')))).toBe('BAD_REQUEST');
    expect((await carol.keys.count()).hasIdentity).toBe(false);

    expect(await carol.keys.uploadIdentity(encodeIdentityUpload(identity))).toEqual({ reRegistered: false });
    // A Kyber one-time key signed by someone else is refused as a whole upload.
    const other = await E2e.register(new MemoryVault(), 'mallory', { oneTimeCount: 1 });
    const mixed = { ...registration.oneTimePreKeys, kyberPreKeys: [...registration.oneTimePreKeys.kyberPreKeys, ...other.registration.oneTimePreKeys.kyberPreKeys] };
    expect(await rpcCode(carol.keys.uploadOneTime(encodeOneTimePreKeysUpload(mixed)))).toBe('BAD_REQUEST');
    expect(await carol.keys.count()).toMatchObject({ preKeys: 0, kyberPreKeys: 0, hasIdentity: true });

    for (const chunk of chunkOneTimePreKeys(registration.oneTimePreKeys)) await carol.keys.uploadOneTime(encodeOneTimePreKeysUpload(chunk));
    // Uploading the same ids again adds nothing.
    await carol.keys.uploadOneTime(encodeOneTimePreKeysUpload(registration.oneTimePreKeys));
    expect(await carol.keys.count()).toMatchObject({ preKeys: 5, kyberPreKeys: 5 });

    // Each one-time key once; then preKey null and the last-resort Kyber key.
    const handedOut = new Set<number>();
    const kyberOut = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const b = decodePreKeyBundle(await dave.keys.fetch('carol'));
      expect(b.preKey).not.toBeNull();
      handedOut.add(b.preKey!.id);
      kyberOut.add(b.kyberPreKey.id);
      expect(Buffer.from(b.identityKey).equals(Buffer.from(identity.identityKey))).toBe(true);
    }
    expect(handedOut.size).toBe(5);
    expect(kyberOut.size).toBe(5);
    expect(kyberOut.has(identity.kyberLastResort.id)).toBe(false);
    const exhausted = decodePreKeyBundle(await dave.keys.fetch('carol'));
    expect(exhausted.preKey).toBeNull();
    expect(exhausted.kyberPreKey.id).toBe(identity.kyberLastResort.id);
    expect(await carol.keys.count()).toMatchObject({ preKeys: 0, kyberPreKeys: 0 });
    // A session can be started from a bundle the relay built.
    const daveE2e = (await E2e.register(new MemoryVault(), 'dave', { oneTimeCount: 1 })).e2e;
    await daveE2e.startSession('carol', exhausted);
    expect(await daveE2e.hasSession('carol')).toBe(true);

    // Replenish, then SIGKILL and restart the relay: keys and identity are still there.
    const more = await e2e.generateOneTimePreKeys(3);
    await carol.keys.uploadOneTime(encodeOneTimePreKeysUpload(more));
    await started.relay.kill('SIGKILL');
    const restarted = await RelayProcess.start(dir.dir, started.port);
    procs.push(restarted);
    await waitForState(carol.client, 'ready', 60_000);
    expect(await carol.keys.count()).toMatchObject({ preKeys: 3, kyberPreKeys: 3, hasIdentity: true });

    // A new identity for the same device is a re-registration: the old one-time keys go.
    const fresh = await E2e.register(new MemoryVault(), 'carol', { oneTimeCount: 2 });
    expect(await carol.keys.uploadIdentity(encodeIdentityUpload(fresh.registration.identity))).toEqual({ reRegistered: true });
    expect(await carol.keys.count()).toMatchObject({ preKeys: 0, kyberPreKeys: 0 });
    // Rotation (same identity key, new signed prekey) is not.
    const rotated = await fresh.e2e.rotateSignedPreKeyIfDue({ force: true });
    expect(await carol.keys.uploadIdentity(encodeIdentityUpload(rotated.identity!))).toEqual({ reRegistered: false });
    expect(decodePreKeyBundle(await dave.keys.fetch('carol')).signedPreKey.id).toBe(rotated.identity!.signedPreKey.id);

    // Fetches are rate-limited per caller.
    let code = 'OK';
    for (let i = 0; i < 100 && code === 'OK'; i++) code = await rpcCode(dave.keys.fetch('carol'));
    expect(code).toBe('RATE_LIMITED');
    // Unknown handle.
    expect(await rpcCode(carol.keys.fetch('nobody'))).toBe('NOT_FOUND');
  });
});
