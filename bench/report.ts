// Shared shape of every benchmark line (DESIGN.md "Performance bars"), and the small helpers the
// benchmarks share.
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
export interface BenchLine {
  bench: string;
  value: number;
  unit: string;
  baseline: number | null;
  ratio: number | null;
  /** What the number is measured at (sizes, counts); free-form but stable. */
  params?: Record<string, string | number>;
  /** The target from the issue, for the reader; never asserted. */
  target?: string;
}

export interface BenchOptions {
  quick: boolean;
}

export type BenchMain = (options: BenchOptions) => Promise<void>;

export function emit(line: BenchLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** ratio = value / baseline when higher is better, baseline / value when lower is better. */
export function ratioOf(value: number, baseline: number, higherIsBetter: boolean): number {
  if (value === 0 || baseline === 0) return 0;
  const r = higherIsBetter ? value / baseline : baseline / value;
  return Math.round(r * 1000) / 1000;
}

export function percentile(sortedAscending: readonly number[], p: number): number {
  if (sortedAscending.length === 0) return Number.NaN;
  const idx = Math.min(sortedAscending.length - 1, Math.max(0, Math.ceil((p / 100) * sortedAscending.length) - 1));
  return sortedAscending[idx] as number;
}

/** Event-loop delay over a stretch of work (perf_hooks histogram, 10 ms resolution), in ms. */
export function loopDelay(): { stop: () => { p99Ms: number; maxMs: number } } {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  return {
    stop: () => {
      h.disable();
      const r = (ns: number) => Math.round(ns / 1e4) / 100;
      return { p99Ms: r(h.percentile(99)), maxMs: r(h.max) };
    },
  };
}

export interface PortChild {
  port: number;
  pid: number | undefined;
  kill: () => void;
}

/**
 * Runs `script` (a benchmark module acting in `env`'s role) as a tsx child and resolves with the
 * port it prints as `"port":N` on stdout.
 */
export async function startPortChild(script: string, env: Record<string, string>, what: string): Promise<PortChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start`)), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  child.stdout.resume();
  return { port, pid: child.pid, kill: () => child.kill('SIGKILL') };
}
