import { describe, expect, it, vi } from 'vitest';

const fake = await vi.hoisted(async () => {
  const { createFakeElectron } = await import('./fake-electron.ts');
  return createFakeElectron();
});
vi.mock('electron', () => ({ ...fake.electron, default: fake.electron }));

await import('../../main/app/preload.ts');
const { CALL_CHANNEL, EVENT_CHANNEL } = await import('../../main/app/channels.ts');

type Bridge = { call(method: unknown, params: unknown): Promise<unknown>; subscribe(l: (n: unknown, p: unknown) => void): () => void };

describe('preload bridge', () => {
  it('exposes one object with only call and subscribe', () => {
    expect([...fake.state.exposed.keys()]).toEqual(['ephemera']);
    const bridge = fake.state.exposed.get('ephemera') as Record<string, unknown>;
    expect(Object.keys(bridge).sort()).toEqual(['call', 'subscribe']);
  });

  it('forwards only contract method names to the one invoke channel', async () => {
    const bridge = fake.state.exposed.get('ephemera') as Bridge;
    await expect(bridge.call('require', 'fs')).rejects.toThrow('Unknown method');
    await expect(bridge.call('__proto__', {})).rejects.toThrow('Unknown method');
    expect(fake.state.invoked).toEqual([]);
    await bridge.call('unlock', { password: 'pw' });
    expect(fake.state.invoked).toEqual([[CALL_CHANNEL, 'unlock', { password: 'pw' }]]);
  });

  it('delivers only contract events, without the IPC event object, and unsubscribes', () => {
    const bridge = fake.state.exposed.get('ephemera') as Bridge;
    const seen: unknown[][] = [];
    const off = bridge.subscribe((...args) => seen.push(args));
    const fire = (...args: unknown[]) => (fake.state.rendererListeners.get(EVENT_CHANNEL) ?? []).forEach((l) => l({ sender: 'ipc-event' }, ...args));
    fire('connection', { phase: 'ready' });
    fire('evil', {});
    off();
    fire('connection', { phase: 'offline' });
    expect(seen).toEqual([['connection', { phase: 'ready' }]]);
  });
});
