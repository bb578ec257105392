// The conversation timer a send reads (main/messenger/disappearing.ts conversationTimer) is kept
// in memory per unlocked vault: on a real vault, a change stored later (own or the contact's) is
// what the next read sees, a change whose transaction rolled back is not, and the next unlock
// reads what the vault holds.
import { afterEach, describe, expect, it } from 'vitest';
import { conversationTimer, storeInboundTimerChange, storeOwnTimerChange } from '../../main/messenger/disappearing.ts';
import { conversationIdOf, newContactId } from '../../main/messenger/ids.ts';
import type { ContactRecord } from '../../main/vault/api.ts';
import { testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => vaults.cleanup());

const contact: ContactRecord = { id: newContactId(), handle: 'timer_bob', displayName: 'Bob', identityChanged: false, createdAt: 1 };
const conversationId = conversationIdOf(contact.id);

describe('the conversation timer a send reads', () => {
  it('follows own and received changes, not one rolled back, and is read from the vault after an unlock', async () => {
    const { vault, dir } = await vaults.fresh();
    expect(conversationTimer(vault, conversationId).seconds).toBe(0); // read, and kept
    storeOwnTimerChange(vault, { messageId: 'own-change-1', conversationId, contentId: 'cid-own-1', seconds: 30, now: 1_000, handle: 'timer_alice' });
    expect(conversationTimer(vault, conversationId)).toEqual({ seconds: 30, at: 1_000, by: 'timer_alice' });
    // The contact's later change, stored in a receive step that then fails: undone, not seen.
    expect(() => vault.transaction(() => {
      storeInboundTimerChange(vault, contact, { v: 1, kind: 'timer', id: 'cid-in-1', sentAt: 2_000, seconds: 3600 }, 'in-change-1', 2_100);
      expect(conversationTimer(vault, conversationId).seconds).toBe(3600); // inside it, as the vault shows it
      throw new Error('the receive step failed');
    })).toThrow('the receive step failed');
    expect(conversationTimer(vault, conversationId)).toEqual({ seconds: 30, at: 1_000, by: 'timer_alice' });
    // The same change delivered again, this time stored.
    vault.transaction(() => storeInboundTimerChange(vault, contact, { v: 1, kind: 'timer', id: 'cid-in-1', sentAt: 2_000, seconds: 3600 }, 'in-change-1', 2_100));
    expect(conversationTimer(vault, conversationId)).toEqual({ seconds: 3600, at: 2_000, by: 'timer_bob' });
    vault.lock();
    const again = await vaults.reopen(dir);
    expect(conversationTimer(again, conversationId)).toEqual({ seconds: 3600, at: 2_000, by: 'timer_bob' });
  });
});
