// The contacts' libsignal addresses are kept between operations (libsignal.ts protocolAddress),
// and dropped at the lock (E2e.forgetCachedSessions): nothing naming a contact stays in memory.
import { describe, expect, it } from 'vitest';
import { BadAddress } from '../../shared/protocol/e2e-errors.ts';
import { E2e } from '../../main/e2e/index.ts';
import { protocolAddress } from '../../main/e2e/libsignal.ts';
import { MemoryVault } from './helpers.ts';

describe('protocolAddress', () => {
  it('hands out the address it made for a name until the lock forgets them; a bad name is refused each time', async () => {
    const { e2e } = await E2e.register(new MemoryVault(), 'me', { oneTimeCount: 1 });
    const first = protocolAddress('alice');
    expect(protocolAddress('alice')).toBe(first);
    expect(first.name()).toBe('alice');
    expect(first.deviceId()).toBe(1);
    e2e.forgetCachedSessions(); // what the lock calls (messenger/session.ts)
    const again = protocolAddress('alice');
    expect(again).not.toBe(first);
    expect(again.name()).toBe('alice');
    for (let i = 0; i < 2; i++) expect(() => protocolAddress('bad\u0000name')).toThrow(BadAddress);
  });
});
