// The relay CLI: bad arguments are refused with a message and a non-zero exit; a good start
// writes the descriptor, and a second start in the same DIR keeps the same identity and pin.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../net/harness.ts';
import { freePort, RelayProcess } from '../chaos/relay-process.ts';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli', 'ephemera-relay.ts');
const t = tempDir('cli');
afterAll(() => t.cleanup());

function run(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

describe('ephemera-relay CLI', () => {
  it('refuses bad arguments', () => {
    const noData = run([]);
    expect(noData.status).not.toBe(0);
    expect(noData.stderr).toMatch(/--data/);
    const badPort = run(['--data', t.dir, '--port', 'http']);
    expect(badPort.status).not.toBe(0);
    expect(badPort.stderr).toMatch(/whole number/);
    const bigPort = run(['--data', t.dir, '--port', '70000']);
    expect(bigPort.status).not.toBe(0);
    const badTtl = run(['--data', t.dir, '--envelope-ttl', '30 days']);
    expect(badTtl.status).not.toBe(0);
    expect(badTtl.stderr).toMatch(/s, m, h or d/);
    const shortTtl = run(['--data', t.dir, '--envelope-ttl', '10s']);
    expect(shortTtl.status).not.toBe(0);
    expect(shortTtl.stderr).toMatch(/between 60s and 366d/);
  });

  it('keeps its identity and certificate pin across restarts', async () => {
    const port = await freePort();
    const first = await RelayProcess.start(t.dir, port);
    const d1 = JSON.parse(readFileSync(join(t.dir, 'descriptor.json'), 'utf8')) as unknown;
    await first.kill('SIGTERM');
    const second = await RelayProcess.start(t.dir, port);
    await second.kill('SIGTERM');
    expect(second.descriptor).toEqual(d1);
    expect(first.descriptor).toEqual(d1);
  });
});
