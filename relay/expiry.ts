// Envelope expiry at the relay: every queued envelope carries the time it expires (the relay's
// maximum, `--envelope-ttl`, default 30 days, or a sender's shorter `ttl`). The store never hands
// out an expired one; this purge deletes them, once at start (so a lowered maximum applies at
// once to what is already queued) and then on a schedule in relay time.
import { DEFAULT_ENVELOPE_TTL_MS, PurgeBusy } from './store.ts';

export { DEFAULT_ENVELOPE_TTL_MS };
/** How often expired envelopes are deleted. */
export const DEFAULT_PURGE_INTERVAL_MS = 60_000;
/** A purge that meets an open request batch (SQLite, under load) tries again this soon, this often. */
const BUSY_RETRY_MS = 5;
const BUSY_RETRIES = 200;

/**
 * Runs `f`, again after a moment while it meets an open request batch (PurgeBusy): between two
 * batches the loop gets a turn within a few ms; a timer callback may fall inside one.
 */
export async function whenNoBatch<T>(f: () => T | Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await f();
    } catch (e) {
      if (!(e instanceof PurgeBusy) || tries >= BUSY_RETRIES) throw e;
      await new Promise((r) => setTimeout(r, BUSY_RETRY_MS));
    }
  }
}

export interface ExpiringQueue {
  purgeExpired(now: number, maxAgeMs: number): number | Promise<number>;
}

export interface EnvelopePurge {
  /** Runs a purge now; resolves with how many envelopes went (0 after a logged failure). */
  run(): Promise<number>;
  stop(): void;
}

export function startEnvelopePurge(
  queue: ExpiringQueue,
  o: { ttlMs: number; intervalMs?: number; clock: () => number; log?: (event: Record<string, unknown>) => void },
): EnvelopePurge {
  let running: Promise<number> | undefined;
  const run = (): Promise<number> => {
    // One purge at a time: a slow PostgreSQL purge is not started again on top of itself.
    running ??= (async () => {
      try {
        const n = await whenNoBatch(() => queue.purgeExpired(o.clock(), o.ttlMs));
        if (n > 0) o.log?.({ event: 'envelopes-expired', count: n });
        return n;
      } catch (e) {
        o.log?.({ event: 'purge-failed', error: String(e) });
        return 0;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  void run();
  const timer = setInterval(() => void run(), o.intervalMs ?? DEFAULT_PURGE_INTERVAL_MS);
  timer.unref();
  return { run, stop: () => clearInterval(timer) };
}
