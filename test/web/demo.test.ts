// `npm run demo` end to end: a real relay, two browser hosts, set-up through the API; then bob's
// profile, opened by the real CLI, holds alice's greeting.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

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
