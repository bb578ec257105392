// The order of one temp key's requests on a cluster node (relay/key-order.ts): sends and acks
// start at once, side by side; any other request waits for everything before it, and nothing
// after it starts until it is done; a request that throws or rejects does not stall the key.
import { describe, expect, it } from 'vitest';
import { KeyOrder } from '../../relay/key-order.ts';

/** A request that records when it starts and finishes when `finish(name)` is called. */
function harness(order: KeyOrder) {
  const started: string[] = [];
  const finishers = new Map<string, () => void>();
  const submit = (name: string, pipelined: boolean, fail?: 'throw' | 'reject'): void => {
    order.submit(() => {
      started.push(name);
      if (fail === 'throw') throw new Error(name);
      return new Promise<void>((resolve, reject) => finishers.set(name, fail === 'reject' ? () => reject(new Error(name)) : resolve));
    }, pipelined);
  };
  const finish = async (name: string): Promise<void> => {
    finishers.get(name)!();
    // Let the settled promise's handlers run.
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { started, submit, finish };
}

describe('KeyOrder', () => {
  it('pipelined requests start at once; another kind waits for all before it and holds back all after it', async () => {
    const failures: unknown[] = [];
    const h = harness(new KeyOrder((e) => failures.push(e)));
    h.submit('send1', true);
    h.submit('send2', true);
    expect(h.started).toEqual(['send1', 'send2']);
    h.submit('register', false);
    h.submit('send3', true);
    h.submit('ack1', true);
    expect(h.started).toEqual(['send1', 'send2']);
    await h.finish('send2');
    expect(h.started).toEqual(['send1', 'send2']);
    await h.finish('send1');
    expect(h.started).toEqual(['send1', 'send2', 'register']);
    await h.finish('register');
    expect(h.started).toEqual(['send1', 'send2', 'register', 'send3', 'ack1']);
    h.submit('resolve', false);
    h.submit('bind', false);
    await h.finish('ack1');
    expect(h.started.slice(-1)).toEqual(['ack1']);
    await h.finish('send3');
    expect(h.started.slice(-1)).toEqual(['resolve']);
    await h.finish('resolve');
    expect(h.started.slice(-1)).toEqual(['bind']);
    expect(failures).toEqual([]);
  });

  it('a request that throws or rejects is reported and the next ones still run', async () => {
    const failures: unknown[] = [];
    const h = harness(new KeyOrder((e) => failures.push(e)));
    h.submit('broken', false, 'throw');
    h.submit('send', true, 'reject');
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(h.started).toEqual(['broken', 'send']);
    h.submit('register', false);
    expect(h.started).toEqual(['broken', 'send']);
    await h.finish('send');
    expect(h.started).toEqual(['broken', 'send', 'register']);
    expect(failures.map((e) => (e as Error).message)).toEqual(['broken', 'send']);
  });
});
