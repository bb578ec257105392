// Node choice after a lost connection (main/net/nodes.ts): with several nodes the first attempt
// goes to another node after a wait anywhere in [0, base] (a dead node's clients spread over the
// whole window, none waits a floor); a single relay, or a second failure, backs off as before.
import { describe, expect, it } from 'vitest';
import { NodeChoice } from '../../main/net/nodes.ts';
import type { RelayDescriptor } from '../../shared/protocol/descriptor.ts';

const urls = ['wss://n1.example:8443', 'wss://n2.example:8443', 'wss://n3.example:8443'];
const descriptor = (list: string[]): RelayDescriptor => ({
  version: 1,
  url: list[0]!,
  ...(list.length > 1 ? { urls: list } : {}),
  relayPublicKey: 'a'.repeat(64),
  certificateSha256: 'b'.repeat(64),
});
const backoff = { baseMs: 250, maxMs: 1000 };

/** `draws` first losses after an open connection: the delays and whether each moved to another node. */
function firstLosses(list: string[], draws: number): { delays: number[]; moved: boolean[] } {
  const delays: number[] = [];
  const moved: boolean[] = [];
  for (let i = 0; i < draws; i++) {
    const n = new NodeChoice(descriptor(list), backoff);
    const before = n.url;
    n.opened();
    delays.push(n.lost());
    moved.push(n.url !== before);
  }
  return { delays, moved };
}

describe('NodeChoice after a lost connection', () => {
  it('several nodes: another node, after a wait anywhere in [0, base]', () => {
    const { delays, moved } = firstLosses(urls, 400);
    expect(moved.every(Boolean)).toBe(true);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(250);
    // Under the old floor of base/2 none of 400 draws would be below 125 ms.
    expect(delays.filter((d) => d < 125).length).toBeGreaterThan(100);
  });

  it('one relay: the first retry still waits [base/2, base]; with several nodes a second failure backs off as before', () => {
    const single = firstLosses([urls[0]!], 400);
    expect(single.moved.some(Boolean)).toBe(false);
    expect(Math.min(...single.delays)).toBeGreaterThanOrEqual(125);
    expect(Math.max(...single.delays)).toBeLessThanOrEqual(250);
    for (let i = 0; i < 200; i++) {
      const n = new NodeChoice(descriptor(urls), backoff);
      n.opened();
      n.lost();
      const second = n.lost();
      expect(second).toBeGreaterThanOrEqual(250);
      expect(second).toBeLessThanOrEqual(500);
    }
  });
});
