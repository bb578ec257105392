// Delivery states applied by receipts (main/messenger/receipts.ts advanceState) on a real vault:
// states only move forward, the delivered time survives the read receipt after it (the read
// step reads the times it keeps; the delivered step, below which no time exists, does not), and
// a message the caller already read is used only when it is the one named.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { advanceState } from '../../main/messenger/receipts.ts';
import { messageDetails } from '../../main/messenger/conversations.ts';
import { msg, testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => {
  vi.useRealTimers();
  return vaults.cleanup();
});

describe('receipts applied to own messages', () => {
  it('keep the delivered time when the read receipt comes, and never move a state back', async () => {
    const { vault } = await vaults.fresh();
    const [m] = vault.appendMessages([msg('conv', 'own text', { direction: 'out', sender: 'self', state: 'queued' })]);
    const events: unknown[] = [];
    const emit = (name: string, payload: unknown): void => void events.push([name, payload]);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_800_000_000_000);
    expect(advanceState(vault, emit, m!.id, 'sent')?.state).toBe('sent');
    vi.setSystemTime(1_800_000_001_000);
    expect(advanceState(vault, emit, m!.id, 'delivered')?.state).toBe('delivered');
    vi.setSystemTime(1_800_000_005_000);
    expect(advanceState(vault, emit, m!.id, 'read')?.state).toBe('read');
    // A late delivered receipt changes nothing.
    vi.setSystemTime(1_800_000_009_000);
    expect(advanceState(vault, emit, m!.id, 'delivered')).toBeUndefined();
    const details = messageDetails(vault, m!.id);
    expect([details.state, details.deliveredAt, details.readAt]).toEqual(['read', 1_800_000_001_000, 1_800_000_005_000]);
    expect(events.map((e) => (e as [string, { state: string }])[1].state)).toEqual(['sent', 'delivered', 'read']);
  });

  it('a read receipt first records the read time alone; the delivered one after it changes nothing', async () => {
    const { vault } = await vaults.fresh();
    const [m] = vault.appendMessages([msg('conv', 'own text', { direction: 'out', sender: 'self', state: 'sent' })]);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_800_000_002_000);
    advanceState(vault, () => undefined, m!.id, 'read');
    advanceState(vault, () => undefined, m!.id, 'delivered');
    const details = messageDetails(vault, m!.id);
    expect([details.state, details.deliveredAt, details.readAt]).toEqual(['read', 1_800_000_002_000, 1_800_000_002_000]);
  });

  it('use the message the caller read only when it is the one named', async () => {
    const { vault } = await vaults.fresh();
    const [a, b] = vault.appendMessages([
      msg('conv', 'first', { direction: 'out', sender: 'self', state: 'sent' }),
      msg('conv', 'second', { direction: 'out', sender: 'self', state: 'delivered' }),
    ]);
    // `b` (already delivered) handed with a's id: a is read from the vault and moves on.
    expect(advanceState(vault, () => undefined, a!.id, 'delivered', undefined, b)?.state).toBe('delivered');
    // The caller's own read of `b` decides: delivered -> delivered is no move.
    expect(advanceState(vault, () => undefined, b!.id, 'delivered', undefined, b)).toBeUndefined();
    expect(vault.getMessage(a!.id)?.state).toBe('delivered');
  });
});
