// The contract's backup methods around the backup jobs (messenger/backups.ts): the steps before
// an export (weak passphrase refused, counters written) and after an import (identity keys
// reconciled, the history indexed, conversations announced), a restore into a profile without a
// vault (checked, then created and imported), and search in an opened backup.
import { ApiError, type EphemeraApi, type ImportSummary, type ParamsOf, type SearchResult } from '../../shared/api.ts';
import type { BackupJobs, ImportParams } from './backups.ts';
import { reconcileIdentityKeys } from './contacts.ts';
import type { ConversationCounters } from './counters.ts';
import { refuseWeakSecret } from './errors.ts';
import type { SessionAccess } from './session.ts';
import type { ApiCall } from './session-lifecycle.ts';

export type BackupMethods = Pick<
  EphemeraApi,
  'backupExport' | 'backupImport' | 'backupRestore' | 'backupOpen' | 'backupContacts' | 'backupGroups' | 'backupGroupHistory' | 'backupChooseFile' | 'backupClose' | 'backupCancel'
>;

export interface BackupCallParts {
  call: ApiCall;
  access: SessionAccess;
  backups: BackupJobs;
  counters: Pick<ConversationCounters, 'flush' | 'announce'>;
  /** Accept a backup passphrase the strength policy calls weak (tests only). */
  allowWeakSecrets: boolean;
  /** backupRestore asks whether the profile has a vault, then creates it as createVault does. */
  vault: Pick<EphemeraApi, 'vaultStatus' | 'createVault'>;
}

export function backupMethods({ call, access, backups, counters, allowWeakSecrets, vault: vaults }: BackupCallParts): BackupMethods {
  const importInto = async (params: ImportParams): Promise<ImportSummary> => {
    const result = await backups.import(access.require().vault, params);
    // Committed: what follows only announces it, and a lock meanwhile does not undo it (the
    // next unlock replays the change feed into the search index).
    try {
      // Imported contacts name the key the identity store trusts, if it knows one (no-op
      // when locked or unregistered).
      const session = access.current();
      const e2e = session?.registration?.e2e;
      if (e2e && session.vault.isUnlocked) reconcileIdentityKeys(session.vault, e2e);
      // A whole history may have arrived: index it in steps, not in one blocking pass.
      await access.current()?.search.catchUpInSteps();
      const vault = access.current()?.vault;
      if (vault?.isUnlocked) for (const c of vault.listConversations()) counters.announce(c.id);
    } catch {
      // locked meanwhile
    }
    return result;
  };
  return {
    // One vault activity: an import's merge never runs while it reads (it would see rows that
    // might still be rolled back).
    backupExport: (params) =>
      call(() =>
        access.activity(async () => {
          const vault = access.require().vault;
          if (params.protection.kind === 'passphrase') refuseWeakSecret(params.protection.passphrase, 'backup passphrase', allowWeakSecrets);
          counters.flush();
          return backups.export(vault, params);
        }),
      ),
    backupImport: (params) => call(() => importInto(params)),
    // Nothing is created until the whole file and its signer are checked; the import then reads
    // the file again (its own pass 1), so a file changed in between is refused as well.
    backupRestore: ({ password, ...params }) =>
      call(async () => {
        if ((await vaults.vaultStatus()).vault !== 'none') throw new ApiError('VAULT_EXISTS', 'This profile has a vault already: import the backup into it.');
        refuseWeakSecret(password, 'password', allowWeakSecrets);
        await backups.verifyForRestore(params);
        const { recoveryPhrase } = await vaults.createVault({ password });
        return { ...(await importInto(params)), recoveryPhrase };
      }),
    // Works without an unlocked vault: a backup can be browsed on a machine with no account.
    backupOpen: (params) => call(() => backups.open(params)),
    backupContacts: (params) => call(() => backups.contacts(params.backupId, params.name)),
    backupGroups: (params) => call(() => backups.groups(params.backupId)),
    backupGroupHistory: (params) => call(() => backups.groupHistory(params.backupId, params.groupId, params.anchor, params.limit)),
    // The messenger has no file dialog: the Electron shell answers this around it
    // (main/backup-files.ts with main/app/file-dialogs.ts); browser mode and the CLI have none.
    backupChooseFile: () => Promise.reject(new ApiError('NOT_AVAILABLE', 'There is no file dialog here: give the file name instead.')),
    backupClose: (params) => call(() => backups.close(params.backupId)),
    backupCancel: (params) => call(() => ({ cancelled: backups.cancel(params.jobId) })),
  };
}

/** A search in an opened backup (the `backupId` branch of the contract's search). */
export function searchOpenedBackup(backups: BackupJobs, backupId: string, params: ParamsOf<'search'>): SearchResult {
  return backups.search(backupId, {
    query: params.query,
    limit: params.limit,
    ...(params.conversationId !== undefined ? { conversationId: params.conversationId } : {}),
    ...(params.from !== undefined ? { from: params.from } : {}),
    ...(params.to !== undefined ? { to: params.to } : {}),
  });
}
