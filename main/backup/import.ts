// Import: verify the whole file (age header MAC, every chunk, the final chunk, every line,
// the end line) without touching the vault; then decrypt it again and merge it in one
// vault transaction that does not block the event loop (Vault.longTransaction). Merging is
// idempotent: existing contacts, conversations and messages (by id) are kept as they are, so
// importing the same file twice adds nothing.
import type { NewMessage, VaultHandle } from '../vault/api.ts';
import { BackupCancelled, BackupError, BackupIoError, isFsError } from './errors.ts';
import { lineToContact, lineToConversation, lineToMessage, type BackupCounts, type HeaderLine } from './format.ts';
import { throwIfAborted, yieldAndCheck, type ProgressListener } from './progress.ts';
import { openBackupFile, records, scanRecords, type ReadOptions } from './read.ts';
import type { BackupRecord } from './stream.ts';

export interface ImportOptions extends ReadOptions {
  /** Restore account secrets found in the backup, never overwriting ones the profile has. */
  restoreIdentity?: boolean;
  onProgress?: ProgressListener;
}

export interface ImportResult {
  header: HeaderLine;
  /** What the file holds. */
  inFile: BackupCounts;
  /** What this import added to the profile. */
  added: BackupCounts;
  /** Account secrets present in the file but not restored (not asked for, or the profile has its own). */
  secretsSkipped: string[];
}

/** Messages per write step; the event loop runs between steps (~10-20 ms each here). */
const APPEND_BATCH = 2000;

export async function importBackup(vault: VaultHandle, path: string, options: ImportOptions): Promise<ImportResult> {
  throwIfAborted(options.signal);
  const file = await openBackupFile(path, options);
  try {
    // Pass 1: nothing is written until the whole file has checked out.
    const { header, counts: inFile } = await scanRecords(file, 'verify', options);
    throwIfAborted(options.signal);

    // Pass 2: the same bytes again (re-authenticated chunk by chunk), applied in one vault
    // transaction that yields to the event loop between batches (progress, cancel, the rest of
    // the app). If the file changed in between, a chunk fails authentication; a failure, a
    // cancel or a lock rolls everything back.
    const total = inFile.messages;
    options.onProgress?.({ phase: 'apply', done: 0, total });
    let result: Pick<ImportResult, 'added' | 'secretsSkipped'>;
    try {
      result = await vault.longTransaction(
        (write) => applyRecords(vault, write, records(file), options.restoreIdentity === true, options.signal, (done) => options.onProgress?.({ phase: 'apply', done, total })),
        options.signal ? { signal: options.signal } : {},
      );
    } catch (err) {
      // Cancelled while the merge waited for the app's running activities (sends, receipts).
      if (options.signal?.aborted && !(err instanceof BackupError)) throw new BackupCancelled();
      throw err;
    }
    options.onProgress?.({ phase: 'apply', done: total, total });
    return { header, inFile, ...result };
  } catch (err) {
    // File-system failures become BackupIoError; vault errors (VaultError) and ours pass through.
    if (isFsError(err)) throw new BackupIoError(`Import failed: ${err.message}`, { cause: err });
    throw err;
  } finally {
    file.close();
  }
}

async function applyRecords(
  vault: VaultHandle,
  write: <R>(fn: () => R) => R,
  input: Iterable<BackupRecord>,
  restoreIdentity: boolean,
  signal: AbortSignal | undefined,
  progress: (done: number) => void,
): Promise<Pick<ImportResult, 'added' | 'secretsSkipped'>> {
  const added = { contacts: 0, conversations: 0, messages: 0, secrets: 0 };
  const secretsSkipped: string[] = [];
  const messagesBefore = vault.countMessages();
  let batch: NewMessage[] = [];
  let done = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const b = batch;
    batch = [];
    write(() => vault.appendMessages(b));
    done += b.length;
    progress(done);
    await yieldAndCheck(signal);
  };
  for (const r of input) {
    switch (r.kind) {
      case 'account-secret': {
        if (!restoreIdentity || vault.getAccountSecret(r.line.name) !== undefined) {
          secretsSkipped.push(r.line.name);
          break;
        }
        const value = new Uint8Array(Buffer.from(r.line.value, 'base64'));
        write(() => vault.setAccountSecret(r.line.name, value));
        value.fill(0);
        added.secrets++;
        break;
      }
      case 'contact':
        if (!vault.getContact(r.line.id)) {
          write(() => vault.upsertContact(lineToContact(r.line)));
          added.contacts++;
        }
        break;
      case 'conversation': {
        const existing = vault.getConversation(r.line.id);
        if (!existing) {
          write(() => vault.upsertConversation(lineToConversation(r.line)));
          added.conversations++;
        } else if (r.line.lastActivity > existing.lastActivity) {
          write(() => vault.upsertConversation({ ...existing, lastActivity: r.line.lastActivity }));
        }
        break;
      }
      case 'message':
        batch.push(lineToMessage(r.line));
        if (batch.length === APPEND_BATCH) await flush();
        break;
      case 'header':
      case 'end':
        break;
    }
  }
  await flush();
  added.messages = vault.countMessages() - messagesBefore;
  return { added, secretsSkipped };
}
