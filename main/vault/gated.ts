// The vault's side services wired to the gate: the sealed files (refused once locked) and the
// store the sliced deletion works through (deletion.ts). Kept out of index.ts so the facade
// only forwards.
import type { SealedFiles } from './api.ts';
import type { DeletionStore } from './deletion.ts';
import { DELETION_JOURNAL, PENDING_DELETIONS } from './deletion.ts';
import type { WriteGate } from './gate.ts';
import * as kv from './kv.ts';
import * as write from './messages/write.ts';
import type { Statements } from './prepared.ts';
import type { SealedFileStore } from './sealed-files.ts';

type Gate = WriteGate<Statements['read'], Statements['write']>;

/** The sealed files, each call refused with VaultLocked once the vault is locked. */
export function gatedSealedFiles(gate: Gate, files: SealedFileStore): SealedFiles {
  return {
    write: (name, data, key) => {
      gate.checkOpen();
      files.write(name, data, key);
    },
    writeInSteps: async (name, data, signal, key) => {
      gate.checkOpen();
      await files.writeInSteps(name, data, signal, key);
    },
    read: (name, key) => {
      gate.checkOpen();
      return files.read(name, key);
    },
    remove: (name) => {
      gate.checkOpen();
      files.remove(name);
    },
  };
}

/** The pending-deletion records in kv and the message rows, through the gate. */
export function gatedDeletionStore(gate: Gate): DeletionStore {
  const recordKeys = (): string[] => gate.read((r) => kv.kvKeys(r, PENDING_DELETIONS));
  return {
    // Without an fsync wait of its own (each held the event loop on a busy disk): the WAL's
    // checksummed frames survive a power loss only as a prefix, so a slice that survives has its
    // record before it; finish's checkpoint syncs both.
    putRecord: (key, value) => gate.relaxedDurability(() => gate.write((w) => kv.kvSet(w, PENDING_DELETIONS, key, value))),
    putJournal: (key, value) => gate.write((w) => kv.kvSet(w, DELETION_JOURNAL, key, value)),
    records: () =>
      recordKeys().flatMap((key) => {
        const value = gate.read((r) => kv.kvGet(r, PENDING_DELETIONS, key));
        return value ? [{ key, value }] : [];
      }),
    rowsOf: (conversationId, ids) =>
      gate.read((r) =>
        ids.flatMap((id) => {
          const row = r.read.messages.messageById.get(id);
          return row && row.conversation_id === conversationId ? [row] : [];
        }),
      ),
    idsAfter: (conversationId, after, limit) =>
      gate.read((r) => r.read.messages.chunkRowsNoState.all(conversationId, after, limit).map(([id, orderKey]) => ({ id, orderKey }))),
    // No fsync per slice (the wait blocked the event loop for tens of ms on a busy disk).
    removeSlice: (rows, inSlice, afterRemoval) =>
      gate.relaxedDurability(() =>
        gate.transaction(() => {
          inSlice?.();
          const stats = gate.write((w) => write.removeRows(w, rows));
          afterRemoval?.(stats);
          return stats;
        }),
      ),
    finish: (key) => {
      gate.relaxedDurability(() => gate.write((w) => kv.kvDelete(w, PENDING_DELETIONS, key)));
      gate.checkpoint();
    },
  };
}
