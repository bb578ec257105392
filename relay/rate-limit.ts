// Token bucket per source address, for handshakes (each costs the relay an X25519 + a signature).
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; last: number }>();
  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    private readonly clock: () => number,
  ) {}

  /** 0 when allowed (and a token is taken), else ms until a token is available. */
  take(address: string): number {
    const now = this.clock();
    let b = this.buckets.get(address);
    if (!b) {
      if (this.buckets.size > 100_000) this.sweep(now);
      b = { tokens: this.burst, last: now };
      this.buckets.set(address, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.last) / 1000) * this.ratePerSec);
    b.last = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.ratePerSec) * 1000);
  }

  sweep(now: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.last) / 1000) * this.ratePerSec >= this.burst) this.buckets.delete(k);
    }
  }
}
