// `npm run demo` end to end: a real relay, two browser hosts, set-up through the API; then bob's
// profile, opened by the real CLI, holds alice's greeting.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alive, browserStub, expectServesApp, runScript, scriptEnv } from './launch-script.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-demo-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const node = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 240_000, env: { ...process.env, ...env } });

describe('npm run demo', () => {
  it('sets up alice and bob, registered and introduced, and refuses to wipe a folder it did not make', () => {
    const foreign = path.join(tmp, 'foreign');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'keep.txt'), 'mine');
    const refused = node(['scripts/demo.ts', '--dir', foreign, '--setup-only']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('is not a demo folder');
    expect(fs.readFileSync(path.join(foreign, 'keep.txt'), 'utf8')).toBe('mine');

    const dir = path.join(tmp, 'demo');
    const run = node(['scripts/demo.ts', '--dir', dir, '--setup-only']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // Set-up spent the hosts' one-time launch addresses; --setup-only prints none (they would be dead).
    expect(run.stdout).toMatch(/^alice and bob are set up\. /);
    expect(run.stdout).not.toContain('http://');

    const history = node(['cli/ephemera.ts', '--profile', path.join(dir, 'bob'), 'history', 'alice', '--json'], { EPHEMERA_PASSWORD: 'ephemera demo password' });
    expect(history.status).toBe(0);
    const parsed = JSON.parse(history.stdout) as { messages: Array<{ text: string; direction: string }> };
    expect(parsed.messages).toEqual([expect.objectContaining({ text: 'Hi Bob! This is the Ephemera demo.', direction: 'in' })]);
  });
});

describe('npm run demo, running until stopped', () => {
  const URL_LINE = /^http:\/\/127\.0\.0\.1:\d+\/\S*$/;

  it('with Chromium failing at once: prints both URLs on their own lines, serves them until SIGINT, then deletes its data', async () => {
    const stub = browserStub(path.join(tmp, 'fail-stub'), 'fail');
    const dir = path.join(tmp, 'throwaway');
    const run = runScript('scripts/demo.ts', ['--dir', dir], scriptEnv(path.join(tmp, 'home-fail'), { DISPLAY: ':99', EPHEMERA_BROWSER: stub.command }));
    try {
      const ready = await run.line(/^Demo ready: /);
      expect(ready).toContain(`Demo data (deleted when the demo stops; --keep keeps it): ${dir}`);
      const sentence = await run.line(/^No app windows: /);
      expect(sentence).toContain(`Chromium (${stub.command}) exited at once (exit code 1: Missing X server or $DISPLAY).`);
      await run.line(/^http:/);
      await expect.poll(() => run.lines.filter((l) => URL_LINE.test(l)).length).toBe(2);
      expect(run.lines.filter((l) => l.includes('http://'))).toEqual(run.lines.slice(-2));
      for (const url of run.lines.slice(-2)) await expectServesApp(url);
      expect(fs.existsSync(path.join(dir, 'alice'))).toBe(true);
    } finally {
      expect(await run.stop('SIGINT')).toBe(0);
    }
    expect(run.stderr()).not.toMatch(/^demo: /m);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('with Chromium staying up: says it opened two windows, prints a fresh address for one that fails later, stops them on SIGTERM, and --keep keeps the data', async () => {
    const stub = browserStub(path.join(tmp, 'stay-stub'), 'stay');
    const dir = path.join(tmp, 'kept');
    const run = runScript('scripts/demo.ts', ['--dir', dir, '--keep'], scriptEnv(path.join(tmp, 'home-stay'), { DISPLAY: ':99', EPHEMERA_BROWSER: stub.command }));
    const windows: Array<{ pid: number; args: string[] }> = [];
    try {
      expect(await run.line(/^Demo ready: /)).toContain(`Demo data (kept): ${dir}`);
      const sentence = await run.line(/^Opened two Chromium app windows/);
      expect(sentence).toMatch(/^Opened two Chromium app windows, alice's and bob's \(.*\)\. Close them or press Ctrl\+C here to stop the demo\.$/);
      expect(run.lines.filter((l) => l.includes('http://'))).toEqual([]);
      windows.push(...stub.started());
      expect(windows).toHaveLength(2);
      for (const name of ['alice', 'bob']) {
        const window = windows.find((w) => w.args.includes(`--user-data-dir=${path.join(dir, `chromium-${name}`)}`));
        expect(window, name).toBeDefined();
        expect(alive(window!.pid)).toBe(true);
        await expectServesApp(window!.args.find((a) => a.startsWith('--app='))!.slice('--app='.length));
      }
      // Alice's window fails late: the demo keeps running and gives alice a fresh address.
      const aliceWindow = windows.find((w) => w.args.includes(`--user-data-dir=${path.join(dir, 'chromium-alice')}`))!;
      stub.crash(aliceWindow.pid);
      expect(await run.line(/^alice's window is gone: /)).toContain(`Chromium (${stub.command}) exited (exit code 1: GPU process isn't usable. Goodbye.). Open this address as alice`);
      const fresh = await run.line(URL_LINE);
      await expectServesApp(fresh);
      expect(run.child.exitCode).toBeNull();
    } finally {
      expect(await run.stop('SIGTERM')).toBe(0);
    }
    await expect.poll(() => windows.filter((w) => alive(w.pid))).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'alice'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'bob'))).toBe(true);
  });
});
