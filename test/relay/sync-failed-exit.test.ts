// After a failed fsync the relay refuses every write until it is restarted (relay/outgoing.ts),
// so the command line exits non-zero (75) for a supervisor to restart it (docs/operations.md),
// after answering what waited for that fsync. Real relay process, real client, its disk made to
// fail by ./fsync-fails.preload.ts.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, RelayProcess } from '../chaos/relay-process.ts';
import { makeClient, tempDir, waitFor, type TestClient } from '../net/harness.ts';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

describe('a relay whose fsync failed', () => {
  it('exits with 75 once a write could not be made durable', async () => {
    const t = tempDir('sync-failed-exit');
    closers.push(() => t.cleanup());
    const preload = fileURLToPath(new URL('./fsync-fails.preload.ts', import.meta.url));
    const before = process.env.EPHEMERA_RELAY_NODE_ARGS;
    process.env.EPHEMERA_RELAY_NODE_ARGS = `--import tsx --import ${preload}`;
    let relay: RelayProcess;
    try {
      relay = await RelayProcess.start(t.dir, await freePort());
    } finally {
      if (before === undefined) delete process.env.EPHEMERA_RELAY_NODE_ARGS;
      else process.env.EPHEMERA_RELAY_NODE_ARGS = before;
    }
    closers.push(() => relay.kill('SIGKILL'));
    let stderr = '';
    relay.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => relay.child.once('exit', (code) => resolve(code)));
    // Nothing is fsynced until a write: the relay runs until the first bind stores a device.
    const c: TestClient = await makeClient(relay.descriptor);
    closers.push(() => c.client.stop());
    await c.client.start();
    await waitFor(() => relay.child.exitCode !== null || relay.child.signalCode !== null, 30_000, 'the relay exited');
    expect(await exited).toBe(75);
    expect(stderr).toContain('"sync-failed"');
    expect(stderr).toContain('"exiting"');
  }, 60_000);
});
