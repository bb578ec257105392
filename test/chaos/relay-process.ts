// The relay as a real child process (the CLI), for tests and benches that kill it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDescriptor, type RelayDescriptor } from '../../shared/protocol/descriptor.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export class RelayProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly descriptor: RelayDescriptor,
    /** Date.now() when the relay printed that it listens. */
    readonly listeningAt: number,
  ) {}

  static async start(dataDir: string, port: number, extraArgs: string[] = []): Promise<RelayProcess> {
    // EPHEMERA_RELAY_NODE_ARGS: extra node flags for profiling (e.g. --cpu-prof).
    const nodeArgs = process.env.EPHEMERA_RELAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(repoRoot, 'cli', 'ephemera-relay.ts'), '--data', dataDir, '--port', String(port), ...extraArgs], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const listeningAt = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`relay did not start: ${stderr}`));
      }, 60_000);
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"listening"')) {
          clearTimeout(timer);
          resolve(Date.now());
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`relay exited with ${String(code)}: ${stderr}`));
      });
    });
    child.stdout?.resume();
    const descriptor = parseDescriptor(JSON.parse(readFileSync(join(dataDir, 'descriptor.json'), 'utf8')));
    return new RelayProcess(child, descriptor, listeningAt);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill(signal);
    });
  }
}
