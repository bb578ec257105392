// Progress and cancellation shared by export, import and open.
import { setImmediate as nextTick } from 'node:timers/promises';
import { BackupCancelled } from './errors.ts';

export interface BackupProgress {
  phase: 'export' | 'verify' | 'apply' | 'open';
  /** Messages processed in this phase. */
  done: number;
  /** Messages expected (the header's count; grows if the file holds more). */
  total: number;
}

export type ProgressListener = (p: BackupProgress) => void;

/** How many records between progress reports, cancellation checks and event-loop yields. */
export const PROGRESS_EVERY = 1024;

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new BackupCancelled();
}

/** Lets timers, I/O and the abort signal run between batches of synchronous work. */
export async function yieldAndCheck(signal: AbortSignal | undefined): Promise<void> {
  await nextTick();
  throwIfAborted(signal);
}
