// Unlocking: what the unlocked state is made of, read from the vault that was just opened.
import { E2e } from '../e2e/index.ts';
import { SearchService } from '../search/service.ts';
import type { Vault } from '../vault/index.ts';
import { knownIdentityIn, readAccount } from './account.ts';
import { cleanUpAtUnlock, recordOf } from './attachment-store.ts';
import { reconcileIdentityKeys } from './contacts.ts';
import { forgetJournaledAtUnlock } from './deletion-journal.ts';
import { purgeExpiredAtUnlock, type Expiring } from './expiry.ts';
import { UnlockedSession } from './session.ts';

/**
 * The session of a vault just unlocked, and the disappearing messages still counting down. On
 * failure the caller locks the vault again.
 */
export async function openSession(vault: Vault): Promise<{ session: UnlockedSession; counting: Expiring[] }> {
  // What a deletion interrupted by a crash left of the messenger's records goes first (deletion-journal.ts).
  await forgetJournaledAtUnlock(vault);
  // Attachment chunks and plaintext save files a crash left half-written (attachment-store.ts).
  await cleanUpAtUnlock(vault);
  // Before the vault counts as unlocked (and before search opens): what expired is deleted.
  const counting = await purgeExpiredAtUnlock(vault, Date.now());
  const account = readAccount(vault);
  // The account record is written only after the identity exists (register).
  const e2e = account && E2e.isRegistered(vault) ? E2e.open(vault, { knownIdentity: knownIdentityIn(vault) }) : undefined;
  const registration = account && e2e ? { account, e2e } : undefined;
  if (e2e) reconcileIdentityKeys(vault, e2e);
  return { session: new UnlockedSession(vault, await SearchService.open(vault, { extraText: (m) => recordOf(vault, m.id)?.name }), registration), counting };
}
