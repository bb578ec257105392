import { describe, expect, it } from 'vitest';
import { RandomPool } from '../../main/vault/random-pool.ts';

describe('RandomPool (nonce prefixes, content ids)', () => {
  it('hands out each slice once, across refills of the pool, and serves a take larger than the pool', () => {
    const pool = new RandomPool();
    const seen = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const slice = pool.take(16); // 600 x 16 bytes: two refills of a 4 KiB pool
      expect(slice.length).toBe(16);
      seen.add(slice.toString('hex'));
    }
    expect(seen.size).toBe(600);
    const big = pool.take(10_000);
    expect(big.length).toBe(10_000);
    expect(new Set(big).size).toBeGreaterThan(200); // random bytes, not a zero-filled buffer
    expect(seen.has(pool.take(16).toString('hex'))).toBe(false);
  });
});
