// A relay that runs as several nodes: the descriptor lists every node's URL (old single-url
// descriptors still read), nodes given the same --advertise list in one data directory write
// the same descriptor, and clients that pick a dead node move to a live one and bind there.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { descriptorUrls, parseDescriptor } from '../../shared/protocol/descriptor.ts';
import { freePort, RelayProcess } from '../chaos/relay-process.ts';
import { makeClient, tempDir, waitForState, type TestClient } from '../net/harness.ts';

const t = tempDir('descriptor-urls');
afterAll(() => t.cleanup());

const base = { version: 1, relayPublicKey: 'a'.repeat(64), certificateSha256: 'b'.repeat(64) } as const;

describe('descriptor with node URLs', () => {
  it('reads old single-url descriptors and lists; refuses a url outside the list and repeats', () => {
    const old = parseDescriptor({ ...base, url: 'wss://relay.example:8443' });
    expect(descriptorUrls(old)).toEqual(['wss://relay.example:8443']);
    const two = parseDescriptor({ ...base, url: 'wss://a.example:8443', urls: ['wss://a.example:8443', 'wss://b.example:8443'] });
    expect(descriptorUrls(two)).toEqual(['wss://a.example:8443', 'wss://b.example:8443']);
    expect(() => parseDescriptor({ ...base, url: 'wss://c.example:8443', urls: ['wss://a.example:8443'] })).toThrow();
    expect(() => parseDescriptor({ ...base, url: 'wss://a.example:8443', urls: ['wss://a.example:8443', 'wss://a.example:8443'] })).toThrow();
    expect(() => parseDescriptor({ ...base, url: 'wss://a.example:8443', urls: [] })).toThrow();
    expect(() => parseDescriptor({ ...base, url: 'wss://a.example:8443', urls: ['https://a.example'] })).toThrow();
  });

  it('nodes sharing a data directory and --advertise list write one descriptor; clients of a dead node bind on a live one', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const advertise = [`wss://127.0.0.1:${p1}`, `wss://127.0.0.1:${p2}`];
    const args = advertise.flatMap((u) => ['--advertise', u]);
    const file = join(t.dir, 'descriptor.json');
    const nodes: RelayProcess[] = [];
    const clients: TestClient[] = [];
    try {
      nodes.push(await RelayProcess.start(t.dir, p1, args));
      const first = readFileSync(file);
      nodes.push(await RelayProcess.start(t.dir, p2, args));
      expect(readFileSync(file).equals(first)).toBe(true);
      const descriptor = nodes[1]!.descriptor;
      expect(descriptor.url).toBe(advertise[0]);
      expect(descriptorUrls(descriptor)).toEqual(advertise);

      // The descriptor's `url` (the first node) dies; every client, whichever node it picked,
      // ends up bound on the second.
      await nodes[0]!.kill('SIGKILL');
      for (let i = 0; i < 8; i++) clients.push(await makeClient(descriptor));
      for (const c of clients) await c.client.start();
      for (const c of clients) await waitForState(c.client, 'ready', 60_000);
      // And the network view says so: a call goes through.
      const pong = await clients[0]!.client.call('ping', null);
      expect(pong).toMatchObject({ pong: true });
    } finally {
      for (const c of clients) await c.client.stop();
      for (const n of nodes) await n.kill('SIGKILL');
    }
  });
});
