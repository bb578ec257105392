// `npm run web` (cli/ephemera-web.ts) runs the app process as `npm start` does: a child started
// with glibc's huge-page tunable (scripts/huge-page-malloc.ts), serving the launch URL; a Ctrl+C
// (reaching both processes, as a terminal's does) closes it and both exit 0. Linux only (the
// tunable is glibc's; /proc).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HUGE_PAGE_MALLOC_TUNABLE } from '../../scripts/huge-page-malloc.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-web-huge-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.runIf(process.platform === 'linux')('ephemera-web and the huge-page tunable', () => {
  it('serves from a child started with the tunable; a Ctrl+C to both stops them with exit 0', async () => {
    const env = { ...process.env };
    delete env.GLIBC_TUNABLES;
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'cli/ephemera-web.ts'), '--profile', path.join(tmp, 'profile')], {
      cwd: repo,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let app: number | undefined;
    try {
      let stdout = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d: string) => (stdout += d));
      await expect.poll(() => stdout.includes('\n'), { timeout: 60_000 }).toBe(true);
      expect(stdout.split('\n')[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#code=/);
      const pid = child.pid!;
      const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean);
      expect(children).toHaveLength(1);
      app = Number(children[0]);
      const environ = fs.readFileSync(`/proc/${app}/environ`, 'latin1').split('\0');
      expect(environ).toContain(`GLIBC_TUNABLES=${HUGE_PAGE_MALLOC_TUNABLE}`);
      expect(fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((v) => v.startsWith('GLIBC_TUNABLES='))).toBe(false);
      child.kill('SIGINT');
      process.kill(app, 'SIGINT');
      expect(await exited).toBe(0);
      expect(fs.existsSync(`/proc/${app}`)).toBe(false);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (app !== undefined && fs.existsSync(`/proc/${app}`)) process.kill(app, 'SIGKILL');
    }
  }, 120_000);
});
