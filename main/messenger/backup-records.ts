// What a backup needs from the messenger's sealed records: a message under a disappearing timer
// (counting down, expired, or not shown yet) is never exported, since a backup written before
// it expires would keep it for good; a message deleted for everyone is exported as a tombstone
// line, and imported as one (docs/backup-format.md).
import type { Vault } from '../vault/index.ts';
import { TOMBSTONES } from './delete-for-everyone.ts';
import { MESSAGE_TIMERS } from './ids.ts';

/**
 * ExportOptions.messageStatus: sets built once (one lookup per exported message); `tombstones`
 * tells the export, before its header, that the file may hold a tombstone line (version 3 then).
 */
export function backupMessageStatus(vault: Vault): ((messageId: string) => 'gone' | 'deleted' | undefined) & { tombstones: number } {
  const gone = new Set(vault.kvKeys(MESSAGE_TIMERS));
  const deleted = new Set(vault.kvKeys(TOMBSTONES));
  const status = (id: string): 'gone' | 'deleted' | undefined => (gone.has(id) ? 'gone' : deleted.has(id) ? 'deleted' : undefined);
  return Object.assign(status, { tombstones: [...deleted].filter((id) => !gone.has(id)).length });
}

/** ImportOptions.markTombstones: the imported messages are tombstones here too (shown as deleted, never quoted). */
export function markImportedTombstones(vault: Vault): (messageIds: readonly string[]) => void {
  return (ids) => {
    for (const id of ids) vault.kvSet(TOMBSTONES, id, Buffer.from('1'));
  };
}
