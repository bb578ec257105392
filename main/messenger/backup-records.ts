// What a backup needs from the messenger's sealed records: an expired message (its timer ran
// out, its deletion not done yet) is never exported; a message deleted for everyone is
// exported as a tombstone line, and imported as one (docs/backup-format.md).
import type { Vault } from '../vault/index.ts';
import { TOMBSTONES } from './delete-for-everyone.ts';
import { loadExpiring } from './expiry.ts';

/** ExportOptions.messageStatus as of `now`: sets built once (one lookup per exported message). */
export function backupMessageStatus(vault: Vault, now: number): (messageId: string) => 'gone' | 'deleted' | undefined {
  const gone = new Set(loadExpiring(vault).filter((e) => e.expiresAt <= now).map((e) => e.id));
  const deleted = new Set(vault.kvKeys(TOMBSTONES));
  return (id) => (gone.has(id) ? 'gone' : deleted.has(id) ? 'deleted' : undefined);
}

/** ImportOptions.markTombstones: the imported messages are tombstones here too (shown as deleted, never quoted). */
export function markImportedTombstones(vault: Vault): (messageIds: readonly string[]) => void {
  return (ids) => {
    for (const id of ids) vault.kvSet(TOMBSTONES, id, Buffer.from('1'));
  };
}
