// Runs a child script that transfers a file and prints "p BYTES" lines as it goes, and SIGKILLs
// it once it has moved `killAt` bytes: the two resume-after-restart tests share this.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { PASSWORD } from './helpers.ts';

/** Resolves with everything the child printed, after checking it died by the SIGKILL, unfinished. */
export async function transferUntilKilled(script: string, args: readonly string[], killAt: number): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, script), ...args], {
    env: { ...process.env, ATTACH_RESUME_PASSWORD: PASSWORD },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let done = 0;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    output += d;
    for (const m of d.matchAll(/^p (\d+)$/gm)) done = Math.max(done, Number(m[1]));
    if (done >= killAt) child.kill('SIGKILL');
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exit = await new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  expect(exit, output).toBe('SIGKILL');
  expect(output).not.toContain('finished');
  return output;
}
