// The contract's vault diagnostics (vaultInfo, vaultCheck; the CLI's status and unlock-check).
// They never open the messenger's session: unlocking that purges expired messages and opens the
// search index, which without a usable snapshot is rebuilt by reading every message, so one
// damaged segment would fail it where a diagnosis must still say the password is right and
// name what does not open.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { VaultCheck, VaultInfo } from '../../shared/api.ts';
import { isError } from '../../shared/errors.ts';
import { inspectProfile, Vault } from '../vault/index.ts';
import { VaultError } from '../vault/errors.ts';
import { verifyPassword } from '../vault/wipe.ts';
import { forgetJournaledAtUnlock } from './deletion-journal.ts';

/** Messages read between turns of the event loop while checking (a diagnosis must not freeze the app). */
const READ_BETWEEN_TURNS = 2048;

/** The header and the lock file (no password; never the database). */
export function vaultInfo(profileDir: string): VaultInfo {
  const info = inspectProfile(profileDir);
  return {
    exists: info.exists,
    ...(info.format !== undefined ? { format: info.format } : {}),
    ...(info.kdf ? { kdf: { memoryKiB: info.kdf.memoryKiB, iterations: info.kdf.iterations, parallelism: info.kdf.parallelism } } : {}),
    ...(info.lockedBy !== undefined ? { lockedBy: info.lockedBy } : {}),
  };
}

/** The value, or undefined when that part of the vault does not open (VAULT_CORRUPT). */
function ifIntact<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (e) {
    if (isError(e, VaultError, 'VAULT_CORRUPT')) return undefined;
    throw e;
  }
}

/** Reads every message of every conversation; a part that does not open is reported, not thrown. */
async function readAll(vault: Vault): Promise<VaultCheck> {
  const messages = vault.countMessages();
  const contacts = ifIntact(() => vault.listContacts().length);
  const conversations = ifIntact(() => vault.listConversations());
  const damagedConversations: string[] = [];
  for (const c of conversations ?? []) {
    const each = vault.iterateMessages(c.id);
    for (;;) {
      const step = ifIntact(() => {
        for (let i = 0; i < READ_BETWEEN_TURNS; i++) if (each.next().done === true) return 'done';
        return 'more';
      });
      if (step === undefined) damagedConversations.push(c.id);
      if (step !== 'more') break;
      await nextTurn();
    }
  }
  return { messages, conversations: conversations?.length ?? null, contacts: contacts ?? null, damagedConversations };
}

/**
 * Checks `password` and reads the vault. Open here already (`open`): the password against the
 * header, then the open vault as one activity. Otherwise the vault alone is unlocked (its
 * checks, the profile lock) and locked again.
 */
export async function checkVault(profileDir: string, password: string, open: Vault | undefined, activity: <T>(fn: () => Promise<T>) => Promise<T>): Promise<VaultCheck> {
  if (open?.isUnlocked) {
    await verifyPassword(profileDir, password);
    return activity(() => readAll(open));
  }
  const vault = await Vault.unlock(profileDir, password);
  try {
    // Unlocking finished the vault's part of a deletion a crash interrupted; the messenger's
    // records of those messages (a draft, a file's sealed chunks, timers) go now too, by ids
    // alone, not at the app's next unlock (deletion-journal.ts).
    await forgetJournaledAtUnlock(vault);
    return await readAll(vault);
  } finally {
    vault.lock();
  }
}
