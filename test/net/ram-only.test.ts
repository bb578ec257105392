// RAM only: after a run with several rotations and a relay restart, no temp key (directional
// keys and the X25519 shared secret, captured through the test-only observer) appears in any
// file under the client's vault profile or the relay's data directory.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RelayClient } from '../../main/net/client.ts';
import { RelayMailbox } from '../../main/net/mailbox.ts';
import { PermanentKey } from '../../main/net/permanent-key.ts';
import { vaultOutboxStore, vaultPermanentKeyStore } from '../../main/net/stores.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { installTempKeyObserverForTests } from '../../shared/protocol/handshake.ts';
import { freePort, RelayProcess } from '../chaos/relay-process.ts';
import { makeClient, tempDir, waitFor, type TestClient } from './harness.ts';

const profile = tempDir('ram-profile');
const relayDir = tempDir('ram-relay');
const procs: RelayProcess[] = [];
const stops: (() => Promise<void> | void)[] = [];

afterAll(async () => {
  installTempKeyObserverForTests(undefined);
  for (const s of stops.reverse()) await s();
  for (const p of procs) await p.kill();
  profile.cleanup();
  relayDir.cleanup();
});

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) filesUnder(p, out);
    else if (st.isFile()) out.push(p);
  }
  return out;
}

describe('temp keys live in RAM only', () => {
  it('no temp key byte string is found on disk after rotations and a relay restart', async () => {
    const secrets: Buffer[] = [];
    installTempKeyObserverForTests((m) => secrets.push(m.c2s, m.s2c, m.sharedSecret));

    const port = await freePort();
    let relay = await RelayProcess.start(relayDir.dir, port);
    procs.push(relay);
    const { vault } = await Vault.create(profile.dir, 'correct horse battery staple 42', { kdf: TEST_KDF });
    stops.push(() => vault.lock());
    const permanentKey = await PermanentKey.loadOrCreate(vaultPermanentKeyStore(vault));
    const client = new RelayClient({
      descriptor: relay.descriptor,
      permanentKey,
      outbox: vaultOutboxStore(vault),
      tempKeyLifetimeSec: 2,
      backoff: { baseMs: 50, maxMs: 500 },
    });
    stops.push(() => client.stop());
    const mailbox = new RelayMailbox(client);
    const peer: TestClient = await makeClient(relay.descriptor, { tempKeyLifetimeSec: 2 });
    stops.push(() => peer.client.stop());
    await client.start();
    await peer.client.start();
    await waitFor(() => client.state === 'ready' && peer.client.state === 'ready');
    await mailbox.register('vaultuser');
    await peer.mailbox.register('peer');
    let received = 0;
    peer.mailbox.onEnvelope(() => {
      received++;
    });

    let sent = 0;
    const sendSome = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++, sent++) await mailbox.send('peer', Buffer.from(`m${sent}`), `ram-${String(sent).padStart(6, '0')}`);
    };
    // several rotations with traffic
    const expiries = new Set<number>();
    const end = Date.now() + 20_000;
    while (expiries.size < 3 && Date.now() < end) {
      const e = client.tempKeyExpiresAt;
      if (e !== undefined) expiries.add(e);
      await sendSome(2);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(expiries.size).toBeGreaterThanOrEqual(3);
    // relay restart, then more traffic over re-bound keys
    await relay.kill('SIGKILL');
    relay = await RelayProcess.start(relayDir.dir, port);
    procs.push(relay);
    await sendSome(5);
    await waitFor(() => received === sent, 30_000, 'all messages');
    await client.stop();
    await peer.client.stop();
    vault.lock();
    await relay.kill('SIGTERM');

    expect(secrets.length).toBeGreaterThanOrEqual(3 * 5);
    const files = [...filesUnder(profile.dir), ...filesUnder(relayDir.dir)];
    expect(files.some((f) => f.endsWith('relay.db'))).toBe(true);
    expect(files.some((f) => f.startsWith(profile.dir))).toBe(true);
    // control: the scan does find what is meant to be on disk (the device's public key at the relay)
    expect(files.some((f) => readFileSync(f).includes(permanentKey.publicRaw))).toBe(true);
    for (const f of files) {
      const content = readFileSync(f);
      const text = content.toString('latin1');
      for (const s of secrets) {
        expect(content.includes(s), `${f} contains a temp key`).toBe(false);
        expect(text.includes(s.toString('hex')), `${f} contains a temp key in hex`).toBe(false);
      }
    }
  });
});
