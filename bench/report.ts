// Shared shape of every benchmark line (DESIGN.md "Performance bars").
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
