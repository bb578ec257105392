// CSPRNG bytes handed out in slices of a pool: one randomBytes call per POOL_BYTES instead of one
// per value (for 16 bytes the call costs more than what is made of them: a received message seals
// several rows, a sent one makes several ids). Each slice is handed out once. Only for values that
// are not secret (nonce prefixes, ids the peer or the relay sees): the pool is never zeroed.
import { randomBytes } from 'node:crypto';

const POOL_BYTES = 4096;

export class RandomPool {
  private pool = Buffer.alloc(0);
  private at = 0;

  /** `n` fresh random bytes (a view into the pool, never handed out again). */
  take(n: number): Buffer {
    if (this.at + n > this.pool.length) {
      this.pool = randomBytes(Math.max(POOL_BYTES, n));
      this.at = 0;
    }
    const slice = this.pool.subarray(this.at, this.at + n);
    this.at += n;
    return slice;
  }
}
