import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseWebArgs } from '../../cli/ephemera-web.ts';
import { connectLaunchUrl, LaunchRefused } from '../../main/web/launch-client.ts';
import { createApiClient } from '../../shared/api/rpc.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-webcli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function runCli(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(repo, 'cli/ephemera-web.ts'), ...args], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
}

describe('ephemera-web command line', () => {
  it('parses --profile, --port and --server', () => {
    expect(parseWebArgs(['--profile', 'p', '--port', '8123', '--server', 'd.json'])).toEqual({
      profile: path.resolve('p'),
      port: 8123,
      server: path.resolve('d.json'),
    });
    expect(parseWebArgs(['--profile', 'p', '--backup-dir', 'b'])).toEqual({ profile: path.resolve('p'), port: 0, backupDir: path.resolve('b') });
    expect(() => parseWebArgs(['--port', '1'])).toThrow();
    expect(() => parseWebArgs(['--profile', 'p', '--port', '99999'])).toThrow();
  });

  it('exits 2 on bad arguments, printing nothing to stdout', () => {
    const r = runCli(['--port', 'x']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
  });

  it('fails with one clear line, before serving anything, when an input is missing', () => {
    const r = runCli(['--profile', path.join(tmp, 'profile'), '--server', path.join(tmp, 'missing-descriptor.json')]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ephemera-web: (The renderer is not built|No server descriptor at .*missing-descriptor\.json)/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

// dist/renderer is built once by test/global-setup.ts.
describe('ephemera-web serving a profile', () => {
  it('prints the launch URL as its first stdout line; it works once, then is refused', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'cli/ephemera-web.ts'), '--profile', path.join(tmp, 'served')], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let stdout = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d: string) => (stdout += d));
      await expect.poll(() => stdout.includes('\n'), { timeout: 60_000 }).toBe(true);
      const url = stdout.split('\n')[0]!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#code=[A-Za-z0-9_-]{43}$/);
      const transport = await connectLaunchUrl(url);
      await expect(createApiClient(transport).vaultStatus()).resolves.toMatchObject({ vault: 'none' });
      transport.close();
      await expect(connectLaunchUrl(url)).rejects.toBeInstanceOf(LaunchRefused);
    } finally {
      await new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      });
    }
  });
});
