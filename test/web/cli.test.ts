import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadService, ServiceUnavailable } from '../../main/web/service-loader.ts';
import { parseWebArgs } from '../../main/web/cli.ts';
import { connectLaunchUrl, LaunchRefused } from '../../main/web/launch-client.ts';
import { createApiClient } from '../../shared/api/rpc.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-webcli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function runCli(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(repo, 'main/web/cli.ts'), ...args], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
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
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'main/web/cli.ts'), '--profile', path.join(tmp, 'served')], {
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

describe('service loader', () => {
  it('refuses a missing module, a module without openMessenger and an incomplete service', async () => {
    await expect(loadService({ profileDir: tmp }, path.join(tmp, 'nope.ts'))).rejects.toBeInstanceOf(ServiceUnavailable);
    const noExport = path.join(tmp, 'no-export.mjs');
    fs.writeFileSync(noExport, 'export const x = 1;\n');
    await expect(loadService({ profileDir: tmp }, noExport)).rejects.toThrow('does not export openMessenger');
    const partial = path.join(tmp, 'partial.mjs');
    fs.writeFileSync(partial, 'export async function openMessenger() { return { subscribe() {}, vaultStatus() {} }; }\n');
    await expect(loadService({ profileDir: tmp }, partial)).rejects.toThrow(/missing: createVault, confirmRecoveryPhrase/);
  });
});
