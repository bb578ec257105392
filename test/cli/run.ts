// The real `ephemera` CLI as a child process, with a clean environment: no EPHEMERA_* variable
// of the caller leaks in; the test passes the ones it means.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const cliPath = fileURLToPath(new URL('../../cli/ephemera.ts', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string> = {}, stdin = ''): Promise<CliResult> {
  const full: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EPHEMERA_')) full[k] = v;
  Object.assign(full, env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cliPath, ...args], { cwd: repoRoot, env: full, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/**
 * The CLI under a real pseudo-terminal (util-linux `script`, which merges stdout and stderr into
 * the transcript), with the same clean environment as runCli. Answers each prompt, matched in
 * order, when it appears.
 */
export function runCliInPty(args: string[], answers: readonly { prompt: string; reply: string }[], env: Record<string, string> = {}): Promise<{ code: number | null; transcript: string }> {
  const full: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EPHEMERA_')) full[k] = v;
  Object.assign(full, env);
  const quoted = [process.execPath, '--import', 'tsx', cliPath, ...args].map((a) => `'${a.replace(/'/gu, "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qefc', quoted, '/dev/null'], { cwd: repoRoot, env: full, stdio: ['pipe', 'pipe', 'pipe'] });
    let transcript = '';
    let next = 0;
    let searchFrom = 0;
    child.stdout.on('data', (d: Buffer) => {
      transcript += d.toString();
      const want = answers[next];
      if (want) {
        const at = transcript.indexOf(want.prompt, searchFrom);
        if (at >= 0) {
          searchFrom = at + want.prompt.length;
          next += 1;
          child.stdin.write(`${want.reply}\r`);
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      child.stdin.destroy();
      resolve({ code, transcript });
    });
  });
}

/** The exit codes `ephemera --help` documents (lines "  N    what it means"). */
export function documentedExitCodes(help: string): Set<number> {
  const section = help.slice(help.indexOf('Exit codes:'));
  return new Set([...section.matchAll(/^ {2}(\d+) {2,}\S/gm)].map((m) => Number(m[1])));
}
